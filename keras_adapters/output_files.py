"""Writing outputs without losing anything: owned folders, atomic files.

Every folder keras_adapters writes (an adapter artifact, a SavedModel, a
run's output folder, a checkpoint folder, a prefix cache) holds a marker
file, `.keras_adapters.json`, naming the kind of folder it is. A writer
replaces only a folder of its own kind that carries the marker. Any other
target (a folder with other files in it, an existing file, the current
folder or one that holds it, a folder that holds one of the inputs) is
refused in one line before anything is written, so no command deletes or
overwrites a file it did not write.

A folder is written under a temporary name beside its target and renamed
into place when complete; an earlier folder of the same kind is moved
aside first and deleted only once the new one is in place. Files are
written the same way (`write_text`), with the permissions the process
umask gives (`save_safetensors` corrects the owner-only mode of the
`safetensors` library).
"""

import json
import os
import shutil

import numpy as np
import safetensors.numpy

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.version import __version__

MARKER = ".keras_adapters.json"
# Suffixes of a folder being written and of the one it replaces.
PARTIAL = ".partial"
REPLACED = ".replaced"


class OutputFolderError(KerasAdaptersError):
    """Raised for an output path that would lose or mix files."""


def folder_kind(path):
    """The kind of keras_adapters folder `path` is, or None.

    Args:
        path: a folder path.

    Returns:
        The kind its marker names (e.g. `"saved_model"`), or None when it
        has no readable marker.
    """
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as handle:
            kind = json.load(handle).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def _write_marker(path, kind):
    marker = {"kind": kind, "written_by": f"keras_adapters {__version__}"}
    write_text(os.path.join(path, MARKER), json.dumps(marker) + "\n")


def _holds(folder, path):
    """Whether `path` is `folder` or lies inside it (both real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _is_ours(path, kind):
    return folder_kind(path) == kind


def check_output_folder(path, kind, argument, inputs=()):
    """Raises unless a `kind` folder may be written at `path`.

    `path` may be written when it does not exist, is an empty folder, or is
    a keras_adapters folder of the same `kind`; and when it is neither the
    current folder, nor a folder that holds it, nor one that holds (or is)
    any of `inputs`.

    Args:
        path: the target folder.
        kind: str, the kind of folder to write (`"saved_model"`, ...).
        argument: str, the argument that named `path`, for the message.
        inputs: paths the writer reads (files or folders) or must keep
            (e.g. the run's own output folder).

    Raises:
        OutputFolderError: in one line, naming the problem and the fix.
    """
    real = os.path.realpath(path)
    where = f"`{argument}`={path}"
    if os.path.exists(real) and not os.path.isdir(real):
        raise OutputFolderError(
            f"{where} is an existing file; give a folder path."
        )
    if _holds(real, os.path.realpath(os.getcwd())):
        raise OutputFolderError(
            f"{where} is the current folder or holds it; give a new folder "
            "for the output."
        )
    for source in inputs:
        if source and _holds(real, os.path.realpath(source)):
            raise OutputFolderError(
                f"{where} holds {source}, which this command reads or keeps; "
                "give a folder outside it."
            )
    if os.path.isdir(real) and os.listdir(real) and not _is_ours(real, kind):
        found = folder_kind(real)
        what = (
            f"a keras_adapters {found} folder, not a {kind} one"
            if found
            else "files keras_adapters did not write (e.g. "
            f"'{sorted(os.listdir(real))[0]}')"
        )
        raise OutputFolderError(
            f"{where} holds {what}; give an empty or new folder, or delete "
            "it yourself first."
        )
    existing = real
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK):
        raise OutputFolderError(
            f"{where} cannot be created ({existing} is not writable); "
            "choose a writable folder."
        )
    for aside in (real + PARTIAL, real + REPLACED):
        if os.path.lexists(aside) and not _is_ours(aside, kind):
            raise OutputFolderError(
                f"{where} cannot be written: {aside} exists and "
                "keras_adapters did not write it; move it away first."
            )


def write_folder(path, write, kind, argument="directory", inputs=()):
    """Writes a whole folder atomically, replacing only its own kind.

    `write(partial)` fills a temporary folder beside `path` (which already
    holds the marker); then an earlier `kind` folder at `path` is moved
    aside, the new one renamed into place, and the old one deleted. A
    process killed at any point leaves either the old folder or the new
    one at `path` (or, between the two renames, neither, with both beside
    it); the next write cleans up what it left.

    Args:
        path: the target folder.
        write: callable taking the temporary folder's path.
        kind: str, the kind of folder (see `check_output_folder`).
        argument: str, the argument that named `path`, for messages.
        inputs: paths that `path` must not hold (see
            `check_output_folder`).

    Returns:
        `path`.

    Raises:
        OutputFolderError: `path` is not a place to write a `kind` folder.

    Example:

    ```python
    write_folder("cola_model", lambda tmp: model.export(tmp), "saved_model")
    ```
    """
    check_output_folder(path, kind, argument, inputs)
    target = os.path.normpath(path)
    partial, replaced = target + PARTIAL, target + REPLACED
    for stale in (partial, replaced):
        if os.path.lexists(stale):
            shutil.rmtree(stale)  # Ours: checked above.
    _make_folder(partial, argument)
    _write_marker(partial, kind)
    write(partial)
    if os.path.isdir(target) and os.listdir(target):
        os.replace(target, replaced)
        os.replace(partial, target)
        shutil.rmtree(replaced)
    else:
        if os.path.isdir(target):
            os.rmdir(target)  # Empty.
        os.replace(partial, target)
    return path


def claim_folder(path, kind, argument="directory", inputs=()):
    """Makes `path` a `kind` folder that later writes may add files to.

    For folders that are filled over time rather than written whole (a
    run's output folder, a checkpoint folder): creates `path` with a marker,
    marks an empty folder, accepts a folder of the same kind and refuses
    anything else (see `check_output_folder`).

    Args:
        path: the folder.
        kind: str, its kind.
        argument: str, the argument that named `path`, for messages.
        inputs: paths that `path` must not hold.

    Returns:
        `path`.

    Raises:
        OutputFolderError: `path` holds something else, or cannot be
            created.
    """
    check_output_folder(path, kind, argument, inputs)
    if not _is_ours(path, kind):
        _make_folder(path, argument)
        _write_marker(path, kind)
    return path


def _make_folder(path, argument):
    """`os.makedirs`, failing in one line."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(
            f"`{argument}`={path} cannot be created ({error.strerror}); "
            "choose a writable folder."
        ) from None


def write_text(path, text):
    """Writes `text` to `path` through a temporary file and a rename, so a
    reader never sees half a file.

    Args:
        path: the file.
        text: str, written as UTF-8.
    """
    partial = path + PARTIAL
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_safetensors(arrays, path):
    """Saves `{name: array}` as a safetensors file, readable as the other
    outputs are (the `safetensors` library creates owner-only files).

    Args:
        arrays: dict of name to numpy array.
        path: the file.
    """
    safetensors.numpy.save_file(
        {name: np.ascontiguousarray(array) for name, array in arrays.items()},
        path,
    )
    os.chmod(path, 0o666 & ~_umask())
