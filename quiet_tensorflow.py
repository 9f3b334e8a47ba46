"""Loads TensorFlow for the top-level scripts: quietly, and without JAX
when the Keras backend is TensorFlow.

TensorFlow prints oneDNN, CUDA and CPU-feature notices to standard error
when it loads, before its log level applies, so a one-line error of the
scripts would arrive surrounded by them. Imported first by the scripts, this
loads TensorFlow with standard error closed and sets `TF_CPP_MIN_LOG_LEVEL`
to 3, unless the user set that variable (then everything prints).

TensorFlow also imports JAX whenever JAX is installed (its TF Lite
converter looks for it), which adds about 120 MiB to every run; a run on
the TensorFlow backend never uses JAX, so there JAX is kept out.
"""

import json
import os
import sys


def keras_backend():
    """The Keras backend the run will use, read as Keras reads it."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras"))
    try:
        with open(os.path.join(home, "keras.json")) as handle:
            return json.load(handle).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


if keras_backend() == "tensorflow" and "jax" not in sys.modules:
    sys.modules["jax"] = None  # `import jax` raises ImportError.

if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    _stderr = os.dup(2)
    _devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(_devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(_stderr, 2)
        os.close(_stderr)
        os.close(_devnull)
