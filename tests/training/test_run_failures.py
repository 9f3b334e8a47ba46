"""Lost work and hard failures of the training runtime: kills during the
final export, damaged checkpoints, non-finite losses, what a checkpoint
holds, and bad flag values."""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import safetensors.numpy
from keras_hub.models import BertBackbone
from keras_hub.models import BertTokenizer

from keras_adapters.models.artifact import file_sha256
from keras_adapters.training import classifier_run
from keras_adapters.training.callbacks import NonFiniteLossError
from keras_adapters.training.callbacks import StepCheckpoint
from keras_adapters.training.callbacks import read_step_log
from keras_adapters.training.checkpoints import WEIGHTS
from keras_adapters.training.checkpoints import CheckpointError
from keras_adapters.training.checkpoints import CheckpointFolder
from keras_adapters.training.classifier_run import ClassifierRun
from keras_adapters.training.classifier_run import ClassifierRunConfig
from keras_adapters.training.run_settings import RunSettingsError
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB
from tests.training.test_run_classifier import checkpoint_step
from tests.training.test_run_classifier import make_cola
from tests.training.test_run_classifier import read_results
from tests.training.test_run_classifier import run_script

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def save_preset(path, seed):
    import keras

    keras.utils.set_random_seed(seed)
    BertBackbone(**TINY_CONFIG).save_to_preset(path)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(path)
    return path


def run_files(root, preset_seed, data_seed):
    """A tiny preset and a 32-row CoLA folder under `root`, for runs."""
    data_dir = str(root / "CoLA")
    make_cola(data_dir, np.random.default_rng(data_seed), train=32)
    return {
        "preset": save_preset(str(root / "preset"), seed=preset_seed),
        "data": data_dir,
    }


def tiny_run_flags(files, output_dir, *extra):
    """run_classifier.py's flags for the tiny preset and CoLA folder of
    `run_files`: 4 training steps per epoch."""
    return [
        "--task=cola",
        f"--data_dir={files['data']}",
        f"--preset={files['preset']}",
        f"--output_dir={output_dir}",
        "--max_seq_length=16",
        "--train_batch_size=8",
        "--adapter_size=4",
        *extra,
    ]


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    return save_preset(str(tmp_path_factory.mktemp("preset")), seed=1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("glue") / "CoLA")
    make_cola(path, np.random.default_rng(7), train=32)
    return path


def make_config(output_dir, preset, data_dir, **overrides):
    fields = dict(
        task_name="cola",
        data_dir=data_dir,
        output_dir=str(output_dir),
        preset=preset,
        max_seq_length=16,
        train_batch_size=8,
        num_train_epochs=2,
        save_checkpoints_steps=3,
        do_train=True,
        do_eval=True,
        verbose=0,
        adapter_size=4,
        learning_rate=1e-3,
    )
    fields.update(overrides)
    return ClassifierRunConfig(**fields)


def one_epoch_config(output_dir, preset, data_dir, **overrides):
    """4 training steps (checkpoints at steps 3 and 4) at the default
    learning rate of --tuning=adapters, in float32."""
    fields = dict(
        num_train_epochs=1,
        learning_rate=None,
        mixed_precision="fp32",
        verbose=1,
        do_export=False,  # No test reads its SavedModel.
    )
    fields.update(overrides)
    return make_config(output_dir, preset, data_dir, **fields)


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, tiny_preset, data_dir):
    """One run of `one_epoch_config`, which several tests read: its folder
    (tests that change it take a copy, see `copy_of`), the `ClassifierRun`,
    its results and what it printed."""
    output_dir = tmp_path_factory.mktemp("one_epoch") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = ClassifierRun(one_epoch_config(output_dir, tiny_preset, data_dir))
        results = run.run()
    return dict(
        dir=output_dir, run=run, results=results, printed=printed.getvalue()
    )


