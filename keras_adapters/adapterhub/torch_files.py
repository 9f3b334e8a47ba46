"""PyTorch tensor files (`torch.save` of a dict of tensors) without torch.

A `.bin` file of AdapterHub is a pickle, and unpickling can run any code
the file names. `read_tensor_file` unpickles with a whitelist of exactly
what a file of tensors holds (`torch._utils._rebuild_tensor_v2`, the float
storage types, `collections.OrderedDict`), each replaced by a stand-in of
ours that builds NumPy arrays; any other global is refused before it is
looked up, so nothing of the file is imported or executed.
`write_tensor_file` writes the same records by hand, which
`torch.load(..., weights_only=True)` reads.

Both container formats of `torch.save` are read: the zip archive (torch
1.6 and later, `data.pkl` plus one entry per storage) and the older stream
of pickles followed by the raw storages (`_use_new_zipfile_serialization=
False`, as in many adapter-transformers folders).
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from keras_adapters.errors import ArtifactError

# `torch.save`'s legacy stream starts with this number, then 1001.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# The storage classes a float tensor file names, and their element types.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
}
# The archive name `write_tensor_file` uses inside its zip (torch uses the
# file's stem; any single folder works).
ARCHIVE_ROOT = "archive"


class _Storage:
    """A storage type named by the file (e.g. `torch.FloatStorage`)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _StorageRef:
    """A storage the file refers to; its bytes are read after unpickling."""

    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key, dtype, numel):
        self.key = key
        self.dtype = dtype
        self.numel = numel


class _LazyTensor:
    """A view of a storage: offset, shape and strides, in elements."""

    __slots__ = ("storage", "offset", "shape", "strides")

    def __init__(self, storage, offset, shape, strides):
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.strides = strides


def _rebuild_tensor(storage, offset, shape, strides, *unused):
    """Stand-in for `torch._utils._rebuild_tensor_v2` (and `_rebuild_tensor`):
    records the view; `requires_grad`, hooks and metadata are dropped."""
    return _LazyTensor(storage, offset, shape, strides)


def _allowed_globals():
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    }
    for name in STORAGE_DTYPES:
        allowed[("torch", name)] = _Storage(name)
    return allowed


_ALLOWED = _allowed_globals()


class _TensorUnpickler(pickle.Unpickler):
    """An unpickler that knows only the records of a tensor file."""

    def __init__(self, file, path):
        super().__init__(file)
        self._path = path
        self.storages = {}

    def find_class(self, module, name):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise ArtifactError(
                f"{self._path} names '{module}.{name}', which a file of "
                "tensors never holds; refused unread (nothing in it ran). "
                "Use a folder saved by AdapterHub, or its .safetensors files."
            )
        return found

    def persistent_load(self, pid):
        # ("storage", storage type, key, location, numel[, view metadata])
        if (
            not isinstance(pid, tuple)
            or len(pid) not in (5, 6)
            or pid[0] != "storage"
            or not isinstance(pid[1], _Storage)
            or not isinstance(pid[2], str)
            or isinstance(pid[4], bool)
            or not isinstance(pid[4], int)
            or (len(pid) == 6 and pid[5] is not None)
        ):
            raise ArtifactError(
                f"{self._path} refers to a storage as {pid!r:.80}, not as a "
                "tensor file does; the file is corrupted."
            )
        ref = _StorageRef(pid[2], STORAGE_DTYPES[pid[1].name], pid[4])
        self.storages[ref.key] = ref
        return ref


def _unpickle(file, path):
    """Unpickles one pickle of `file` with `_TensorUnpickler`.

    Returns:
        `(object, {key: _StorageRef})`: the object and the storages it
        refers to.

    Raises:
        ArtifactError: a refused global or a malformed pickle, in one line.
    """
    unpickler = _TensorUnpickler(file, path)
    try:
        return unpickler.load(), unpickler.storages
    except ArtifactError:
        raise
    except Exception as error:  # Any malformed pickle.
        raise ArtifactError(
            f"{path} is not a readable PyTorch tensor file ({error!s:.80}); "
            "it is truncated or corrupted. Copy it again."
        ) from None


def _materialize(tensors, storages, path):
    """Builds `{name: array}` from the unpickled dict and the storages.

    Args:
        tensors: the unpickled object, expected `{str: _LazyTensor}`.
        storages: `{key: bytes}` of every storage.
        path: the file, for messages.
    """
    if not isinstance(tensors, dict) or not all(
        isinstance(name, str) and isinstance(value, _LazyTensor)
        for name, value in tensors.items()
    ):
        raise ArtifactError(
            f"{path} does not hold a dict of named tensors; it is not a "
            "weights file of AdapterHub."
        )
    arrays = {}
    for name, tensor in tensors.items():
        arrays[name] = _view(tensor, storages, f"{path}: '{name}'")
    return arrays


