"""The package as a user installs it: the wheel, in a fresh virtualenv
outside the checkout, runs every command and the main job."""

import glob
import os
import subprocess
import sys

import pytest

from keras_adapters.commands import COMMANDS
from keras_adapters.version import __version__
from tests.training.test_run_classifier import REPO_ROOT
from tests.training.test_run_failures import run_files

pytestmark = pytest.mark.slow


def run(*argv, cwd, check=True):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH")
    }
    done = subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )
    if check:
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A virtualenv with the wheel installed. It sees the test
    environment's packages (keras, TensorFlow, ...: no download), but its
    keras_adapters is the wheel's, and every requirement the wheel names
    must be met."""
    root = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
        "-w", root / "dist", REPO_ROOT,
        cwd=root,
    )  # fmt: skip
    (wheel,) = glob.glob(str(root / "dist" / "keras_adapters-*.whl"))
    assert os.path.basename(wheel).startswith(f"keras_adapters-{__version__}-")
    run(
        sys.executable, "-m", "venv", "--system-site-packages", root / "venv",
        cwd=root,
    )  # fmt: skip
    python = root / "venv" / "bin" / "python"
    run(
        python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed",
        wheel,
        cwd=root,
    )  # fmt: skip
    run(python, "-c", REQUIREMENTS_MET, cwd=root)
    return root


# Every requirement of the installed wheel (extras aside) is installed at a
# version it allows (`pip check` would also judge unrelated packages).
REQUIREMENTS_MET = """
import importlib.metadata as metadata
from packaging.requirements import Requirement
unmet = []
for line in metadata.requires("keras-adapters"):
    requirement = Requirement(line)
    if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
        continue
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        version = None
    if version is None or version not in requirement.specifier:
        unmet.append(f"{line} (installed: {version})")
assert not unmet, unmet
"""


def test_the_wheel_holds_the_package_not_the_checkout(venv):
    python = venv / "venv" / "bin" / "python"
    done = run(
        python, "-c", "import keras_adapters; print(keras_adapters.__file__)",
        cwd=venv,
    )  # fmt: skip
    assert done.stdout.startswith(str(venv / "venv")), done.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_runs_from_any_folder(venv, command):
    executable = venv / "venv" / "bin" / command
    done = run(executable, "--version", cwd=venv)
    assert done.stdout == f"keras_adapters {__version__}\n"
    assert done.stderr == ""
    # absl's `--help` exits with status 1.
    done = run(executable, "--help", cwd=venv, check=False)
    assert "  --export_dir:" in done.stdout
    assert "  --[no]version:" in done.stdout


def test_the_main_job_runs_from_the_wheel(venv):
    files = run_files(venv / "inputs", 1, 7)
    done = run(
        venv / "venv" / "bin" / "keras-adapters-classifier",
        "--task=CoLA", f"--data_dir={files['data']}",
        f"--preset={files['preset']}", "--output_dir=out",
        "--max_seq_length=16", "--train_batch_size=8",
        "--num_train_epochs=1", "--adapter_size=4",
        cwd=venv,
    )  # fmt: skip
    assert "eval_mcc = " in done.stdout
    for name in ("adapters", "export", "eval_results.txt", "run_settings.json"):
        assert os.path.exists(venv / "out" / name), name