def copy_of(one_epoch, tmp_path):
    """A copy of the shared one-epoch run folder, to change."""
    out = tmp_path / "out"
    shutil.copytree(one_epoch["dir"], out)
    return out


def checkpoint_folders(output_dir):
    folder = os.path.join(output_dir, "checkpoint")
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.startswith("step-")
    )


class Killed(Exception):
    pass


def run_until_killed(config, after_checkpoint):
    """Runs `config` until its checkpoint of step `after_checkpoint` is
    written, then kills it."""
    original = StepCheckpoint.save

    def save_then_die(self, step):
        original(self, step)
        if step == after_checkpoint:
            raise Killed(step)

    with mock.patch.object(StepCheckpoint, "save", save_then_die):
        with pytest.raises(Killed):
            ClassifierRun(config).run()


@pytest.mark.parametrize("output", ["export", "adapters"])
def test_a_kill_during_the_final_export_is_repaired_by_the_rerun(
    tmp_path, tiny_preset, data_dir, capsys, output
):
    out = tmp_path / "out"
    # Each writer dies inside its real code, halfway through its files.
    inner = {
        "export": "keras_adapters.export.tf.saved_model.save",
        "adapters": "keras_adapters.artifacts.save_safetensors",
    }[output]

    def write_half_then_die(*args, **kwargs):
        raise Killed()

    with mock.patch(inner, write_half_then_die):
        with pytest.raises(Killed):
            ClassifierRun(make_config(out, tiny_preset, data_dir)).run()
    assert not os.path.exists(out / output)  # Only the `.partial` name.
    assert os.path.isdir(out / f"{output}.partial")
    assert checkpoint_step(out) == 8
    capsys.readouterr()
    target = {
        "export": "keras_adapters.training.classifier_run.export_saved_model",
        "adapters": "keras_adapters.training.classifier_run.save_adapters",
    }[output]
    real = getattr(classifier_run, target.rsplit(".", 1)[1])
    with mock.patch(target, side_effect=real) as writer:
        ClassifierRun(make_config(out, tiny_preset, data_dir)).run()
    assert writer.call_count == 1
    assert f"Wrote the missing {out / output}." in capsys.readouterr().out
    assert os.path.isfile(out / "export" / "saved_model.pb")
    assert os.path.isfile(out / "adapters" / "adapter_config.json")
    assert not any(name.endswith(".partial") for name in os.listdir(out))
    # Complete outputs are left alone by a further rerun.
    with mock.patch(target, side_effect=real) as writer:
        ClassifierRun(make_config(out, tiny_preset, data_dir)).run()
    assert writer.call_count == 0


def test_a_damaged_checkpoint_is_skipped_or_refused(
    tmp_path, tiny_preset, data_dir, capsys
):
    out = tmp_path / "out"
    config = make_config(
        out, tiny_preset, data_dir, num_train_epochs=3, do_export=False
    )  # 12 steps.

    run_until_killed(config, after_checkpoint=6)
    older, newer = checkpoint_folders(out)
    assert newer.endswith("step-00000006") and older.endswith("step-00000003")
    # 1 KB of the newest weights overwritten, as a disk fault would.
    with open(os.path.join(newer, WEIGHTS), "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x7f" * 1024)
    capsys.readouterr()
    run = ClassifierRun(config)
    results = run.run()
    printed = capsys.readouterr().out
    assert f"Skipping the damaged checkpoint {newer}" in printed
    assert "Resuming at step 3 of 12." in printed
    assert results["global_step"] == 12 and np.isfinite(results["eval_loss"])
    # With every checkpoint damaged: one line naming it, no training.
    for folder in checkpoint_folders(out):
        with open(os.path.join(folder, WEIGHTS), "r+b") as handle:
            handle.truncate(100)
    with pytest.raises(
        CheckpointError,
        match="is damaged: trained.safetensors does not match its checksum",
    ) as info:
        ClassifierRun(config).run()
    assert len(str(info.value).splitlines()) == 1