def _view(tensor, storages, where):
    storage = tensor.storage
    shape, strides = tensor.shape, tensor.strides
    valid = (
        isinstance(storage, _StorageRef)
        and storage.key in storages
        and isinstance(shape, tuple)
        and isinstance(strides, tuple)
        and len(shape) == len(strides)
        and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0
            for n in (tensor.offset, *shape, *strides)
        )
    )
    if not valid:
        raise ArtifactError(f"{where} is not a valid tensor record.")
    flat = np.frombuffer(storages[storage.key], dtype=storage.dtype)
    if flat.size != storage.numel:
        raise ArtifactError(
            f"{where}: its storage holds {flat.size} values, the file says "
            f"{storage.numel}; the file is truncated or corrupted."
        )
    last = tensor.offset + sum((n - 1) * s for n, s in zip(shape, strides))
    if 0 in shape:
        return np.zeros(shape, storage.dtype)
    if last >= flat.size:
        raise ArtifactError(
            f"{where} reads past the end of its storage; the file is corrupted."
        )
    itemsize = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[tensor.offset :],
        shape=shape,
        strides=[s * itemsize for s in strides],
        writeable=False,
    )
    array = np.array(view)
    if storage.dtype == STORAGE_DTYPES["BFloat16Storage"]:
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _big_endian_error(path):
    return ArtifactError(
        f"{path} was written on a big-endian machine; load it in AdapterHub "
        "and save it again with use_safetensors=True."
    )


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("data.pkl")]
        if len(pickles) != 1:
            raise ArtifactError(
                f"{path} is a zip archive without exactly one data.pkl; it "
                "is not a PyTorch tensor file."
            )
        root = pickles[0][: -len("data.pkl")]
        if f"{root}byteorder" in names:
            if archive.read(f"{root}byteorder").strip() != b"little":
                raise _big_endian_error(path)
        tensors, _ = _unpickle(io.BytesIO(archive.read(pickles[0])), path)
        storages = {
            name[len(f"{root}data/") :]: archive.read(name)
            for name in names
            if name.startswith(f"{root}data/")
        }
    return _materialize(tensors, storages, path)


def _read_legacy(path):
    with open(path, "rb") as handle:
        header = [_unpickle(handle, path)[0] for _ in range(3)]
        if header[0] != LEGACY_MAGIC or header[1] != LEGACY_PROTOCOL:
            raise ArtifactError(
                f"{path} is neither a zip nor a legacy PyTorch tensor file; "
                "use a folder saved by AdapterHub."
            )
        if not (isinstance(header[2], dict) and header[2].get("little_endian")):
            raise _big_endian_error(path)
        tensors, refs = _unpickle(handle, path)
        keys, _ = _unpickle(handle, path)
        if not isinstance(keys, list) or set(keys) != set(refs):
            raise ArtifactError(f"{path}: its storage list is corrupted.")
        storages = {}
        for key in keys:
            # Each storage: its element count (int64), then its bytes.
            count = handle.read(8)
            numel = struct.unpack("<q", count)[0] if len(count) == 8 else -1
            size = max(numel, 0) * refs[key].dtype.itemsize
            data = handle.read(size)
            if numel < 0 or len(data) != size:
                raise ArtifactError(
                    f"{path} is truncated (storage {key} is incomplete)."
                )
            storages[key] = data
    return _materialize(tensors, storages, path)


def read_tensor_file(path):
    """Reads a `torch.save`d dict of float tensors, without torch.

    Args:
        path: a `.bin` file (zip or legacy format).

    Returns:
        `{name: numpy array}` in the file's order.

    Raises:
        ArtifactError: a file that is missing, truncated, holds anything
            but named float tensors, or names any other Python object (a
            pickle that would run code is refused, and nothing runs).

    Example:

    ```python
    weights = read_tensor_file("cola/pytorch_adapter.bin")
    ```
    """
    if not os.path.isfile(path):
        raise ArtifactError(f"Missing weights file {path}.")
    if zipfile.is_zipfile(path):
        try:
            return _read_zip(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise ArtifactError(
                f"{path} is a damaged zip archive ({error}); copy it again."
            ) from None
    return _read_legacy(path)


def write_tensor_file(arrays, path):
    """Writes float32 arrays as a file `torch.load` reads, without torch.

    The zip format of `torch.save` (protocol 2 pickle of a dict of
    `_rebuild_tensor_v2` records, one little-endian storage per tensor).

    Args:
        arrays: `{name: array}`; each is written as a contiguous float32
            tensor.
        path: the file to write.
    """
    pickled = io.BytesIO()
    pickled.write(b"\x80\x02}(")  # PROTO 2, EMPTY_DICT, MARK
    storages = {}
    for index, (name, array) in enumerate(arrays.items()):
        array = np.ascontiguousarray(array, dtype="<f4")
        key = str(index)
        storages[key] = array.tobytes()
        strides = [
            int(np.prod(array.shape[i + 1 :])) for i in range(array.ndim)
        ]
        pickled.write(_pickle_str(name))
        pickled.write(b"ctorch._utils\n_rebuild_tensor_v2\n(")
        pickled.write(b"(" + _pickle_str("storage"))
        pickled.write(b"ctorch\nFloatStorage\n")
        pickled.write(_pickle_str(key) + _pickle_str("cpu"))
        pickled.write(_pickle_int(array.size) + b"tQ")  # TUPLE, BINPERSID
        pickled.write(_pickle_int(0))
        pickled.write(_pickle_tuple(array.shape))
        pickled.write(_pickle_tuple(strides))
        pickled.write(b"\x89")  # NEWFALSE: requires_grad
        pickled.write(b"ccollections\nOrderedDict\n)R")  # backward hooks
        pickled.write(b"tR")  # TUPLE, REDUCE
    pickled.write(b"u.")  # SETITEMS, STOP
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{ARCHIVE_ROOT}/data.pkl", pickled.getvalue())
        archive.writestr(f"{ARCHIVE_ROOT}/byteorder", "little")
        for key, data in storages.items():
            archive.writestr(f"{ARCHIVE_ROOT}/data/{key}", data)
        archive.writestr(f"{ARCHIVE_ROOT}/version", "3\n")


def _pickle_str(text):
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _pickle_int(value):
    return b"J" + struct.pack("<i", value)  # BININT


def _pickle_tuple(values):
    return b"(" + b"".join(_pickle_int(int(v)) for v in values) + b"t"
