"""PyTorch tensor files read and written without torch, and never run."""

import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import safetensors.numpy

from keras_adapters import ArtifactError
from keras_adapters.adapterhub.torch_files import LEGACY_MAGIC
from keras_adapters.adapterhub.torch_files import read_tensor_file
from keras_adapters.adapterhub.torch_files import write_tensor_file
from tests.adapterhub.fixtures import folder


class RunsCode:
    """Unpickles by calling `os.system`: a pickle that would run code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def zip_file(path, data_pkl, storages=()):
    """A torch zip archive holding `data_pkl` and raw storages."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        for key, data in storages:
            archive.writestr(f"archive/data/{key}", data)
    return path


def legacy_file(path, obj_pickle):
    """The legacy stream: magic, protocol, system info, then `obj_pickle`."""
    with open(path, "wb") as handle:
        for value in (
            LEGACY_MAGIC,
            1001,
            {"protocol_version": 1001, "little_endian": True},
        ):
            pickle.dump(value, handle, protocol=2)
        handle.write(obj_pickle)
    return path


def test_bin_and_safetensors_fixtures_hold_the_same_kind_of_tensors():
    weights = read_tensor_file(
        os.path.join(folder("houlsby_bin"), "pytorch_adapter.bin")
    )
    reference = safetensors.numpy.load_file(
        os.path.join(folder("houlsby_safetensors"), "adapter.safetensors")
    )
    assert {k.replace("houlsby_bin", "x") for k in weights} == {
        k.replace("houlsby_safetensors", "x") for k in reference
    }
    for name, value in weights.items():
        assert value.dtype == np.float32
        assert (
            value.shape
            == reference[
                name.replace("houlsby_bin", "houlsby_safetensors")
            ].shape
        )


def test_legacy_format_fixture_is_read():
    weights = read_tensor_file(
        os.path.join(folder("legacy_pfeiffer"), "pytorch_adapter.bin")
    )
    assert weights and all(".layer_text_task_adapters." in k for k in weights)


def test_written_files_read_back_identically(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "a.weight": rng.normal(size=(3, 5)).astype("float32"),
        "b.bias": rng.normal(size=(7,)).astype("float32"),
        "scalar": np.array(2.5, "float32"),
    }
    path = str(tmp_path / "weights.bin")
    write_tensor_file(arrays, path)
    read = read_tensor_file(path)
    assert list(read) == list(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(read[name], value)


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(
    tmp_path, protocol, container
):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"x": RunsCode(marker)}, protocol=protocol)
    path = str(tmp_path / "evil.bin")
    if container == "zip":
        zip_file(path, payload)
    else:
        legacy_file(path, payload)
    with pytest.raises(
        ArtifactError, match=r"names '(posix|os)\.system'"
    ) as raised:
        read_tensor_file(path)
    assert "\n" not in str(raised.value)
    assert not marker.exists()


def test_other_globals_are_refused_too(tmp_path):
    # `builtins.eval` through GLOBAL, as a hand-written pickle would name it.
    payload = b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."
    path = zip_file(str(tmp_path / "eval.bin"), payload)
    with pytest.raises(ArtifactError, match="'builtins.eval'"):
        read_tensor_file(path)


def one_tensor(tmp_path, shape, offset, numel, stored):
    """A zip file whose tensor `t` has the given view of a storage of
    `numel` floats, `stored` of which are in the archive."""
    path = str(tmp_path / "t.bin")
    write_tensor_file({"t": np.zeros(shape, "float32")}, path)
    with zipfile.ZipFile(path) as archive:
        data_pkl = archive.read("archive/data.pkl")
    data_pkl = data_pkl.replace(
        b"J" + struct.pack("<i", int(np.prod(shape))) + b"tQ",
        b"J" + struct.pack("<i", numel) + b"tQ",
    )
    if offset:
        data_pkl = data_pkl.replace(
            b"QJ\x00\x00\x00\x00", b"QJ" + struct.pack("<i", offset)
        )
    return zip_file(path, data_pkl, [("0", b"\x00" * 4 * stored)])


def test_truncated_and_inconsistent_files(tmp_path):
    path = one_tensor(tmp_path, (2, 3), 0, numel=6, stored=5)
    with pytest.raises(ArtifactError, match="holds 5 values, the file says 6"):
        read_tensor_file(path)
    path = one_tensor(tmp_path, (2, 3), 4, numel=6, stored=6)
    with pytest.raises(ArtifactError, match="reads past the end"):
        read_tensor_file(path)
    path = str(tmp_path / "w.bin")
    write_tensor_file({"t": np.ones(4, "float32")}, path)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - 30)
    with pytest.raises(ArtifactError):
        read_tensor_file(path)
    path = zip_file(
        str(tmp_path / "list.bin"), pickle.dumps([1, 2], protocol=2)
    )
    with pytest.raises(ArtifactError, match="dict of named tensors"):
        read_tensor_file(path)
    with pytest.raises(ArtifactError, match="Missing weights file"):
        read_tensor_file(str(tmp_path / "absent.bin"))
    path = str(tmp_path / "text.bin")
    with open(path, "w") as handle:
        handle.write("not a tensor file")
    with pytest.raises(ArtifactError):
        read_tensor_file(path)