def test_an_unreadable_state_file_is_a_damaged_checkpoint(tmp_path, one_epoch):
    out = copy_of(one_epoch, tmp_path)
    (folder,) = [f for f in checkpoint_folders(out) if f.endswith("4")]
    open(os.path.join(folder, "state.json"), "w").close()
    state, damaged = CheckpointFolder(str(out / "checkpoint"), {}).latest()
    assert state.step == 3
    assert (
        damaged[0][0] == folder and "state.json is unreadable" in damaged[0][1]
    )


def test_training_stops_at_the_first_non_finite_loss(
    tmp_path, tiny_preset, data_dir
):
    out = tmp_path / "out"
    config = make_config(
        out, tiny_preset, data_dir, num_train_epochs=1
    )  # 4 steps.

    run_until_killed(config, after_checkpoint=3)
    # A checkpoint whose checksum holds but whose head is NaN.
    folder = CheckpointFolder(str(out / "checkpoint"), {})
    (path,) = checkpoint_folders(out)
    arrays = safetensors.numpy.load_file(os.path.join(path, WEIGHTS))
    head = [
        k
        for k in arrays
        if k.startswith("trained/") and "logits" in k and "kernel" in k
    ]
    arrays[head[0]] = np.full_like(arrays[head[0]], np.nan)
    safetensors.numpy.save_file(arrays, os.path.join(path, WEIGHTS))
    state_path = os.path.join(path, "state.json")
    state = json.load(open(state_path))
    state["weights_sha256"] = file_sha256(os.path.join(path, WEIGHTS))
    json.dump(state, open(state_path, "w"))
    with pytest.raises(
        NonFiniteLossError,
        match="The training loss became nan at step 4; nothing of this step "
        "was saved",
    ):
        ClassifierRun(config).run()
    assert folder.steps() == [3]  # No NaN checkpoint, no export.
    assert not os.path.exists(out / "export") and not os.path.exists(
        out / "adapters"
    )


def test_adapter_checkpoints_hold_what_trains_not_the_frozen_base(one_epoch):
    out, run = one_epoch["dir"], one_epoch["run"]
    (path,) = [f for f in checkpoint_folders(out) if f.endswith("4")]
    arrays = safetensors.numpy.load_file(os.path.join(path, WEIGHTS))
    trained = {k[len("trained/") :] for k in arrays if k.startswith("trained/")}
    assert trained == {v.path for v in run.model.trainable_weights}
    frozen = {v.path for v in run.model.non_trainable_weights}
    assert frozen and not frozen & trained
    optimizer = [k for k in arrays if k.startswith("optimizer/")]
    assert len(optimizer) == len(run.model.optimizer.variables)
    stored = sum(a.size for a in arrays.values())
    assert stored < 0.5 * sum(np.prod(v.shape) for v in run.model.weights)


def test_resuming_with_other_settings_or_base_says_what_differs(
    tmp_path, tiny_preset, data_dir, one_epoch
):
    out = copy_of(one_epoch, tmp_path)
    other_size = one_epoch_config(out, tiny_preset, data_dir, adapter_size=8)
    with pytest.raises(
        RunSettingsError, match=r"\(`adapter_size`=4 there, 8 now\)"
    ):
        ClassifierRun(other_size).run()
    other_base = save_preset(str(tmp_path / "other_preset"), seed=2)
    with pytest.raises(RunSettingsError, match=r"`preset`=.*preset.* there"):
        ClassifierRun(one_epoch_config(out, other_base, data_dir)).run()
    # Without the settings file, the checkpoints still refuse.
    os.remove(out / "run_settings.json")
    with pytest.raises(CheckpointError, match=r"adapter_size=4 there, 8 now"):
        ClassifierRun(other_size).run()
    os.remove(out / "run_settings.json")
    with pytest.raises(CheckpointError, match="trained on other base weights"):
        ClassifierRun(one_epoch_config(out, other_base, data_dir)).run()


