"""The parsed, checked form of an adapter artifact folder.

`Artifact.read` validates `adapter_config.json` (every value, by the task
class it names), the weights file's checksum and the stored arrays' sizes
before anything is built; `Artifact.check_base` checks the base model it is
loaded onto. `keras_adapters.save_adapters` writes the folders,
`keras_adapters.load_adapters` and `MultiTaskClassifier` read them through
this module.
"""

import dataclasses
import hashlib
import json
import os
import reprlib

import keras
import numpy as np
import safetensors
import safetensors.numpy

from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.models.adapter_bert_question_answerer import (
    AdapterBertQuestionAnswerer,
)
from keras_adapters.models.adapter_bert_text_classifier import (
    AdapterBertTextClassifier,
)
from keras_adapters.models.adapter_distil_bert_question_answerer import (
    AdapterDistilBertQuestionAnswerer,
)
from keras_adapters.models.adapter_distil_bert_text_classifier import (
    AdapterDistilBertTextClassifier,
)
from keras_adapters.models.adapter_electra_question_answerer import (
    AdapterElectraQuestionAnswerer,
)
from keras_adapters.models.adapter_electra_text_classifier import (
    AdapterElectraTextClassifier,
)
from keras_adapters.models.adapter_roberta_question_answerer import (
    AdapterRobertaQuestionAnswerer,
)
from keras_adapters.models.adapter_roberta_text_classifier import (
    AdapterRobertaTextClassifier,
)
from keras_adapters.models.adapter_xlm_roberta_question_answerer import (
    AdapterXLMRobertaQuestionAnswerer,
)
from keras_adapters.models.adapter_xlm_roberta_text_classifier import (
    AdapterXLMRobertaTextClassifier,
)
from keras_adapters.models.adapterhub_text_classifier import (
    AdapterHubTextClassifier,
)

CONFIG_FILE = "adapter_config.json"


WEIGHTS_FILE = "adapter_weights.safetensors"


FORMAT = "keras_adapters.adapter_artifact"


FORMAT_VERSION = 1


