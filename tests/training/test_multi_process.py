"""Several JAX processes train together (localhost, JAX's CPU
collectives): the same losses and trained variables as one process with as
many devices; process 0 writes every output."""

import os
import socket
import subprocess
import sys

import pytest

from tests.training.test_jax_backend import TRAIN
from tests.training.test_jax_backend import assert_trained_alike
from tests.training.test_jax_backend import files  # noqa: F401
from tests.training.test_jax_backend import one_device  # noqa: F401
from tests.training.test_run_classifier import REPO_ROOT
from tests.training.test_run_failures import tiny_run_flags

pytest.importorskip("jax")


def free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def start(paths, output_dir, *flags, devices=1):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "jax"
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return subprocess.Popen(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "run_classifier.py"),
            *tiny_run_flags(paths, output_dir),
            "--save_checkpoints_steps=3",
            "--learning_rate=1e-3",
            "--mixed_precision=fp32",
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )


def finish(process):
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return out


def test_two_processes_train_as_one_process(
    tmp_path,
    files,  # noqa: F811
    one_device,  # noqa: F811
):
    """Two processes of one device each train as the one-device run of
    tests/training/test_jax_backend.py (the same flags), which itself
    trains as one process with two devices."""
    shared = tmp_path / "shared"
    port = free_port()
    processes = [
        start(
            files,
            shared,
            *TRAIN[1:],
            f"--coordinator_address=localhost:{port}",
            "--num_processes=2",
            f"--process_id={index}",
        )
        for index in (0, 1)
    ]
    zero, one = [finish(process) for process in processes]
    assert "DataParallel over 2 device(s)" in zero
    # Process 0 evaluates and writes; process 1 only trains.
    assert "eval_mcc" in zero and "Outputs:" in zero
    assert "eval_mcc" not in one and "Outputs:" not in one
    assert_trained_alike(shared, one_device)
    for name in ("adapters", "export", "eval_results.json"):
        assert os.path.exists(shared / name), name


def test_bad_process_settings_are_one_line(tmp_path, files):  # noqa: F811
    done = start(files, tmp_path / "out", "--num_processes=2", "--process_id=1")
    _, err = done.communicate(timeout=300)
    assert done.returncode == 2
    assert err.splitlines() == [
        "run_classifier.py: error: 2 processes need --coordinator_address "
        "(host:port of process 0), or $KERAS_DISTRIBUTION_JOB_ADDRESSES."
    ]