def test_a_checkpoint_is_committed_whole_or_not_at_all(tmp_path, one_epoch):
    out = copy_of(one_epoch, tmp_path)
    # A kill between writing the files and the rename leaves a `.partial`.
    partial = out / "checkpoint" / "step-00000009.partial"
    os.makedirs(partial)
    (partial / "state.json").write_text('{"step": 9}')
    assert CheckpointFolder(str(out / "checkpoint"), {}).steps() == [4, 3]


def test_eval_without_a_checkpoint_says_the_model_is_untrained(
    tmp_path, tiny_preset, data_dir, capsys
):
    out = tmp_path / "out"
    results = ClassifierRun(
        make_config(out, tiny_preset, data_dir, do_train=False)
    ).run()
    assert (
        "these results are those of the untrained model"
        in capsys.readouterr().out
    )
    assert results["global_step"] == 0
    assert results["note"] == "untrained model: no checkpoint was found"
    assert (
        "note = untrained model: no checkpoint was found"
        in open(out / "eval_results.txt").read()
    )


def test_eval_results_keep_the_original_accuracy_beside_the_task_metric(
    one_epoch,
):
    out, results = one_epoch["dir"], one_epoch["results"]
    assert {"eval_mcc", "eval_accuracy", "eval_loss", "global_step"} <= set(
        results
    )
    assert read_results(str(out))["eval_accuracy"] == results["eval_accuracy"]


def test_the_learning_rate_defaults_to_the_tuning_modes(one_epoch):
    assert ClassifierRunConfig(task_name="cola").learning_rate == 3e-4
    assert (
        ClassifierRunConfig(task_name="cola", tuning="layer_norm").learning_rate
        == 3e-4
    )
    assert (
        ClassifierRunConfig(task_name="cola", tuning="full").learning_rate
        == 5e-5
    )
    assert (
        ClassifierRunConfig(
            task_name="cola", tuning="top_k", top_k_layers=1
        ).learning_rate
        == 5e-5
    )
    assert (
        ClassifierRunConfig(task_name="cola", learning_rate=1e-3).learning_rate
        == 1e-3
    )
    # The shared run leaves --learning_rate unset.
    assert one_epoch["run"].config.learning_rate == 3e-4
    assert (
        "Learning rate 0.0003 (the default of --tuning=adapters)."
        in one_epoch["printed"]
    )
    optimizer = one_epoch["run"].model.optimizer
    schedule = optimizer.get_config()["learning_rate"]["config"]
    assert schedule["initial_learning_rate"] == 3e-4


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--max_seq_length=0"],
            "--max_seq_length=0 leaves no room for the text: CoLA needs at "
            "least 3",
        ),
        (
            ["--max_seq_length=2"],
            "--max_seq_length=2 leaves no room for the text",
        ),
        (
            ["--train_batch_size=0"],
            "--train_batch_size must be positive, got 0",
        ),
        (["--eval_batch_size=0"], "--eval_batch_size must be positive, got 0"),
        (
            ["--predict_batch_size=0"],
            "--predict_batch_size must be positive, got 0",
        ),
        (
            ["--save_checkpoints_steps=0"],
            "--save_checkpoints_steps must be positive, got 0",
        ),
        (["--learning_rate=0"], "--learning_rate must be positive, got 0.0"),
        (
            ["--learning_rate=-1e-3"],
            "--learning_rate must be positive, got -0.001",
        ),
        (
            ["--num_train_epochs=0"],
            "--num_train_epochs must be positive, got 0.0",
        ),
        (
            ["--train_batch_size=128"],
            "32 training examples over 3 epochs make no full batch of 128: "
            "give more training data",
        ),
        (
            ["--output_dir=/proc/cannot/create"],
            "--output_dir=/proc/cannot/create cannot be created",
        ),
    ],
)
def test_bad_values_exit_2_with_one_line(
    tmp_path, tiny_preset, data_dir, capsys, flags, message
):
    argv = [
        "--task=cola",
        "--do_train",
        f"--data_dir={data_dir}",
        f"--preset={tiny_preset}",
        f"--output_dir={tmp_path / 'out'}",
        "--max_seq_length=16",
    ] + flags
    code, err = run_script(argv, capsys)
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err


