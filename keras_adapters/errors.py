"""The base class of every error keras_adapters raises for bad input."""


class KerasAdaptersError(ValueError):
    """A bad file, argument, checkpoint or artifact, told in one line.

    Every input error the library raises derives from this class, so a
    caller (the scripts, a notebook) can tell bad input apart from a bug:

    ```python
    try:
        load_adapters("cola_adapters", base)
    except keras_adapters.KerasAdaptersError as error:
        print(error)
    ```
    """


class ArtifactError(KerasAdaptersError):
    """A missing, corrupted or incompatible adapter artifact or folder."""
