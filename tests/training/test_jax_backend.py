"""The scripts on Keras' JAX backend: the same run, files, resume and
one-line errors as on TensorFlow, and `keras.distribution.DataParallel`
over two host devices equal to one device."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy

from keras_adapters.training.callbacks import read_step_log
from tests.training.once import once
from tests.training.test_run_failures import run_files
from tests.training.test_run_failures import tiny_run_flags
from tests.training.test_run_squad import SMALL
from tests.training.test_run_squad import squad_slice  # noqa: F401

pytest.importorskip("jax")

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny preset and CoLA folder, the same for every xdist worker."""
    return once(
        tmp_path_factory, "jax_files", lambda root: run_files(root, 3, 5)
    )[1]


def run_script(script, *argv, devices=1):
    """Runs a top-level script on the JAX backend with `devices` CPUs."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "jax"
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    # float32 on any CPU, as the in-process tests (see conftest.py).
    argv = ("--mixed_precision=fp32", *argv)
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, script), *argv],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=600,
    )


def run_classifier(output_dir, files, *flags, devices=1):
    return run_script(
        "run_classifier.py",
        *tiny_run_flags(
            files,
            output_dir,
            "--save_checkpoints_steps=3",
            "--learning_rate=1e-3",
            *flags,
        ),
        devices=devices,
    )


def losses(output_dir):
    return read_step_log(os.path.join(output_dir, "train_log.tsv"))[1]


def newest_checkpoint(output_dir):
    folder = os.path.join(output_dir, "checkpoint")
    newest = sorted(os.listdir(folder))[-1]
    return safetensors.numpy.load_file(
        os.path.join(folder, newest, "trained.safetensors")
    )


# Two epochs of training, 8 steps (checkpoints at 3, 6 and 8).
TRAIN = ("--do_train", "--num_train_epochs=2", "--adam_epsilon=1e-6")


@pytest.fixture(scope="module")
def one_device(files, tmp_path_factory):
    """`(folder, stdout)` of a run on one device that trains, evaluates,
    predicts and exports: what the runs on two devices
    (`test_two_devices_train_as_one`) and two processes
    (tests/training/test_multi_process.py) must equal. Run once for all
    xdist workers and both files."""

    def make(folder):
        result = run_classifier(
            folder / "out", files, *TRAIN, "--do_eval", "--do_predict"
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    folder, stdout = once(tmp_path_factory, "jax_one_device", make)
    return folder / "out", stdout


def test_run_classifier_on_jax_trains_and_resumes(tmp_path, files, one_device):
    """A run on one device trains, evaluates, predicts and exports; run on
    (in a copy of its folder) it resumes."""
    out, stdout = one_device
    assert "Keras backend jax, DataParallel over 1 device(s)" in stdout
    with open(out / "eval_results.json") as handle:
        results = json.load(handle)
    assert results["global_step"] == 8
    assert {"eval_mcc", "eval_accuracy", "eval_loss"} <= set(results)
    assert len(losses(out)) == 8 and np.isfinite(losses(out)).all()
    assert len(open(out / "test_results.tsv").readlines()) == 1 + 9
    for path in ("adapters/adapter_config.json", "export/saved_model.pb"):
        assert (out / path).is_file(), path

    # Three more epochs: resumes at step 8 of 20 from the checkpoint.
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    again = run_classifier(
        resumed,
        files,
        "--do_train",
        "--num_train_epochs=5",
        TRAIN[2],
        "--nodo_export",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resuming at step 8 of 20." in again.stdout
    assert list(range(1, 21)) == read_step_log(resumed / "train_log.tsv")[0]


def assert_trained_alike(output_dir, one_device):
    """The same losses and trained weights as the one-device run."""
    out, _ = one_device
    np.testing.assert_allclose(losses(output_dir), losses(out), atol=1e-5)
    one, two = newest_checkpoint(out), newest_checkpoint(output_dir)
    trained = [key for key in one if key.startswith("trained/")]
    assert trained
    for key in trained:
        np.testing.assert_allclose(two[key], one[key], atol=1e-5, err_msg=key)


def test_two_devices_train_as_one(tmp_path, files, one_device):
    """The same training with `DataParallel` over two host devices gives
    the same losses and weights as one device."""
    two_devices = tmp_path / "devices2"
    result = run_classifier(
        two_devices, files, *TRAIN, "--nodo_export", devices=2
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DataParallel over 2 device(s)" in result.stdout
    assert_trained_alike(two_devices, one_device)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task=nope"], "Unknown task 'nope'"),
        (["--max_seq_length=2"], "--max_seq_length=2 leaves no room"),
        (["--use_tpu"], "--use_tpu is set but the jax backend sees no TPU"),
    ],
)
def test_bad_input_on_jax_is_the_same_one_line(tmp_path, files, flags, message):
    result = run_classifier(tmp_path / "out", files, "--do_train", *flags)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("run_classifier.py: error: ") and message in line


def test_run_squad_on_jax_trains_predicts_scores_and_exports(
    squad_slice,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    out = tmp_path / "squad"
    result = run_script(
        "run_squad.py",
        f"--preset={squad_slice['preset']}",
        "--adapter_size=4",
        f"--output_dir={out}",
        "--do_train",
        f"--train_file={squad_slice['train']}",
        "--do_predict",
        f"--predict_file={squad_slice['predict']}",
        "--train_batch_size=8",
        "--num_train_epochs=1",
        "--learning_rate=1e-2",
        *[f"--{name}={value}" for name, value in SMALL.items()],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "eval_results.json") as handle:
        results = json.load(handle)
    assert 0 <= results["exact_match"] <= 100 and results["total"] > 0
    with open(out / "predictions.json") as handle:
        assert len(json.load(handle)) == results["total"]
    for path in ("adapters/adapter_config.json", "export/saved_model.pb"):
        assert (out / path).is_file(), path


def test_cached_prefix_on_jax_is_uncached_training_and_resumes(tmp_path, files):
    # Dropout off in the backbone: caching the prefix then changes nothing
    # but the time, so the two runs must agree, checkpoints included (on
    # JAX, `fit` holds the state of the top it trains until a callback
    # syncs it into the variables the task model shares).
    import keras
    from keras_hub.models import BertBackbone
    from keras_hub.models import BertTokenizer

    from tests.conftest import TINY_CONFIG
    from tests.conftest import TINY_VOCAB

    preset = str(tmp_path / "preset")
    keras.utils.set_random_seed(4)
    BertBackbone(**TINY_CONFIG, dropout=0.0).save_to_preset(preset)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(preset)
    no_dropout = dict(files, preset=preset)
    runs = {}
    for flag in ("--cache_frozen_prefix", "--nocache_frozen_prefix"):
        out = tmp_path / flag.strip("-")
        result = run_classifier(
            out,
            no_dropout,
            "--do_train",
            "--num_train_epochs=1",
            "--tuning=top_k",
            "--top_k_layers=1",
            "--nodo_export",
            flag,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        runs[flag] = out
    cached = runs["--cache_frozen_prefix"]
    np.testing.assert_allclose(
        losses(cached), losses(runs["--nocache_frozen_prefix"]), rtol=1e-5
    )
    one = newest_checkpoint(cached)
    two = newest_checkpoint(runs["--nocache_frozen_prefix"])
    for key in [key for key in one if key.startswith("trained/")]:
        np.testing.assert_allclose(one[key], two[key], atol=1e-6, err_msg=key)
    again = run_classifier(
        cached,
        no_dropout,
        "--do_train",
        "--num_train_epochs=2",
        "--tuning=top_k",
        "--top_k_layers=1",
        "--nodo_export",
        "--cache_frozen_prefix",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Reusing the prefix cache in {cached / 'prefix_cache'} (" in (
        again.stdout
    )
    assert "Resuming at step 4 of 8." in again.stdout
