"""Fault injection: the scripts killed at each phase, and each file the
project reads back damaged.

Every case ends with a rerun of the same command that either completes
with outputs equal to an uninterrupted run (adapters, SavedModel, results,
training log: each step once, no debris), or stops with a one-line
refusal; never with damaged data reused in silence.

Kills are real SIGKILLs at named points inside the library
(`tests/fault_runner.py`), in subprocesses; the reruns after a kill and
the reads of damaged files are the scripts run in this process.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from keras_adapters.artifacts import ArtifactError
from keras_adapters.models.artifact import Artifact
from keras_adapters.training.callbacks import read_step_log
from keras_adapters.training.checkpoints import STATE
from keras_adapters.training.checkpoints import WEIGHTS
from keras_adapters.training.prefix_cache import HIDDEN_STATES
from keras_adapters.training.prefix_cache import KEY
from tests.training.once import once
from tests.training.test_run_classifier import REPO_ROOT
from tests.training.test_run_classifier import run_classifier
from tests.training.test_run_failures import run_files
from tests.training.test_run_failures import tiny_run_flags

NUM_STEPS = 8  # 32 rows, batch 8, 2 epochs; checkpoints at 3, 6 and 8.
SENTENCES = ["the film was good", "a very dull plot", "i loved it"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny preset and CoLA folder, the same for every xdist worker
    (the reference run's settings name them)."""
    return once(
        tmp_path_factory, "fault_files", lambda root: run_files(root, 1, 7)
    )[1]


def classifier_flags(files, output_dir):
    """The command every case runs: each phase of a run (the prefix cache
    included), on the tiny model."""
    return tiny_run_flags(
        files,
        output_dir,
        "--num_train_epochs=2",
        "--save_checkpoints_steps=3",
        "--adapter_layers=1",
        "--freeze_below_adapters",
        "--cache_frozen_prefix",
        "--learning_rate=1e-3",
        "--mixed_precision=fp32",
    )


def run(script, flags, kill_at=None):
    """Runs a top-level script in a subprocess (killed at `kill_at`)."""
    command = [sys.executable]
    if kill_at:
        runner = os.path.join(REPO_ROOT, "tests", "fault_runner.py")
        command += [runner, kill_at]
    command += [os.path.join(REPO_ROOT, script), *flags]
    # The scripts hide TensorFlow's start-up lines themselves unless this
    # variable is set (as it is in this process, by the same code).
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=600,
    )


def run_here(flags, capsys):
    """run_classifier.py in this process: `(exit code, stdout, stderr)`."""
    run_classifier.FLAGS.unparse_flags()
    with mock.patch.object(sys, "argv", ["run_classifier.py", *flags]):
        with pytest.raises(SystemExit) as info:
            run_classifier.run()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err.strip()


def assert_killed(done):
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def assert_ok(done):
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def serve(export_dir):
    signature = tf.saved_model.load(str(export_dir)).signatures[
        "serving_default"
    ]
    return signature(sentence=tf.constant(SENTENCES))["probabilities"].numpy()


def debris(folder):
    return [
        os.path.join(root, name)
        for root, folders, names in os.walk(folder)
        for name in folders + names
        if name.endswith((".partial", ".replaced"))
    ]


@pytest.fixture(scope="module")
def reference(files, tmp_path_factory):
    """An uninterrupted run: what every repaired run must equal (run once
    for all xdist workers)."""

    def make(folder):
        flags = classifier_flags(files, folder / "run")
        assert_ok(run("run_classifier.py", flags))

    output_dir = once(tmp_path_factory, "fault_reference", make)[0] / "run"
    weights = Artifact.read(str(output_dir / "adapters")).weights
    with open(output_dir / "eval_results.json") as handle:
        results = json.load(handle)
    return {
        "dir": output_dir,
        "adapters": weights,
        "results": results,
        "served": serve(output_dir / "export"),
    }


