"""Loading `.keras` files safely, with one-line errors for bad files."""

import json
import os
import re
import zipfile

import keras

# Importing the package registers every keras_adapters class, so that
# `safe_mode` deserialization finds them without executing any code.
import keras_adapters.models  # noqa: F401
from keras_adapters.errors import KerasAdaptersError

# How Keras reports an object of the file that no registered (or
# importable) class or function matches.
_UNREGISTERED = re.compile(
    r"Could not (?:locate|deserialize) (class|function) '([^']+)'"
)


def _modules_of(node, class_name):
    """The `module` of each object named `class_name` in a saved config."""
    if isinstance(node, dict):
        if node.get("class_name") == class_name:
            yield node.get("module")
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            yield from _modules_of(child, class_name)


def _unregistered_error(filepath, kind, name):
    """The one-line error for a `kind` ("class") `name` Keras cannot find."""
    with zipfile.ZipFile(filepath) as archive:
        config = json.loads(archive.read("config.json"))
    module = next(_modules_of(config, name), None)
    origin = f" of module '{module}'" if module else ""
    return ValueError(
        f"'{filepath}' uses {kind} '{name}'{origin}, which is not "
        "registered; install and import the package that defines it (with "
        "@keras.saving.register_keras_serializable) before loading."
    )


def load_model(filepath):
    """Loads a `.keras` model saved from keras_adapters, in safe mode.

    `safe_mode=True` is forced: a file holding a `Lambda` layer or any other
    serialized code is refused instead of executed.

    Args:
        filepath: path of a `.keras` file.

    Returns:
        The model, with its tuning mode re-applied from its config.

    Raises:
        ValueError: a missing, truncated or corrupted file, one that would
            need to execute code, or one that uses a class that is not
            registered.

    Example:

    ```python
    classifier.save("cola.keras")
    classifier = keras_adapters.load_model("cola.keras")
    ```
    """
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise KerasAdaptersError(f"No such model file: '{filepath}'.")
    try:
        with zipfile.ZipFile(filepath) as archive:
            broken = archive.testzip()
    except zipfile.BadZipFile:
        broken = "the archive"
    if broken is not None:
        raise KerasAdaptersError(
            f"'{filepath}' is truncated or corrupted ({broken} is unreadable); "
            "save the model again."
        )
    try:
        return keras.saving.load_model(filepath, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise KerasAdaptersError(
                f"'{filepath}' contains serialized code (e.g. a Lambda layer); "
                "keras_adapters never executes code from a file."
            ) from None
        raise
    except TypeError as error:
        match = _UNREGISTERED.search(str(error))
        if match is None:
            raise
        raise _unregistered_error(filepath, *match.groups()) from None
