"""Hides TensorFlow's C++ start-up lines for the top-level scripts.

TensorFlow prints oneDNN, CUDA and CPU-feature notices to standard error
when it loads, before its log level applies, so a one-line error of the
scripts would arrive surrounded by them. Imported first by the scripts, this
loads TensorFlow with standard error closed and sets `TF_CPP_MIN_LOG_LEVEL`
to 3, unless the user set that variable (then everything prints).
"""

import os

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
