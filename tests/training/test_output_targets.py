"""The scripts never delete or overwrite what they did not write: output
targets holding other files, `.`, a file, a run folder or an input are
refused in one line before any work, and a rerun with other settings is
refused without touching the run's outputs."""

import json
import os
import subprocess
import sys

import pytest

from keras_adapters.output_files import OutputFolderError
from keras_adapters.training.classifier_run import ClassifierRun
from keras_adapters.training.classifier_run import ClassifierRunConfig
from keras_adapters.training.squad_run import SquadRun
from keras_adapters.training.squad_run import SquadRunConfig
from tests.test_fault_injection import run_here
from tests.test_output_files import user_files
from tests.training.test_run_classifier import REPO_ROOT
from tests.training.test_run_failures import run_files
from tests.training.test_run_failures import tiny_run_flags


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return run_files(tmp_path_factory.mktemp("target_files"), 1, 7)


def flags(files, output_dir, *extra):
    return tiny_run_flags(
        files,
        output_dir,
        "--num_train_epochs=1",
        "--mixed_precision=fp32",
        *extra,
    )


def snapshot(folder):
    """`{path: bytes}` of every file under `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[path] = handle.read()
    return found


@pytest.fixture(scope="module")
def finished(files, tmp_path_factory):
    """A finished run folder (trained and evaluated; no test here reads a
    SavedModel of it), as `flags` gives it."""
    output_dir = tmp_path_factory.mktemp("finished") / "run"
    ClassifierRun(
        ClassifierRunConfig(
            task_name="cola",
            data_dir=files["data"],
            preset=files["preset"],
            output_dir=str(output_dir),
            max_seq_length=16,
            train_batch_size=8,
            num_train_epochs=1,
            adapter_size=4,
            mixed_precision="fp32",
            do_export=False,
            verbose=0,
        )
    ).run()
    return output_dir


TARGETS = {
    "a folder of user files": (
        lambda root, files, run: str(root / "mine"),
        "holds files keras_adapters did not write",
    ),
    "the current folder": (
        lambda root, files, run: ".",
        "is the current folder or holds it",
    ),
    "an existing file": (
        lambda root, files, run: str(root / "mine" / "thesis.tex"),
        "is an existing file",
    ),
    "a run folder": (
        lambda root, files, run: str(run),
        "holds a keras_adapters run folder, not a saved_model one",
    ),
    "a parent of the data": (
        lambda root, files, run: os.path.dirname(files["data"]),
        "which this command reads or keeps",
    ),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_run_classifier_refuses_export_dirs_that_hold_anything_else(
    tmp_path, files, finished, capsys, monkeypatch, target
):
    choose, message = TARGETS[target]
    user_files(tmp_path / "mine")
    monkeypatch.chdir(
        tmp_path / ("mine" if target == "the current folder" else "")
    )
    export_dir = choose(tmp_path, files, finished)
    watched = [tmp_path, finished, os.path.dirname(files["data"])]
    before = {folder: snapshot(folder) for folder in watched}
    code, _, err = run_here(
        flags(files, tmp_path / "new_run", f"--export_dir={export_dir}"),
        capsys,
    )
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"--export_dir={export_dir} " in err and message in err
    for folder, files_before in before.items():
        assert snapshot(folder) == files_before
    assert not os.path.exists(tmp_path / "new_run")


def test_run_classifier_refuses_its_own_output_dir_as_export_dir(
    tmp_path, files, capsys
):
    output_dir = tmp_path / "run"
    code, _, err = run_here(
        flags(files, output_dir, f"--export_dir={output_dir}"), capsys
    )
    assert code == 2 and "which this command reads or keeps" in err
    assert not os.path.exists(output_dir)


@pytest.mark.parametrize(
    "target, message",
    [
        ("mine", "--output_dir=mine holds files keras_adapters did not"),
        ("mine/thesis.tex", "--output_dir=mine/thesis.tex is an existing file"),
        (".", "--output_dir=. is the current folder or holds it"),
    ],
)
def test_run_classifier_refuses_output_dirs_that_hold_anything_else(
    tmp_path, files, capsys, monkeypatch, target, message
):
    user_files(tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, _, err = run_here(flags(files, target), capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert message in err
    assert snapshot(tmp_path) == before


def test_a_rerun_with_other_settings_is_refused_and_changes_nothing(
    files, finished, capsys
):
    before = snapshot(finished)
    code, _, err = run_here(
        flags(files, finished, "--max_seq_length=12"), capsys
    )
    assert code == 2 and len(err.splitlines()) == 1, err
    assert (
        f"--output_dir={finished} holds a run with other settings "
        "(--max_seq_length=16 there, 12 now): rerun with its settings (see "
        "run_settings.json there), or give another --output_dir for a new "
        "run."
    ) in err
    assert snapshot(finished) == before


def test_a_rerun_with_other_running_options_continues_the_run(
    files, finished, capsys
):
    code, printed, err = run_here(
        flags(files, finished, "--do_eval", "--eval_batch_size=3"), capsys
    )
    assert code is None, err
    assert "Restored the model trained for 4 steps." in printed


def test_the_run_records_every_setting_and_lists_its_outputs(
    files, finished, tmp_path, capsys
):
    with open(finished / "run_settings.json") as handle:
        record = json.load(handle)
    assert record["job"] == "ClassifierRunConfig"
    assert record["settings"]["max_seq_length"] == 16
    assert record["settings"]["task_name"] == "CoLA"
    assert record["resolved"]["learning_rate"] == 3e-4
    assert record["resolved"]["dtype_policy"] == "float32"
    assert len(record["resolved"]["train_data_sha256"]) == 64
    code, printed, _ = run_here(flags(files, tmp_path / "run"), capsys)
    assert code is None
    last = printed.splitlines()[-9:]
    assert last[0] == "Outputs:"
    listed = "\n".join(last)
    for name in (
        "checkpoint",
        "train_log.tsv",
        "adapters",
        "export",
        "run_settings.json",
        "eval_results.txt",
    ):
        assert str(tmp_path / "run" / name) in listed


def test_without_export_only_the_artifact_is_written(tmp_path, files, capsys):
    output_dir = tmp_path / "run"
    code, printed, err = run_here(
        flags(files, output_dir, "--nodo_export"), capsys
    )
    assert code is None, err
    assert (output_dir / "adapters" / "adapter_config.json").is_file()
    assert not os.path.exists(output_dir / "export")
    assert "SavedModel" not in printed and "adapter artifact" in printed


def test_an_export_dir_without_export_is_refused(tmp_path, files, capsys):
    user_files(tmp_path / "mine")
    before = snapshot(tmp_path)
    code, _, err = run_here(
        flags(
            files,
            tmp_path / "run",
            "--nodo_export",
            f"--export_dir={tmp_path / 'mine'}",
        ),
        capsys,
    )
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--export_dir" in err and "--do_export is off" in err, err
    assert snapshot(tmp_path) == before


def run_export_multitask(*args, cwd):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "export_multitask.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.mark.parametrize(
    "target, message",
    [
        ("a folder of user files", TARGETS["a folder of user files"][1]),
        ("the current folder", TARGETS["the current folder"][1]),
        # The run folder holds the artifact the command reads.
        ("a run folder", "which this command reads or keeps"),
    ],
)
def test_export_multitask_refuses_export_dirs_that_hold_anything_else(
    tmp_path, files, finished, target, message
):
    choose, _ = TARGETS[target]
    user_files(tmp_path / "mine")
    os.makedirs(tmp_path / "elsewhere")
    export_dir = choose(tmp_path, files, finished)
    cwd = "mine" if target == "the current folder" else "elsewhere"
    before = {folder: snapshot(folder) for folder in (tmp_path, finished)}
    done = run_export_multitask(
        f"--base={files['preset']}",
        f"--task=cola={finished / 'adapters'}",
        f"--export_dir={export_dir}",
        cwd=tmp_path / cwd,
    )
    err = done.stderr.strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1, err
    assert message in err
    for folder, files_before in before.items():
        assert snapshot(folder) == files_before


def test_export_multitask_names_flags_not_library_arguments(
    tmp_path, files, finished
):
    done = run_export_multitask(
        f"--base={files['preset']}",
        f"--task=cola={finished / 'adapters'}",
        "--pair_tasks=mrpc",
        f"--export_dir={tmp_path / 'served'}",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "--pair_tasks names mrpc, which --task does not have (its tasks: cola)."
    )


def test_run_squad_refuses_an_export_dir_of_user_files(tmp_path, files):
    user_files(tmp_path / "mine")
    before = snapshot(tmp_path / "mine")
    predict_file = tmp_path / "dev.json"
    predict_file.write_text('{"data": [], "version": "1.1"}')
    config = SquadRunConfig(
        preset=files["preset"],
        do_predict=True,
        predict_file=str(predict_file),
        output_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "mine"),
    )
    with pytest.raises(OutputFolderError, match="holds files keras_adapters"):
        SquadRun(config).run()
    assert snapshot(tmp_path / "mine") == before
    assert not os.path.exists(tmp_path / "run")