def _is_integer(value, minimum=1):
    """Whether `value` is a JSON integer (not a boolean) >= `minimum`."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= minimum
    )


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_file_name(value):
    """Whether `value` names a file directly inside the artifact folder."""
    return (
        isinstance(value, str)
        and value not in ("", ".", "..")
        and os.path.basename(value) == value
    )


def is_input_names(value, counts=(1, 2)):
    """Whether `value` is a list of names (`counts` of them, any number
    for `None`); by default one or two text inputs."""
    return (
        isinstance(value, (list, tuple))
        and (counts is None or len(value) in counts)
        and all(isinstance(name, str) and name for name in value)
    )


def _of_type(*types):
    return lambda value: isinstance(value, types)


# Checks of config values: a predicate and what it expects, for messages.
POSITIVE = (_is_integer, "a positive integer")


NUMBER = (_is_number, "a number")


BOOLEAN = (_of_type(bool), "true or false")


_ACTIVATION = (_of_type(str, dict), "an activation")


STRING = (_of_type(str), "a string")


# The arguments every classifier's artifact keeps, with their checks.
_CLASSIFIER = {
    "num_classes": POSITIVE,
    "activation": _ACTIVATION,
    "dropout": NUMBER,
    "regression": BOOLEAN,
}


# keras-hub's first-token heads (RoBERTa, XLM-RoBERTa, DistilBERT).
_FIRST_TOKEN_HEAD = {**_CLASSIFIER, "hidden_dim": POSITIVE}


# `ClassificationHead` heads (AdapterHub's, ELECTRA's).
_CLASSIFICATION_HEAD = {
    **_CLASSIFIER,
    "head_layers": POSITIVE,
    "head_activation": _ACTIVATION,
    "use_pooler": BOOLEAN,
    "head_bias": BOOLEAN,
}


# The task classes an artifact can hold, with the check of each of their
# constructor arguments.
TASKS = {
    "AdapterBertTextClassifier": (AdapterBertTextClassifier, _CLASSIFIER),
    "AdapterRobertaTextClassifier": (
        AdapterRobertaTextClassifier,
        _FIRST_TOKEN_HEAD,
    ),
    "AdapterXLMRobertaTextClassifier": (
        AdapterXLMRobertaTextClassifier,
        _FIRST_TOKEN_HEAD,
    ),
    "AdapterDistilBertTextClassifier": (
        AdapterDistilBertTextClassifier,
        _FIRST_TOKEN_HEAD,
    ),
    "AdapterElectraTextClassifier": (
        AdapterElectraTextClassifier,
        _CLASSIFICATION_HEAD,
    ),
    "AdapterHubTextClassifier": (
        AdapterHubTextClassifier,
        {
            **_CLASSIFICATION_HEAD,
            "labels": (
                lambda value: value is None or is_input_names(value, None),
                "null or a list of names",
            ),
        },
    ),
    "AdapterBertQuestionAnswerer": (AdapterBertQuestionAnswerer, {}),
    "AdapterRobertaQuestionAnswerer": (AdapterRobertaQuestionAnswerer, {}),
    "AdapterXLMRobertaQuestionAnswerer": (
        AdapterXLMRobertaQuestionAnswerer,
        {},
    ),
    "AdapterDistilBertQuestionAnswerer": (
        AdapterDistilBertQuestionAnswerer,
        {},
    ),
    "AdapterElectraQuestionAnswerer": (AdapterElectraQuestionAnswerer, {}),
}


# The other values `load_adapters` reads, by config section.
_CONFIG_KEYS = {
    "adapter": {
        "adapter_size": (
            lambda value: _is_integer(value, minimum=0),
            "an integer >= 0",
        ),
        "adapter_init_scale": NUMBER,
        "adapter_activation": _ACTIVATION,
    },
    "tuning": {
        "mode": STRING,
        "top_k": (
            lambda value: value is None or _is_integer(value),
            "null or a positive integer",
        ),
        "train_pooler": BOOLEAN,
    },
    "base_model": {
        "config": (_of_type(dict), "an object"),
        "fingerprint": STRING,
    },
    "weights": {"file": (_is_file_name, "a file name"), "sha256": STRING},
}


# Values that artifacts of older versions lack: `load_adapters` reads them
# with their defaults (adapters in every block, adapter-bert's config,
# nothing frozen below them, the LayerNorms trained in mode "adapters").
_OPTIONAL_KEYS = {
    "adapter": {
        "adapter_layers": (
            lambda value: value is None or _is_integer(value),
            "null or a positive integer",
        ),
        "adapter_config": (_of_type(dict), "an object"),
    },
    "tuning": {
        "freeze_below_adapters": BOOLEAN,
        "train_layer_norms": BOOLEAN,
    },
}


# Preprocessor settings an artifact keeps (the tokenizer comes from the
# base); each is optional.
PREPROCESSOR_KEYS = {
    "sequence_length": POSITIVE,
    "doc_stride": POSITIVE,
    "max_query_length": POSITIVE,
}


# The config sizes that set the last dimension of stored arrays, with the
# end of those arrays' paths.
_STORED_SIZES = {
    "adapter.adapter_size": "_adapter/down_bias",
    "task.num_classes": "logits/kernel",
}


def base_fingerprint(model, exclude_paths, variables=None):
    """SHA-256 over path, shape, dtype and bytes of the base variables.

    Args:
        model: a task or backbone.
        exclude_paths: variable paths left out (those the artifact stores).
        variables: optional list of the variables to fingerprint. Defaults
            to `model.weights`.

    Returns:
        A hex digest identifying the frozen pretrained weights.
    """
    digest = hashlib.sha256()
    excluded = set(exclude_paths)
    if variables is None:
        variables = model.weights
    for variable in sorted(variables, key=lambda v: v.path):
        if variable.path in excluded:
            continue
        value = np.ascontiguousarray(variable.numpy())
        digest.update(f"{variable.path}|{value.shape}|{value.dtype}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def file_sha256(path):
    """The SHA-256 hex digest of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def base_config(backbone):
    """The architecture of `backbone` without its adapters, as an artifact
    stores it. keras-hub's feedforward activation, which every artifact
    written before `intermediate_activation` existed was trained with, is
    left out."""
    config = backbone.get_config()
    for key in [
        *adapter_section(backbone),
        "name",
        "trainable",
        "dtype",
    ]:
        config.pop(key, None)
    if config.get("intermediate_activation") == keras.activations.serialize(
        gelu_approximate
    ):
        del config["intermediate_activation"]
    return config