def assert_complete_and_consistent(output_dir, reference):
    """Every output present, whole, and equal to the uninterrupted run's."""
    assert debris(output_dir) == []
    steps, _ = read_step_log(output_dir / "train_log.tsv")
    assert steps == list(range(1, NUM_STEPS + 1))
    weights = Artifact.read(
        str(output_dir / "adapters")
    ).weights  # Checksummed.
    assert set(weights) == set(reference["adapters"])
    for path, value in weights.items():
        np.testing.assert_allclose(
            value, reference["adapters"][path], rtol=0, atol=1e-6
        )
    np.testing.assert_allclose(
        serve(output_dir / "export"), reference["served"], atol=1e-6
    )
    with open(output_dir / "eval_results.json") as handle:
        results = json.load(handle)
    assert results["global_step"] == NUM_STEPS
    for key, value in reference["results"].items():
        assert results[key] == pytest.approx(value, abs=1e-5), key


# (where the run is killed, what the rerun must say)
KILLS = [
    ("cache_build", "Built the prefix cache"),
    ("training", "Resuming at step 3 of 8."),
    ("checkpoint_commit", "Resuming at step 3 of 8."),
    ("artifact_write", "Wrote the missing"),
    ("export", "Wrote the missing"),
]


@pytest.mark.parametrize("kill_at, rerun_says", KILLS)
def test_a_run_killed_at_each_phase_completes_on_rerun(
    tmp_path, files, reference, capsys, kill_at, rerun_says
):
    output_dir = tmp_path / "run"
    flags = classifier_flags(files, output_dir)
    assert_killed(run("run_classifier.py", flags, kill_at=kill_at))
    # The same command again, in this process (no second start-up).
    code, printed, err = run_here(flags, capsys)
    assert code is None, err[-3000:]  # Success.
    assert rerun_says in printed
    assert_complete_and_consistent(output_dir, reference)


def multitask_flags(files, reference, export_dir):
    return [
        f"--base={files['preset']}",
        f"--task=cola={reference['dir'] / 'adapters'}",
        f"--task=again={reference['dir'] / 'adapters'}",
        f"--export_dir={export_dir}",
    ]


@pytest.fixture(scope="module")
def multitask_export(files, reference, tmp_path_factory):
    """A whole multi-task SavedModel of the reference adapters, written by
    `export_multitask.py`: each killed export starts from a copy of it."""

    def make(folder):
        flags = multitask_flags(files, reference, folder / "served")
        assert_ok(run("export_multitask.py", flags))

    return once(tmp_path_factory, "fault_multitask", make)[0] / "served"


@pytest.mark.parametrize("kill_at", ["export", "export_swap"])
def test_a_killed_multitask_export_keeps_or_completes_the_model(
    tmp_path, files, reference, multitask_export, kill_at
):
    export_dir = tmp_path / "served"
    flags = multitask_flags(files, reference, export_dir)
    shutil.copytree(multitask_export, export_dir)
    first = os.listdir(export_dir)
    assert_killed(run("export_multitask.py", flags, kill_at=kill_at))
    if kill_at == "export":
        # Killed before the swap: the earlier model is still whole.
        assert sorted(os.listdir(export_dir)) == sorted(first)
    else:
        # Killed between the renames: both copies beside the target.
        assert not os.path.exists(export_dir)
        assert len(debris(tmp_path)) == 2
    assert_ok(run("export_multitask.py", flags))
    assert debris(tmp_path) == []
    served = (
        tf.saved_model.load(str(export_dir))
        .signatures["serving_default"](
            task=tf.constant(["cola", "again", "cola"]),
            sentence=tf.constant(SENTENCES),
            sentence2=tf.constant([""] * 3),
        )["probabilities"]
        .numpy()
    )
    np.testing.assert_allclose(served, reference["served"], atol=1e-5)


@pytest.fixture
def finished(tmp_path, reference):
    """A copy of the finished reference run, to damage."""
    output_dir = tmp_path / "run"
    shutil.copytree(reference["dir"], output_dir)
    return output_dir


