"""The installed commands: names, quiet start, `--version`, and the flags
generated from the run configs."""

import dataclasses
import os
import subprocess
import sys

import pytest
import tomllib

from keras_adapters.commands import COMMANDS
from keras_adapters.commands import command_of
from keras_adapters.training.classifier_run import ClassifierRunConfig
from keras_adapters.training.flags import flag_fields
from keras_adapters.training.squad_run import SquadRunConfig
from keras_adapters.version import __version__
from tests.training.test_run_classifier import REPO_ROOT


@pytest.mark.parametrize(
    "argv, command",
    [
        (
            ["python", "-m", "keras_adapters.run_squad", "--x"],
            "keras-adapters-squad",
        ),
        (
            [
                "/v/bin/python",
                "-u",
                "-X",
                "dev",
                "-m",
                "keras_adapters.run_classifier",
            ],
            "keras-adapters-classifier",
        ),
        (
            ["/v/bin/python", "/v/bin/keras-adapters-export-multitask", "--h"],
            "keras-adapters-export-multitask",
        ),
        (
            ["python", "run_classifier.py", "--task=cola"],
            "keras-adapters-classifier",
        ),
        (
            ["python", "/a/b/export_multitask.py"],
            "keras-adapters-export-multitask",
        ),
        (["python", "-m", "pytest", "tests"], None),
        (["python", "-c", "import run_classifier"], None),
        (["python", "train.py", "run_classifier.py"], None),
        (["python"], None),
    ],
)
def test_command_of_reads_the_interpreter_command_line(argv, command):
    assert command_of(argv) == command


def test_pyproject_installs_each_command():
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    assert scripts == {
        name: f"{module}:run" for name, module in COMMANDS.items()
    }


def run(*argv, cwd):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # The command sets it.
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("module", sorted(COMMANDS.values()))
def test_python_m_runs_each_command_quietly_from_any_folder(tmp_path, module):
    done = run(sys.executable, "-m", module, "--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == f"keras_adapters {__version__}\n"
    assert done.stderr == ""
    done = run(sys.executable, "-m", module, "--no_such_flag", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{module.rsplit('.', 1)[1]}.py: error: Unknown command line flag "
        "'no_such_flag'"
    ]


@pytest.mark.parametrize("config_cls", [ClassifierRunConfig, SquadRunConfig])
def test_every_flag_is_a_documented_setting(config_cls):
    fields = flag_fields(config_cls)
    assert {f.name for f in fields} >= {
        "adapter_size",
        "max_seq_length",
        "output_dir",
        "mixed_precision",
    }
    for field in fields:
        assert field.metadata["help"].strip(), field.name
    # Settings that are not flags are only those marked so.
    others = {f.name for f in dataclasses.fields(config_cls)} - {
        f.name for f in fields
    }
    assert others == {"verbose"}


def test_squad_overrides_only_its_defaults():
    squad = {f.name: f for f in dataclasses.fields(SquadRunConfig)}
    classifier = {f.name: f for f in dataclasses.fields(ClassifierRunConfig)}
    assert squad["max_seq_length"].default == 384
    assert classifier["max_seq_length"].default == 128
    assert squad["adapter_size"] is not None
    assert squad["adapter_size"].default == classifier["adapter_size"].default
