"""Running the top-level scripts: flags in, one-line errors out."""

import os
import sys
import traceback

from absl import app
from absl import flags

import keras_adapters

_PACKAGE_DIR = os.path.dirname(os.path.abspath(keras_adapters.__file__))


def _raised_by(error, paths):
    """Whether the innermost frame of `error` lies under one of `paths`."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(
        tuple(paths)
    )


def run_script(main, script_path):
    """Runs an absl `main`; a bad input becomes one line and exit code 2.

    A flag that does not exist or has a bad value, and `ValueError`s raised by keras_adapters itself (or by the script) are the
    library's checks of files, flags and checkpoints: they are printed as
    `<script>: error: <message>` and the process exits with status 2. Any
    other exception, including a `ValueError` from deep inside TensorFlow
    or Keras, keeps its traceback, since it is a bug rather than bad input.

    Args:
        main: the absl main function.
        script_path: `__file__` of the script.
    """
    name = os.path.basename(script_path)

    def fail(message):
        print(f"{name}: error: {' '.join(str(message).split())}", file=sys.stderr)
        sys.exit(2)

    def parse_flags(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as error:  # An unknown flag or a bad value.
            fail(error)

    try:
        app.run(main, flags_parser=parse_flags)
    except ValueError as error:
        if not _raised_by(error, (_PACKAGE_DIR, os.path.abspath(script_path))):
            raise
        fail(error)