def adapter_section(backbone):
    """The adapter settings of `backbone`, as an artifact stores them: the
    config, and its width, initializer scale and activation as artifacts
    written before adapter configs existed held them."""
    return {
        "adapter_size": backbone.adapter_size,
        "adapter_init_scale": backbone.adapter_init_scale,
        "adapter_activation": keras.activations.serialize(
            backbone.adapter_activation
        ),
        "adapter_layers": backbone.adapter_layers,
        "adapter_config": backbone.adapter_config.get_config(),
    }


def read_artifact_config(directory):
    """Reads and validates `adapter_config.json` of an artifact folder.

    Args:
        directory: an artifact folder written by `save_adapters`.

    Returns:
        The config dict (see the module docstring).

    Raises:
        ArtifactError: missing folder or file, invalid JSON, other format,
            an unknown task class, or a missing or invalid value (the
            message names the file and the dotted key, e.g.
            `'adapter.adapter_size'`).
    """
    path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(path):
        raise ArtifactError(
            f"No {CONFIG_FILE} in '{directory}': not an adapter artifact "
            "folder (write one with keras_adapters.save_adapters)."
        )
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(
            f"{path} is not valid JSON ({error}); the artifact is corrupted."
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ArtifactError(f"{path} is not a keras_adapters artifact config.")
    if config.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has format version {config.get('format_version')}; "
            f"this keras_adapters reads version {FORMAT_VERSION}."
        )
    check_section(config, path, "task", {"class": STRING})
    task_name = config["task"]["class"]
    if task_name not in TASKS:
        raise ArtifactError(
            f"The artifact in '{directory}' holds a {task_name}, which this "
            "keras_adapters does not know; upgrade keras_adapters."
        )
    check_section(config, path, "task", TASKS[task_name][1])
    for section, checks in _CONFIG_KEYS.items():
        check_section(config, path, section, checks)
    inputs = config.get("inputs")
    if inputs is not None and not is_input_names(inputs):
        raise ArtifactError(
            f"{path}: 'inputs' is {reprlib.repr(inputs)}, not one or two "
            "input names; the artifact is corrupted, write it again with "
            "keras_adapters.save_adapters."
        )
    for section, checks in _OPTIONAL_KEYS.items():
        check_section(config, path, section, checks, required=False)
    _check_adapter_layers(config, path)
    _artifact_adapter_config(config, path)
    if "preprocessor" in config:
        check_section(
            config, path, "preprocessor", PREPROCESSOR_KEYS, required=False
        )
    return config


def _check_adapter_layers(config, path):
    """Raises if `adapter.adapter_layers` exceeds the base model's blocks."""
    adapter_layers = config["adapter"].get("adapter_layers")
    num_layers = config["base_model"]["config"].get("num_layers")
    too_many = _is_integer(num_layers) and (adapter_layers or 0) > num_layers
    if too_many:
        raise ArtifactError(
            f"{path}: 'adapter.adapter_layers' is {adapter_layers}, more than "
            f"the base model's {num_layers} blocks; the artifact is "
            "corrupted, write it again with keras_adapters.save_adapters."
        )


