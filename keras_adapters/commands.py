"""The package's commands, and the quiet start of TensorFlow they need.

Installing keras_adapters installs three commands, each a module of this
package that `python -m` runs as well (and, in a checkout, the top-level
script of the same name):

- `keras-adapters-classifier`: `keras_adapters.run_classifier`
  (`run_classifier.py`);
- `keras-adapters-squad`: `keras_adapters.run_squad` (`run_squad.py`);
- `keras-adapters-export-multitask`: `keras_adapters.export_multitask`
  (`export_multitask.py`).

A command's bad input is one line on standard error. TensorFlow prints
notices (oneDNN, CPU features, CUDA probing) when it loads and C++ log
lines later, unless `TF_CPP_MIN_LOG_LEVEL` is set before it loads; and
`import keras_adapters` loads it before any command module runs. So the
package's `__init__` calls `start_quietly()` first: in a process started as
one of the commands (read from the interpreter's own command line), it
sets `TF_CPP_MIN_LOG_LEVEL` to 3 (unless the user set it: then everything
prints) and loads TensorFlow with standard error closed; on the TensorFlow
backend it also keeps JAX out, which TensorFlow would import whenever it is
installed (about 120 MiB). In any other process it does nothing.
"""

import json
import os
import sys

# Command name -> module.
COMMANDS = {
    "keras-adapters-classifier": "keras_adapters.run_classifier",
    "keras-adapters-squad": "keras_adapters.run_squad",
    "keras-adapters-export-multitask": "keras_adapters.export_multitask",
}
# Interpreter options that take a value (`python -X dev -m ...`).
_OPTIONS_WITH_VALUE = ("-X", "-W", "--check-hash-based-pycs")


def command_of(argv):
    """The command a process runs, from the interpreter's command line.

    Args:
        argv: list of str, the process's `sys.orig_argv` (the interpreter,
            its options, then the script or `-m module`, then arguments).

    Returns:
        The command's name (a key of `COMMANDS`), or None.
    """
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            module = next(args, None)
            return next(
                (name for name, m in COMMANDS.items() if m == module), None
            )
        if arg in _OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            script = os.path.basename(arg)
            for name, module in COMMANDS.items():
                if script in (name, module.rsplit(".", 1)[1] + ".py"):
                    return name
            return None
        elif arg == "-c":
            return None
    return None


def keras_backend():
    """The Keras backend the process will use, read as Keras reads it."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras"))
    try:
        with open(os.path.join(home, "keras.json")) as handle:
            return json.load(handle).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def start_quietly():
    """In a command's process, loads TensorFlow quietly (see the module
    docstring); elsewhere does nothing."""
    if command_of(getattr(sys, "orig_argv", sys.argv)) is None:
        return
    if keras_backend() == "tensorflow" and "jax" not in sys.modules:
        sys.modules["jax"] = None  # `import jax` raises ImportError.
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(devnull)
