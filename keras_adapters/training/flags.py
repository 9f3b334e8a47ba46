"""Run settings -> absl flags, and parsed flags -> run config.

The flags of the commands are the fields of their configs
(`keras_adapters.training.run_config.setting`): same names, defaults,
help and allowed values; `flag_table` renders the same fields for the
command-line reference.
"""

import dataclasses
import re
import sys

from absl import flags

from keras_adapters.training.classifier_run import ClassifierRunConfig
from keras_adapters.training.multitask_export import MultiTaskExportConfig
from keras_adapters.training.squad_run import SquadRunConfig

_DEFINE = {
    bool: flags.DEFINE_bool,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
    list: flags.DEFINE_list,  # Comma-separated values.
}


def flag_fields(config_cls):
    """The fields of `config_cls` that are flags, in declaration order."""
    return [
        field
        for field in dataclasses.fields(config_cls)
        if field.metadata.get("flag", False)
    ]


def define_flags(config_cls):
    """Defines one absl flag per setting of `config_cls`.

    Args:
        config_cls: a `RunConfig` dataclass.
    """
    for field in flag_fields(config_cls):
        help_text = field.metadata["help"]
        choices = field.metadata["choices"]
        if choices:
            flags.DEFINE_enum(field.name, field.default, choices, help_text)
        elif field.metadata["repeated"]:
            flags.DEFINE_multi_string(field.name, field.default, help_text)
        else:
            _DEFINE[field.type](field.name, field.default, help_text)


def config_from_flags(config_cls, **fields):
    """A run config from every parsed flag that names one of its fields.

    Args:
        config_cls: a `RunConfig` dataclass.
        **fields: fields set by the script itself (they win).

    Returns:
        A `config_cls` instance.
    """
    values = {
        field.name: flags.FLAGS[field.name].value
        for field in flag_fields(config_cls)
        if field.name not in fields
    }
    return config_cls(**values, **fields)


def flag_table(config_cls):
    """The flags of `config_cls` as a Markdown table (flag, default, help).

    Args:
        config_cls: a `RunConfig` dataclass.

    Returns:
        str, the table, one row per flag, ending with a newline.
    """

    def default(field):
        if field.default is None:
            return ""
        if isinstance(field.default, bool):
            return str(field.default).lower()
        return f"`{field.default}`"

    def name(field):
        repeated = " (repeated)" if field.metadata["repeated"] else ""
        return f"`--{field.name}`{repeated}"

    def cell(text):
        # Markdown would read `<output_dir>` as an HTML tag.
        for char, escaped in (("|", "\\|"), ("<", "&lt;"), (">", "&gt;")):
            text = text.replace(char, escaped)
        return text

    rows = ["| flag | default | meaning |", "|---|---|---|"]
    for field in flag_fields(config_cls):
        meaning = field.metadata["help"]
        if field.metadata["choices"]:
            meaning += " One of: " + ", ".join(field.metadata["choices"]) + "."
        rows.append(f"| {name(field)} | {default(field)} | {cell(meaning)} |")
    return "\n".join(rows) + "\n"


def command_configs():
    """`{command name: config class}` of the package's commands."""
    return {
        "keras-adapters-classifier": ClassifierRunConfig,
        "keras-adapters-squad": SquadRunConfig,
        "keras-adapters-export-multitask": MultiTaskExportConfig,
    }


_TABLE = re.compile(
    r"(<!-- flags: (?P<command>[\w-]+) -->\n).*?(<!-- end of flags -->)",
    re.DOTALL,
)


def update_flag_tables(markdown):
    """`markdown` with each generated flag table replaced by a fresh one.

    A table is whatever lies between `<!-- flags: COMMAND -->` and
    `<!-- end of flags -->` (the command-line reference in the docs).

    Args:
        markdown: str, a Markdown document.

    Returns:
        The document with every table rendered from the code again.
    """
    configs = command_configs()
    return _TABLE.sub(
        lambda match: (
            match.group(1)
            + "\n"
            + flag_table(configs[match.group("command")])
            + "\n"
            + match.group(3)
        ),
        markdown,
    )


if __name__ == "__main__":
    # python -m keras_adapters.training.flags docs/command-line.md
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(update_flag_tables(text))
