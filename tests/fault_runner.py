"""Runs a top-level script and kills it with SIGKILL at one named point.

    python tests/fault_runner.py POINT SCRIPT [FLAGS...]

The kill is real (no exception handler, `finally` or `atexit` runs), at a
point inside the library's own code; `tests/test_fault_injection.py` then
reruns the same command and checks what it finds.
"""

import os
import runpy
import signal
import sys
from unittest import mock

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from keras_adapters import artifacts  # noqa: E402
from keras_adapters import export  # noqa: E402
from keras_adapters import output_files  # noqa: E402
from keras_adapters.training import callbacks  # noqa: E402
from keras_adapters.training import checkpoints  # noqa: E402
from keras_adapters.training import prefix_cache  # noqa: E402


def die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def run_then_die(original, when=lambda *args: True):
    """`original`, followed by a kill when `when(*args)` holds."""

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        if when(*args):
            die()
        return result

    return wrapped


def die_instead(*args, **kwargs):
    die()


def _step(callback):
    return int(callback.model.optimizer.iterations.numpy())


# Each point: (object, attribute, replacement).
POINTS = {
    # The prefix states are written, their checksum and key are not.
    "cache_build": (prefix_cache, "file_sha256", die_instead),
    # After optimizer step 5: between the checkpoints of steps 3 and 6.
    "training": (
        callbacks.StepLossLog,
        "on_train_batch_end",
        run_then_die(
            callbacks.StepLossLog.on_train_batch_end,
            lambda callback, *args: _step(callback) == 5,
        ),
    ),
    # The checkpoint of step 6 is written whole but not yet renamed.
    "checkpoint_commit": (
        checkpoints,
        "write_text",
        run_then_die(
            checkpoints.write_text,
            lambda path, text: "step-00000006" in path,
        ),
    ),
    # The artifact's weights are written, its config is not.
    "artifact_write": (artifacts, "write_text", die_instead),
    # The SavedModel is written whole but not yet renamed into place.
    "export": (
        export.tf.saved_model,
        "save",
        run_then_die(export.tf.saved_model.save),
    ),
    # The earlier SavedModel is moved aside, the new one not yet in place.
    "export_swap": (
        output_files.os,
        "replace",
        run_then_die(
            os.replace,
            lambda source, target: str(target).endswith(output_files.REPLACED),
        ),
    ),
}


def main():
    point, script, *flags = sys.argv[1:]
    owner, attribute, replacement = POINTS[point]
    sys.argv = [script, *flags]
    with mock.patch.object(owner, attribute, replacement):
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
