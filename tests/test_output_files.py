"""Owned output folders: nothing the package did not write is deleted."""

import os
import stat

import numpy as np
import pytest

from keras_adapters.output_files import MARKER
from keras_adapters.output_files import OutputFolderError
from keras_adapters.output_files import claim_folder
from keras_adapters.output_files import folder_kind
from keras_adapters.output_files import save_safetensors
from keras_adapters.output_files import write_folder


def fill(text):
    def write(path):
        with open(os.path.join(path, "content.txt"), "w") as handle:
            handle.write(text)

    return write


def read(path):
    with open(os.path.join(path, "content.txt")) as handle:
        return handle.read()


def user_files(folder):
    """A folder of a user's files, and a snapshot of them."""
    os.makedirs(os.path.join(folder, "notes"))
    files = {
        os.path.join(folder, "thesis.tex"): "chapter 1",
        os.path.join(folder, "notes", "todo.txt"): "everything",
    }
    for path, text in files.items():
        with open(path, "w") as handle:
            handle.write(text)
    return files


def assert_unchanged(files):
    for path, text in files.items():
        with open(path) as handle:
            assert handle.read() == text


def test_a_new_folder_is_written_with_its_marker(tmp_path):
    target = str(tmp_path / "out" / "model")
    assert write_folder(target, fill("one"), "saved_model") == target
    assert read(target) == "one"
    assert folder_kind(target) == "saved_model"
    assert sorted(os.listdir(tmp_path / "out")) == ["model"]


def test_an_earlier_folder_of_the_same_kind_is_replaced_whole(tmp_path):
    target = str(tmp_path / "model")
    write_folder(target, fill("one"), "saved_model")
    with open(os.path.join(target, "stale.bin"), "w") as handle:
        handle.write("from the first export")
    write_folder(target, fill("two"), "saved_model")
    assert read(target) == "two"
    assert sorted(os.listdir(target)) == [MARKER, "content.txt"]
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_an_empty_folder_is_used(tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    write_folder(str(target), fill("one"), "adapters")
    assert read(str(target)) == "one"


@pytest.mark.parametrize("kind", ["saved_model", "adapters"])
def test_a_folder_of_user_files_is_refused_and_kept(tmp_path, kind):
    target = str(tmp_path / "mine")
    files = user_files(target)
    with pytest.raises(OutputFolderError) as info:
        write_folder(target, fill("one"), kind, argument="export_dir")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"`export_dir`={target} holds files")
    assert "'notes'" in message and "give an empty or new folder" in message
    assert_unchanged(files)
    assert sorted(os.listdir(tmp_path)) == ["mine"]


def test_a_folder_of_another_kind_is_refused(tmp_path):
    target = str(tmp_path / "artifact")
    write_folder(target, fill("one"), "adapters")
    with pytest.raises(OutputFolderError, match="a keras_adapters adapters"):
        write_folder(target, fill("two"), "saved_model")
    assert read(target) == "one"


def test_the_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for target in (".", str(work), "..", str(tmp_path)):
        with pytest.raises(OutputFolderError, match="the current folder"):
            write_folder(target, fill("one"), "saved_model")
    assert os.listdir(work) == [] and os.listdir(tmp_path) == ["work"]


def test_an_existing_file_is_refused_without_debris(tmp_path):
    target = tmp_path / "model"
    target.write_text("my file")
    with pytest.raises(OutputFolderError, match="is an existing file"):
        write_folder(str(target), fill("one"), "saved_model")
    assert target.read_text() == "my file"
    assert os.listdir(tmp_path) == ["model"]


def test_a_folder_holding_an_input_is_refused(tmp_path):
    data = tmp_path / "run" / "data.tsv"
    data.parent.mkdir()
    data.write_text("rows")
    for target in (tmp_path / "run", tmp_path):
        with pytest.raises(OutputFolderError, match="holds .*data.tsv"):
            write_folder(
                str(target), fill("one"), "saved_model", inputs=[str(data)]
            )
    assert data.read_text() == "rows"


def test_a_foreign_partial_folder_beside_the_target_is_refused(tmp_path):
    target = str(tmp_path / "model")
    files = user_files(target + ".partial")
    with pytest.raises(OutputFolderError, match="did not write it"):
        write_folder(target, fill("one"), "saved_model")
    assert_unchanged(files)


def test_a_failed_write_keeps_the_earlier_folder(tmp_path):
    target = str(tmp_path / "model")
    write_folder(target, fill("one"), "saved_model")

    def fail(path):
        fill("half")(path)
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_folder(target, fail, "saved_model")
    assert read(target) == "one"
    # The next write cleans up the half-written folder it left.
    write_folder(target, fill("two"), "saved_model")
    assert read(target) == "two"
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_a_kill_between_the_renames_is_cleaned_up(tmp_path):
    target = str(tmp_path / "model")
    write_folder(target + ".partial", fill("new"), "saved_model")
    write_folder(target + ".replaced", fill("old"), "saved_model")
    write_folder(target, fill("three"), "saved_model")
    assert read(target) == "three"
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_claimed_folders_accept_their_kind_only(tmp_path):
    run = str(tmp_path / "run")
    claim_folder(run, "run", argument="output_dir")
    claim_folder(run, "run", argument="output_dir")  # Again: the same run.
    assert folder_kind(run) == "run"
    with pytest.raises(OutputFolderError, match="not a checkpoints one"):
        claim_folder(run, "checkpoints")
    files = user_files(str(tmp_path / "mine"))
    with pytest.raises(OutputFolderError, match="`output_dir`=.*mine holds"):
        claim_folder(str(tmp_path / "mine"), "run", argument="output_dir")
    assert_unchanged(files)
    assert not os.path.exists(tmp_path / "mine" / MARKER)


def test_an_uncreatable_folder_is_one_line():
    with pytest.raises(OutputFolderError, match="cannot be created"):
        claim_folder("/proc/no/such/folder", "run", argument="output_dir")


def test_weights_files_get_the_permissions_of_other_files(tmp_path):
    previous = os.umask(0o022)
    try:
        path = str(tmp_path / "w.safetensors")
        save_safetensors({"a": np.ones((2, 3), "float32")}, path)
        (tmp_path / "other.txt").write_text("x")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "other.txt").st_mode)
    assert mode == 0o644