def test_an_empty_train_file_says_so(tmp_path, tiny_preset, capsys):
    data_dir = str(tmp_path / "CoLA")
    make_cola(data_dir, np.random.default_rng(0))
    open(os.path.join(data_dir, "train.tsv"), "w").close()
    argv = [
        "--task=cola",
        "--do_train",
        f"--data_dir={data_dir}",
        f"--preset={tiny_preset}",
        f"--output_dir={tmp_path / 'out'}",
        "--max_seq_length=16",
    ]
    code, err = run_script(argv, capsys)
    assert (
        code == 2
        and "0 training examples over 3 epochs make no full batch of 32" in err
    ), err


def run_process(*argv, env=None):
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        env=env,
    )


def test_an_error_is_one_line_without_tensorflow_start_up_logs():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = run_process("run_classifier.py", "--task=nope", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "run_classifier.py: error: Unknown task 'nope'. Choose one of: CoLA, "
        "SST-2, MRPC, "
        "STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX."
    ]


@pytest.mark.parametrize(
    "backend, jax_loaded", [("tensorflow", False), ("jax", True)]
)
def test_commands_keep_jax_out_of_tensorflow_runs(
    tmp_path, backend, jax_loaded
):
    """TensorFlow imports JAX when it is installed (~120 MiB); a command's
    start-up keeps it out where the backend is TensorFlow."""
    pytest.importorskip("jax")
    # A process started as a command (by its script's name).
    script = tmp_path / "run_classifier.py"
    script.write_text(
        "import sys, keras_adapters\n"
        "print(sys.modules.get('jax') is not None)\n"
    )
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = run_process(str(script), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [str(jax_loaded)]


@pytest.mark.parametrize("script", ["run_classifier.py", "run_squad.py"])
def test_help_lists_every_flag_and_no_development_path(script):
    result = run_process(script, "--help")
    listed = set(
        re.findall(r"^  --(?:\[no\])?(\w+):", result.stdout, re.MULTILINE)
    )
    assert {
        "adapter_size",
        "learning_rate",
        "tuning",
        "train_batch_size",
        "predict_batch_size",
        "save_checkpoints_steps",
        "use_tpu",
        "tpu_name",
        "preset",
        "output_dir",
        "do_train",
        "init_checkpoint",
        "max_seq_length",
    } <= listed
    assert "../shared" not in result.stdout


def test_mixed_precision_applies_to_its_run_only(
    tmp_path, tiny_preset, data_dir
):
    import keras

    runs = {}
    for precision in ("bf16", "fp32"):
        runs[precision] = ClassifierRun(
            make_config(
                tmp_path / str(precision),
                tiny_preset,
                data_dir,
                num_train_epochs=1,
                mixed_precision=precision,
                # The float32 export is every other run's.
                do_export=precision == "bf16",
            )
        )
        runs[precision].run()
        assert np.isfinite(losses_of(tmp_path / str(precision))).all()
    assert os.path.isfile(tmp_path / "bf16" / "export" / "saved_model.pb")
    bf16 = runs["bf16"].model.backbone
    assert bf16.dtype_policy.compute_dtype == "bfloat16"
    adapter = bf16.transformer_layers[0]._self_attention_adapter
    assert adapter.compute_dtype == "float32"  # Adapters stay float32.
    # The next run in the same process is float32 again.
    assert runs["fp32"].model.backbone.dtype_policy.name == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"


def losses_of(output_dir):
    return read_step_log(os.path.join(output_dir, "train_log.tsv"))[1]