def checkpoint(output_dir, step):
    return output_dir / "checkpoint" / f"step-{step:08d}"


def flip_bytes(path, offset=-64):
    data = bytearray(open(path, "rb").read())
    data[offset] ^= 0xFF
    open(path, "wb").write(bytes(data))


def overwrite_in_place(path):
    """Random bytes over a file's content, same size (.npy header kept)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.seek(128)
        handle.write(np.random.default_rng(0).bytes(size - 128))


def garbage(path):
    open(path, "w").write("{ not json")


# Damage to the newest checkpoint (and the cache the resumed run reads),
# and what the rerun must say before it trains steps 7 and 8 again.
DAMAGES = [
    (
        [(f"checkpoint/step-{NUM_STEPS:08d}/{WEIGHTS}", flip_bytes)],
        [f"{WEIGHTS} does not match its checksum); using step 6."],
    ),
    (
        [(f"checkpoint/step-{NUM_STEPS:08d}/{STATE}", garbage)],
        [f"its {STATE} is unreadable", "using step 6."],
    ),
    (
        [
            (f"checkpoint/step-{NUM_STEPS:08d}/{WEIGHTS}", flip_bytes),
            (f"prefix_cache/{HIDDEN_STATES}", overwrite_in_place),
        ],
        [f"its {HIDDEN_STATES} does not match the checksum it was written"],
    ),
    (
        [
            (f"checkpoint/step-{NUM_STEPS:08d}/{STATE}", garbage),
            (f"prefix_cache/{KEY}", garbage),
        ],
        [f"its {KEY} is unreadable"],
    ),
]


@pytest.mark.parametrize("damages, rerun_says", DAMAGES)
def test_damaged_checkpoints_and_caches_are_never_reused(
    finished, files, reference, capsys, damages, rerun_says
):
    for name, damage in damages:
        damage(finished / name)
    for name in ("adapters", "export", "eval_results.json"):
        path = finished / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    code, printed, _ = run_here(classifier_flags(files, finished), capsys)
    assert code is None  # Success.
    for said in rerun_says:
        assert said in printed
    assert "Resuming at step 6 of 8." in printed
    assert_complete_and_consistent(finished, reference)


def test_every_checkpoint_damaged_is_a_one_line_refusal(
    finished, files, capsys
):
    for step in (6, NUM_STEPS):
        flip_bytes(checkpoint(finished, step) / WEIGHTS)
    before = open(finished / "eval_results.json").read()
    code, _, err = run_here(classifier_flags(files, finished), capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"The checkpoint {checkpoint(finished, NUM_STEPS)} is damaged" in err
    assert open(finished / "eval_results.json").read() == before


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda folder: garbage(folder / "run_settings.json"),
            "run_settings.json is damaged",
        ),
        (
            lambda folder: garbage(folder / ".keras_adapters.json"),
            "holds files keras_adapters did not write",
        ),
    ],
)
def test_damaged_run_records_are_one_line_refusals(
    finished, files, capsys, damage, message
):
    damage(finished)
    before = {
        name: open(finished / name, "rb").read()
        for name in ("eval_results.json", "train_log.tsv")
    }
    code, _, err = run_here(classifier_flags(files, finished), capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert message in err
    for name, content in before.items():
        assert open(finished / name, "rb").read() == content


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda folder: flip_bytes(folder / "adapter_weights.safetensors"),
            "does not match",
        ),
        (lambda folder: garbage(folder / "adapter_config.json"), "cola"),
    ],
)
def test_a_damaged_artifact_is_refused_by_the_multitask_export(
    finished, files, tmp_path, damage, message
):
    damage(finished / "adapters")
    done = run(
        "export_multitask.py",
        [
            f"--base={files['preset']}",
            f"--task=cola={finished / 'adapters'}",
            f"--export_dir={tmp_path / 'served'}",
        ],
    )
    assert done.returncode == 2
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not os.path.exists(tmp_path / "served")
    with pytest.raises(ArtifactError):
        Artifact.read(str(finished / "adapters"))