def check_section(
    config, path, section, checks, required=True, writer="save_adapters"
):
    """Checks the values of one section of an artifact config.

    Args:
        config: the config dict.
        path: the config file, for messages.
        section: the section's key, e.g. `"adapter"`.
        checks: dict from each key of the section to `(check, expected)`:
            a predicate on the value and what it expects, for the message.
        required: whether every key of `checks` must be present.
        writer: the `keras_adapters` function that writes such artifacts,
            for messages.

    Raises:
        ArtifactError: a missing section or key, or an invalid value.
    """
    fix = f"write it again with keras_adapters.{writer}."

    def check(key, value, is_valid, expected):
        if not is_valid(value):
            raise ArtifactError(
                f"{path}: '{key}' is {reprlib.repr(value)}, not {expected}; "
                f"the artifact is corrupted, {fix}"
            )

    def missing(key):
        return ArtifactError(
            f"{path} has no '{key}'; the artifact is incomplete, {fix}"
        )

    if section not in config:
        raise missing(section)
    values = config[section]
    check(section, values, _of_type(dict), "an object")
    for key, (is_valid, expected) in checks.items():
        if key in values:
            check(f"{section}.{key}", values[key], is_valid, expected)
        elif required:
            raise missing(f"{section}.{key}")


def read_weights(directory, config):
    """The `{path: array}` of an artifact's weights file, checked against
    the checksum its config records (`config["weights"]`)."""
    path = os.path.join(directory, config["weights"]["file"])
    if not os.path.isfile(path):
        raise ArtifactError(f"Missing weights file {path}.")
    if file_sha256(path) != config["weights"]["sha256"]:
        raise ArtifactError(
            f"{path} does not match the checksum in {CONFIG_FILE}: the file "
            "is truncated or corrupted. Copy the artifact again."
        )
    try:
        return safetensors.numpy.load_file(path)
    except safetensors.SafetensorError as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        raise ArtifactError(
            f"{path} is not a readable safetensors file ({reason}); the "
            "artifact is corrupted. Copy it again."
        ) from None


def _check_stored_sizes(directory, config, weights):
    """Checks the sizes in the config against the stored arrays.

    Runs before any model is built, so that an edited size can neither
    allocate a huge model nor fail deep inside Keras.

    Args:
        directory: the artifact folder, for messages.
        config: its validated config.
        weights: its `{path: array}` weights.

    Raises:
        ArtifactError: a size that differs from the stored arrays' length.
    """
    for key, suffix in _STORED_SIZES.items():
        section, name = key.split(".")
        if name not in config[section]:
            continue
        size = config[section][name]
        stored = sorted(
            {
                value.shape[-1]
                for path, value in weights.items()
                if path.endswith(suffix)
            }
        )
        if stored != ([size] if size else []):
            raise ArtifactError(
                f"{os.path.join(directory, CONFIG_FILE)}: '{key}' is {size}, "
                f"but {os.path.join(directory, config['weights']['file'])} "
                f"stores size {', '.join(map(str, stored)) or 'none'}; the "
                "artifact is corrupted, write it again with "
                "keras_adapters.save_adapters."
            )


@dataclasses.dataclass(frozen=True)
class SavedTask:
    """A saved task folder, read: its folder, its validated config and its
    weights, with what the config records for serving the task (its text
    inputs and its preprocessor settings).

    Attributes:
        directory: the folder.
        config: the validated `adapter_config.json`.
        weights: `{variable path: array}`, matching their checksum.
    """

    directory: str
    config: dict
    weights: dict

    @property
    def inputs(self):
        """The names of the text inputs, or `None` when none were saved."""
        return self.config.get("inputs")

    @property
    def preprocessor(self):
        """The saved preprocessor settings (`sequence_length`, ...)."""
        return self.config.get("preprocessor", {})


