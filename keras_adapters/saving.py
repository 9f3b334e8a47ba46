"""Loading `.keras` files safely, with one-line errors for bad files."""

import os
import zipfile

import keras

# Importing the package registers every keras_adapters class, so that
# `safe_mode` deserialization finds them without executing any code.
import keras_adapters.models  # noqa: F401


def load_model(filepath):
    """Loads a `.keras` model saved from keras_adapters, in safe mode.

    `safe_mode=True` is forced: a file holding a `Lambda` layer or any other
    serialized code is refused instead of executed.

    Args:
        filepath: path of a `.keras` file.

    Returns:
        The model, with its tuning mode re-applied from its config.

    Raises:
        ValueError: a missing, truncated or corrupted file, or one that would
            need to execute code.

    Example:

    ```python
    classifier.save("cola.keras")
    classifier = keras_adapters.load_model("cola.keras")
    ```
    """
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise ValueError(f"No such model file: '{filepath}'.")
    try:
        with zipfile.ZipFile(filepath) as archive:
            broken = archive.testzip()
    except zipfile.BadZipFile:
        broken = "the archive"
    if broken is not None:
        raise ValueError(
            f"'{filepath}' is truncated or corrupted ({broken} is unreadable); "
            "save the model again."
        )
    try:
        return keras.saving.load_model(filepath, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise ValueError(
                f"'{filepath}' contains serialized code (e.g. a Lambda layer); "
                "keras_adapters never executes code from a file."
            ) from None
        raise
