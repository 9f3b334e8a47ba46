"""The parsed, checked form of an AdapterFusion artifact folder.

`keras_adapters.save_fusion` writes the folder: `adapter_config.json`
(format `keras_adapters.fusion_artifact`: the fused adapters by name and
weights checksum, the `AdapterFusion` arguments, the head's task, and
optionally the text inputs and the sequence length) and the trained fusion
layers and head in `fusion_weights.safetensors`. `FusionArtifact.read`
validates both before anything is built; `keras_adapters.load_fusion` and
`MultiTaskClassifier` read fusion folders through it.
"""

import dataclasses
import json
import os
import reprlib

from keras_adapters.errors import ArtifactError
from keras_adapters.models.artifact import BOOLEAN
from keras_adapters.models.artifact import CONFIG_FILE
from keras_adapters.models.artifact import POSITIVE
from keras_adapters.models.artifact import STRING
from keras_adapters.models.artifact import SavedTask
from keras_adapters.models.artifact import check_section
from keras_adapters.models.artifact import is_input_names
from keras_adapters.models.artifact import read_weights

FUSION_FORMAT = "keras_adapters.fusion_artifact"
FUSION_WEIGHTS_FILE = "fusion_weights.safetensors"
# The `AdapterFusion` arguments a fusion artifact may record.
FUSION_ARGUMENTS = (
    "query",
    "key",
    "value",
    "regularization",
    "temperature",
    "dropout",
)


def _is_fused_adapter(entry):
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("weights_sha256"), str)
    )


def _is_fused_adapters(value):
    return (
        isinstance(value, list)
        and len(value) >= 2
        and all(map(_is_fused_adapter, value))
    )


def _is_labels(value):
    return value is None or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _is_fusion_arguments(value):
    return isinstance(value, dict) and set(value) <= set(FUSION_ARGUMENTS)


_FUSION_KEYS = {
    "adapters": (
        _is_fused_adapters,
        "a list of two or more {name, weights_sha256}",
    ),
    "fusion": (_is_fusion_arguments, "AdapterFusion arguments"),
}
_TASK_KEYS = {
    "num_classes": POSITIVE,
    "regression": BOOLEAN,
    "labels": (_is_labels, "a list of class names or null"),
}
_WEIGHTS_KEYS = {"file": STRING, "sha256": STRING}


@dataclasses.dataclass(frozen=True)
class FusionArtifact(SavedTask):
    """An AdapterFusion artifact, read and checked.

    Attributes:
        directory: the artifact folder.
        config: the validated `adapter_config.json`.
        weights: `{variable path: array}` of the fusion layers and the head
            (`transformer_layer_0/feedforward_fusion/query_kernel`, ...,
            `classification_head/logits/bias`), matching their checksum.

    Example:

    ```python
    fusion = FusionArtifact.read("mrpc_fusion")
    fusion.adapters  # [("cola", "92df1b..."), ("mrpc", "14ab54...")]
    ```
    """

    @classmethod
    def read(cls, directory):
        """Reads a folder written by `keras_adapters.save_fusion`.

        Raises:
            ArtifactError: a missing, incomplete or corrupted file, naming
                it and the value.
        """
        directory = os.fspath(directory)
        config = read_fusion_config(directory)
        return cls(directory, config, read_weights(directory, config))

    @property
    def adapters(self):
        """`[(name, weights sha256)]` of the fused adapters, in order."""
        return [
            (entry["name"], entry["weights_sha256"])
            for entry in self.config["adapters"]
        ]

    @property
    def fusion_arguments(self):
        """The `AdapterFusion` arguments the fusion was built with."""
        return dict(self.config["fusion"])

    @property
    def task(self):
        """`{"num_classes", "regression", "labels"}` of the new head."""
        return self.config["task"]


def is_fusion_folder(directory):
    """Whether `directory` holds a fusion artifact's config (checked no
    further)."""
    try:
        with open(os.path.join(directory, CONFIG_FILE)) as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("format") == FUSION_FORMAT


def read_fusion_config(directory):
    """Reads and validates `adapter_config.json` of a fusion folder.

    Raises:
        ArtifactError: a missing folder or file, invalid JSON, another
            format, or a missing or invalid value (naming the file and the
            dotted key).
    """
    path = os.path.join(directory, CONFIG_FILE)
    try:
        with open(path) as handle:
            config = json.load(handle)
    except OSError:
        raise ArtifactError(
            f"No {CONFIG_FILE} in '{directory}': not a fusion artifact folder "
            "(write one with keras_adapters.save_fusion)."
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ArtifactError(
            f"{path} is not valid JSON ({error}); the artifact is corrupted."
        ) from None
    if not isinstance(config, dict) or config.get("format") != FUSION_FORMAT:
        raise ArtifactError(f"{path} is not a keras_adapters fusion artifact.")
    for key, (is_valid, expected) in _FUSION_KEYS.items():
        if not is_valid(config.get(key)):
            raise ArtifactError(
                f"{path}: '{key}' is {reprlib.repr(config.get(key))}, not "
                f"{expected}; the artifact is corrupted, write it again with "
                "keras_adapters.save_fusion."
            )
    for section, checks in (("task", _TASK_KEYS), ("weights", _WEIGHTS_KEYS)):
        check_section(config, path, section, checks, writer="save_fusion")
    inputs = config.get("inputs")
    if inputs is not None and not is_input_names(inputs):
        raise ArtifactError(
            f"{path}: 'inputs' is {reprlib.repr(inputs)}, not one or two "
            "input names; the artifact is corrupted."
        )
    if "preprocessor" in config:
        check_section(
            config,
            path,
            "preprocessor",
            {"sequence_length": POSITIVE},
            writer="save_fusion",
        )
    return config