@dataclasses.dataclass(frozen=True)
class Artifact(SavedTask):
    """An adapter artifact, read and checked: its config and its weights.

    The one parsed form of an artifact folder: `load_adapters` and
    `MultiTaskClassifier` read artifacts through it, and it owns the checks
    of an artifact against the base model it is loaded onto. Nothing is
    built while reading.

    Attributes:
        directory: the artifact folder.
        config: the validated `adapter_config.json` (see
            `read_artifact_config`).
        weights: the `{variable path: array}` weights, whose checksum and
            sizes match the config.

    Example:

    ```python
    artifact = Artifact.read("cola_adapters")
    artifact.adapter_config.name, artifact.labels  # ('adapter-bert', [...])
    ```
    """

    @classmethod
    def read(cls, directory):
        """Reads an artifact folder written by `save_adapters`.

        Args:
            directory: the artifact folder.

        Returns:
            An `Artifact`.

        Raises:
            ArtifactError: a missing, incomplete or corrupted file.
        """
        directory = os.fspath(directory)
        config = read_artifact_config(directory)
        weights = read_weights(directory, config)
        _check_stored_sizes(directory, config, weights)
        return cls(directory, config, weights)

    @property
    def task_class(self):
        """The task class the artifact was saved from."""
        return TASKS[self.config["task"]["class"]][0]

    @property
    def adapter_config(self):
        """The `AdapterConfig` of the artifact's adapters."""
        return _artifact_adapter_config(
            self.config, os.path.join(self.directory, CONFIG_FILE)
        )

    @property
    def labels(self):
        """The class names, or `None` when none were saved."""
        return self.config["labels"]

    def check_base(self, model, variables=None, fingerprints=None):
        """Raises unless `model` holds the base the artifact was trained on.

        Checks the architecture (`base_model.config`) and the frozen
        weights (`base_model.fingerprint`, over every weight of `model`
        that the artifact does not store).

        Args:
            model: a task or backbone holding the base weights.
            variables: optional list of the base variables of `model`.
                Defaults to `model.weights`.
            fingerprints: optional dict, a cache of fingerprints of
                `variables` by the paths they leave out, for checking many
                artifacts against one model.

        Raises:
            ArtifactError: another architecture (naming each value that
                differs) or other weights.
        """
        check_base_config(self.config, getattr(model, "backbone", model))
        if variables is None:
            variables = model.weights
        excluded = frozenset(self.weights) & {
            variable.path for variable in variables
        }
        fingerprints = {} if fingerprints is None else fingerprints
        if excluded not in fingerprints:
            fingerprints[excluded] = base_fingerprint(
                model, excluded, variables
            )
        if fingerprints[excluded] != self.config["base_model"]["fingerprint"]:
            raise ArtifactError(
                "The base model's weights differ from the ones these adapters "
                "were trained on (fingerprint mismatch); load them onto the "
                "same pretrained checkpoint."
            )


def check_base_config(config, backbone):
    """Raises unless `backbone` has the architecture an artifact was
    trained on (adapter settings aside).

    Args:
        config: a validated artifact config.
        backbone: the BERT backbone to load it onto.

    Raises:
        ArtifactError: naming each config value that differs.
    """
    expected = config["base_model"]["config"]
    actual = base_config(backbone)
    if expected != actual:
        differences = sorted(
            f"{key}: trained on {expected.get(key)}, given {actual.get(key)}"
            for key in set(expected) | set(actual)
            if expected.get(key) != actual.get(key)
        )
        raise ArtifactError(
            "The adapters were trained on a different base architecture ("
            + "; ".join(differences)
            + "). Load them onto the base model they were trained on."
        )


def _artifact_adapter_config(config, path):
    """The `AdapterConfig` an artifact config describes (adapter-bert's with
    the stored settings for artifacts written before adapter configs)."""
    adapter = config["adapter"]
    try:
        if "adapter_config" in adapter:
            return AdapterConfig.from_config(adapter["adapter_config"])
        return AdapterConfig.get(None).with_settings(
            adapter["adapter_size"],
            adapter["adapter_init_scale"],
            adapter["adapter_activation"],
        )
    except KerasAdaptersError as error:
        raise ArtifactError(
            f"{path}: 'adapter': {error} The artifact is corrupted, write it "
            "again with keras_adapters.save_adapters."
        ) from None
