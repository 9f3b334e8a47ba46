"""Running the top-level scripts: flags in, one-line errors out."""

import os
import re
import sys

from absl import app
from absl import flags
from absl import logging

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.version import __version__

# How the library names an argument in a message: `max_seq_length`.
_ARGUMENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
# Library arguments whose flag has another name.
_FLAG_OF_ARGUMENT = {
    "sequence_length": "max_seq_length",
    "top_k": "top_k_layers",
}


def in_flag_words(message, flag_of_argument=None):
    """`message` with each argument that is also a flag named as the flag:
    `` `max_seq_length`=0 `` becomes `--max_seq_length=0`.

    Args:
        message: str, a `KerasAdaptersError` message.
        flag_of_argument: optional dict of the script's own library
            argument -> flag names, beside the ones every script shares.

    Returns:
        The message, on one line.
    """
    renames = dict(_FLAG_OF_ARGUMENT, **(flag_of_argument or {}))

    def flag(match):
        name = renames.get(match.group(1), match.group(1))
        return f"--{name}" if name in flags.FLAGS else match.group(0)

    return _ARGUMENT.sub(flag, " ".join(str(message).split()))


def run_script(main, flag_of_argument=None):
    """Runs an absl `main`; a bad input becomes one line and exit code 2.

    `--version` prints the package version. A flag that does not exist or
    has a bad value, and any
    `KerasAdaptersError` (a bad file, flag value, checkpoint or artifact)
    are printed as `<script>: error: <message>`, with arguments named as
    their flags, and the process exits with status 2. Any other exception
    keeps its traceback, since it is a bug rather than bad input.

    Args:
        main: the absl main function.
        flag_of_argument: optional dict of library argument -> flag names
            where the script's flag has another name (see
            `in_flag_words`).
    """
    # The name the command was started by: `keras-adapters-classifier`,
    # or `run_classifier.py`.
    name = os.path.basename(sys.argv[0])

    def fail(message):
        print(
            f"{name}: error: {in_flag_words(message, flag_of_argument)}",
            file=sys.stderr,
        )
        sys.exit(2)

    if "version" not in flags.FLAGS:
        flags.DEFINE_bool("version", False, "Print the version and exit.")
    # `--help` lists the flags of the program it was started as; the
    # command's flags are defined in this package's modules.
    for module, defined in flags.FLAGS.flags_by_module_dict().items():
        if module.startswith("keras_adapters"):
            for flag in defined:
                flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)

    def parse_flags(argv):
        try:
            argv = flags.FLAGS(argv)
        except flags.Error as error:  # An unknown flag or a bad value.
            fail(error)
        if flags.FLAGS.version:
            print(f"keras_adapters {__version__}")
            sys.exit(0)
        if not flags.FLAGS["verbosity"].present:
            # absl would log at INFO: TensorFlow's and JAX's notices.
            logging.set_verbosity(logging.WARNING)
        return argv

    try:
        app.run(main, flags_parser=parse_flags)
    except KerasAdaptersError as error:
        fail(error)
