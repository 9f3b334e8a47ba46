"""Adapter-only artifacts: what one task trained, without the base model.

An artifact is a folder with two files (and the marker of
`keras_adapters.output_files`):

- `adapter_weights.safetensors`: every variable that is not an untouched
  pretrained base weight (the adapters, whatever the tuning mode trained,
  and the task head), keyed by Keras variable path;
- `adapter_config.json`: the task and adapter configuration, the tuning
  mode, the label list, the SHA-256 of the weights file and a fingerprint
  of the base weights it was trained on.

Loading checks the config's values, the weights checksum and the stored
arrays' sizes before building anything, and the fingerprint before writing
any variable, so an artifact on the wrong base model, or a truncated or
edited file, is a one-line error and never a half-loaded (or huge) model.
Nothing in an artifact is executed: the JSON holds plain values and
safetensors holds raw arrays.
"""

import dataclasses
import hashlib
import json
import os
import reprlib

import keras
import numpy as np
import safetensors.numpy

from keras_adapters.adapterhub.reader import is_adapterhub_folder
from keras_adapters.adapterhub.reader import load_adapterhub
from keras_adapters.adapterhub.writer import save_adapterhub
from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.models import AdapterBackbone
from keras_adapters.models import AdapterBertQuestionAnswerer
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.models import AdapterDistilBertQuestionAnswerer
from keras_adapters.models import AdapterDistilBertTextClassifier
from keras_adapters.models import AdapterElectraQuestionAnswerer
from keras_adapters.models import AdapterElectraTextClassifier
from keras_adapters.models import AdapterHubTextClassifier
from keras_adapters.models import AdapterRobertaQuestionAnswerer
from keras_adapters.models import AdapterRobertaTextClassifier
from keras_adapters.models import AdapterXLMRobertaQuestionAnswerer
from keras_adapters.models import AdapterXLMRobertaTextClassifier
from keras_adapters.output_files import save_safetensors
from keras_adapters.output_files import write_folder
from keras_adapters.output_files import write_text
from keras_adapters.tuning import parameter_groups
from keras_adapters.weight_transfer import assign_by_path

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_weights.safetensors"
FORMAT = "keras_adapters.adapter_artifact"
FORMAT_VERSION = 1
# The folder formats `save_adapters` writes: this package's, AdapterHub's.
ARTIFACT_FORMATS = ("keras_adapters", "adapterhub")
# The kind of folder `save_adapters` writes (`keras_adapters.output_files`).
ADAPTERS = "adapters"


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


def _is_input_names(value, counts=(1, 2)):
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
_POSITIVE = (_is_integer, "a positive integer")
_NUMBER = (_is_number, "a number")
_BOOLEAN = (_of_type(bool), "true or false")
_ACTIVATION = (_of_type(str, dict), "an activation")
_STRING = (_of_type(str), "a string")
# The arguments every classifier's artifact keeps, with their checks.
_CLASSIFIER = {
    "num_classes": _POSITIVE,
    "activation": _ACTIVATION,
    "dropout": _NUMBER,
    "regression": _BOOLEAN,
}
# keras-hub's first-token heads (RoBERTa, XLM-RoBERTa, DistilBERT).
_FIRST_TOKEN_HEAD = {**_CLASSIFIER, "hidden_dim": _POSITIVE}
# `ClassificationHead` heads (AdapterHub's, ELECTRA's).
_CLASSIFICATION_HEAD = {
    **_CLASSIFIER,
    "head_layers": _POSITIVE,
    "head_activation": _ACTIVATION,
    "use_pooler": _BOOLEAN,
    "head_bias": _BOOLEAN,
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
                lambda value: value is None or _is_input_names(value, None),
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
        "adapter_init_scale": _NUMBER,
        "adapter_activation": _ACTIVATION,
    },
    "tuning": {
        "mode": _STRING,
        "top_k": (
            lambda value: value is None or _is_integer(value),
            "null or a positive integer",
        ),
        "train_pooler": _BOOLEAN,
    },
    "base_model": {
        "config": (_of_type(dict), "an object"),
        "fingerprint": _STRING,
    },
    "weights": {"file": (_is_file_name, "a file name"), "sha256": _STRING},
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
        "freeze_below_adapters": _BOOLEAN,
        "train_layer_norms": _BOOLEAN,
    },
}
# Preprocessor settings an artifact keeps (the tokenizer comes from the
# base); each is optional.
_PREPROCESSOR_KEYS = {
    "sequence_length": _POSITIVE,
    "doc_stride": _POSITIVE,
    "max_query_length": _POSITIVE,
}
# The config sizes that set the last dimension of stored arrays, with the
# end of those arrays' paths.
_STORED_SIZES = {
    "adapter.adapter_size": "_adapter/down_bias",
    "task.num_classes": "logits/kernel",
}


def _task_variable_paths(model):
    """Paths of the variables an artifact stores: all but pristine base."""
    groups = parameter_groups(model)
    stored = groups["adapters"] + groups["head"]
    stored += [
        variable
        for variable in groups["layer_norms"]
        + groups["pooler"]
        + groups["rest"]
        if variable.trainable
    ]
    return sorted({variable.path for variable in stored})


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


def _base_config(backbone):
    """The architecture of `backbone` without its adapters, as an artifact
    stores it. keras-hub's feedforward activation, which every artifact
    written before `intermediate_activation` existed was trained with, is
    left out."""
    config = backbone.get_config()
    for key in [
        *_adapter_section(backbone),
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


def _adapter_section(backbone):
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


def save_adapters(
    model,
    directory,
    labels=None,
    inputs=None,
    format="keras_adapters",
    **format_options,
):
    """Saves only what a task trained, plus what is needed to reload it.

    Args:
        model: an `AdapterBertTextClassifier`, an `AdapterHubTextClassifier`
            or an `AdapterBertQuestionAnswerer`.
        directory: output folder, written whole and then renamed into
            place. An artifact this package wrote there earlier is
            replaced; any other existing folder, a file, or the current
            folder is refused (`OutputFolderError`).
        labels: optional list of label names, in class-id order
            (classifiers).
        inputs: optional names of a classifier's text inputs,
            `["sentence"]` or `["sentence1", "sentence2"]` for sentence
            pairs; `MultiTaskClassifier` reads it to pack each task's
            examples as they were trained.
        format: `"keras_adapters"` (this package's artifact, the default)
            or `"adapterhub"`: a folder AdapterHub 1.3.0 loads, for models
            with the `"houlsby"` or `"pfeiffer"` adapter config (see
            `keras_adapters.adapterhub.writer.save_adapterhub`; adapter-bert's
            config is refused, since AdapterHub would compute it
            differently).
        **format_options: for `format="adapterhub"`, `name`,
            `weights_format` (`"safetensors"` or `"bin"`) and `model_name`.

    Returns:
        The path of the weights file.

    Example:

    ```python
    keras_adapters.save_adapters(classifier, "cola_adapters", labels=["0", "1"])
    keras_adapters.save_adapters(houlsby_classifier, "cola_hub",
                                 format="adapterhub")
    ```
    """
    if format == ARTIFACT_FORMATS[1]:
        if inputs is not None:
            raise KerasAdaptersError(
                "An AdapterHub folder records no `inputs`; drop the argument."
            )
        return save_adapterhub(
            model, directory, labels=labels, **format_options
        )
    if format != ARTIFACT_FORMATS[0]:
        raise KerasAdaptersError(
            f"`format` must be one of {', '.join(ARTIFACT_FORMATS)}, got "
            f"{format!r}."
        )
    if format_options:
        raise KerasAdaptersError(
            f"{', '.join(sorted(format_options))}: options of "
            "format='adapterhub' only."
        )
    task_name = type(model).__name__
    if task_name not in TASKS:
        raise TypeError(
            f"save_adapters() expects one of {', '.join(TASKS)}, got "
            f"{task_name}."
        )
    if labels is not None and not getattr(model, "regression", True):
        if len(labels) != model.num_classes:
            raise KerasAdaptersError(
                f"{len(labels)} labels given for a model with "
                f"{model.num_classes} classes; give one name per class."
            )
    if inputs is not None and not _is_input_names(inputs):
        raise KerasAdaptersError(
            f"`inputs` must name one or two text inputs, e.g. "
            f"['sentence1', 'sentence2']; got {inputs!r}."
        )
    write_folder(
        os.fspath(directory),
        lambda path: _write_artifact(model, path, labels, inputs),
        ADAPTERS,
    )
    return os.path.join(directory, WEIGHTS_FILE)


def _write_artifact(model, directory, labels, inputs):
    """Writes the weights and config of `save_adapters` into `directory`."""
    variables = {variable.path: variable for variable in model.weights}
    stored = _task_variable_paths(model)
    task_config = model.get_config()
    preprocessor = model.preprocessor
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": {
            "class": type(model).__name__,
            **{key: task_config[key] for key in TASKS[type(model).__name__][1]},
        },
        "preprocessor": {
            key: getattr(preprocessor, key)
            for key in _PREPROCESSOR_KEYS
            if hasattr(preprocessor, key)
        },
        "adapter": _adapter_section(model.backbone),
        "tuning": model.tuning.arguments(),
        "labels": list(labels) if labels is not None else None,
        "inputs": list(inputs) if inputs is not None else None,
        "base_model": {
            "config": _base_config(model.backbone),
            "fingerprint": base_fingerprint(model, stored),
        },
    }
    write_artifact_files(
        directory, config, {path: variables[path].numpy() for path in stored}
    )


def write_artifact_files(directory, config, weights):
    """Writes an artifact's weights file and its config into `directory`.

    Args:
        directory: an existing, empty folder.
        config: the artifact config without its `weights` section, which
            this fills in (file, checksum, counts).
        weights: `{variable path: array}`.
    """
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    save_safetensors(weights, weights_path)
    config = dict(
        config,
        weights={
            "file": WEIGHTS_FILE,
            "sha256": file_sha256(weights_path),
            "num_variables": len(weights),
            "num_parameters": int(
                sum(np.prod(value.shape) for value in weights.values())
            ),
        },
    )
    write_text(
        os.path.join(directory, CONFIG_FILE),
        json.dumps(config, indent=2, sort_keys=True),
    )


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
    _check_section(config, path, "task", {"class": _STRING})
    task_name = config["task"]["class"]
    if task_name not in TASKS:
        raise ArtifactError(
            f"The artifact in '{directory}' holds a {task_name}, which this "
            "keras_adapters does not know; upgrade keras_adapters."
        )
    _check_section(config, path, "task", TASKS[task_name][1])
    for section, checks in _CONFIG_KEYS.items():
        _check_section(config, path, section, checks)
    inputs = config.get("inputs")
    if inputs is not None and not _is_input_names(inputs):
        raise ArtifactError(
            f"{path}: 'inputs' is {reprlib.repr(inputs)}, not one or two "
            "input names; the artifact is corrupted, write it again with "
            "keras_adapters.save_adapters."
        )
    for section, checks in _OPTIONAL_KEYS.items():
        _check_section(config, path, section, checks, required=False)
    _check_adapter_layers(config, path)
    _artifact_adapter_config(config, path)
    if "preprocessor" in config:
        _check_section(
            config, path, "preprocessor", _PREPROCESSOR_KEYS, required=False
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


def _check_section(config, path, section, checks, required=True):
    """Checks the values of one section of an artifact config.

    Args:
        config: the config dict.
        path: the config file, for messages.
        section: the section's key, e.g. `"adapter"`.
        checks: dict from each key of the section to `(check, expected)`:
            a predicate on the value and what it expects, for the message.
        required: whether every key of `checks` must be present.

    Raises:
        ArtifactError: a missing section or key, or an invalid value.
    """
    fix = "write it again with keras_adapters.save_adapters."

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


def _read_weights(directory, config):
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
class Artifact:
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

    directory: str
    config: dict
    weights: dict

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
        weights = _read_weights(directory, config)
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

    @property
    def inputs(self):
        """The names of the text inputs, or `None` when none were saved."""
        return self.config.get("inputs")

    @property
    def preprocessor(self):
        """The saved preprocessor settings (`sequence_length`, ...)."""
        return self.config.get("preprocessor", {})

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
    actual = _base_config(backbone)
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


def _blocks(adapter_layers):
    """Where `adapter_layers` puts adapters, in words."""
    if adapter_layers is None:
        return "every block"
    return f"the top {adapter_layers} blocks"


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


def _backbone_for(artifact, base):
    """The adapter backbone of the artifact's task family on `base`."""
    config = artifact.config
    family = artifact.task_class.backbone_cls or AdapterBackbone
    adapter = config["adapter"]
    adapter_layers = adapter.get("adapter_layers")
    adapter_config = artifact.adapter_config
    if isinstance(base, str):
        return family.from_preset(
            base,
            adapter_config=adapter_config,
            adapter_layers=adapter_layers,
            intermediate_activation=config["base_model"]["config"].get(
                "intermediate_activation"
            ),
        )
    if not isinstance(base, family):
        raise TypeError(
            "`base` must be a preset (id or folder) or an adapter backbone "
            f"({family.__name__}), got {type(base).__name__}."
        )
    if base.adapter_size != adapter["adapter_size"]:
        raise ArtifactError(
            f"The artifact has adapters of size {adapter['adapter_size']} but "
            f"the given backbone has adapter_size={base.adapter_size}."
        )
    if base.adapter_config != adapter_config:
        raise ArtifactError(
            f"The artifact has adapters of config "
            f"'{adapter_config.name}', the given backbone of "
            f"'{base.adapter_config.name}'; build it with the artifact's "
            "`adapter_config` (keras_adapters.read_artifact_config)."
        )
    if (adapter_layers or base.num_layers) != (
        base.adapter_layers or base.num_layers
    ):
        raise ArtifactError(
            f"The artifact has adapters in {_blocks(adapter_layers)}, the "
            f"given backbone in {_blocks(base.adapter_layers)}; build it with "
            f"adapter_layers={adapter_layers}."
        )
    return base


def load_adapters(directory, base, preprocessor="auto"):
    """Rebuilds a trained task from an artifact and its base model.

    An AdapterHub folder (`adapter_config.json` of AdapterHub or
    adapter-transformers, with `adapter.safetensors` or `pytorch_adapter.bin`)
    is recognised and loaded by
    `keras_adapters.adapterhub.reader.load_adapterhub`: it gives an
    `AdapterHubTextClassifier` (or, without a head, the backbone); such a
    folder holds no fingerprint of its base, so `base` must be the preset
    it was trained on.

    Args:
        directory: an artifact folder written by `save_adapters`, or an
            AdapterHub folder.
        base: the base model the adapters were trained on: a preset (id,
            keras-hub folder or Hugging Face folder) or, for an artifact, a
            freshly loaded adapter backbone of its family
            (`AdapterBertBackbone`, `AdapterRobertaBackbone`, ...) with the
            same adapter size.
        preprocessor: `"auto"` to load the preset's preprocessor when `base`
            is a preset that has a tokenizer (none otherwise), `None`, or a
            preprocessor.

    Returns:
        The task (a family's classifier such as `AdapterBertTextClassifier`,
        an `AdapterHubTextClassifier` or a question answerer) computing
        exactly what the saved model computed, in the artifact's tuning
        mode, with the saved preprocessor settings.

    Raises:
        ArtifactError: a missing, incomplete or corrupted file (checked
            before any model is built), or a base model with another
            architecture or other weights than the one trained on.

    Example:

    ```python
    classifier = keras_adapters.load_adapters(
        "cola_adapters", "bert_base_en_uncased"
    )
    ```
    """
    if is_adapterhub_folder(directory):
        return load_adapterhub(directory, base, preprocessor=preprocessor)
    artifact = Artifact.read(directory)
    config = artifact.config
    backbone = _backbone_for(artifact, base)
    check_base_config(config, backbone)
    task = dict(config["task"])
    task.pop("class")
    task_cls = artifact.task_class
    if preprocessor == "auto":
        preprocessor = None
        if isinstance(base, str):
            try:
                preprocessor = task_cls.preset_preprocessor(
                    base, **artifact.preprocessor
                )
            except FileNotFoundError:  # A backbone-only preset.
                preprocessor = None
    tuning = config["tuning"]
    model = task_cls(
        backbone=backbone,
        preprocessor=preprocessor,
        tuning_mode=tuning["mode"],
        top_k=tuning["top_k"],
        train_pooler=tuning["train_pooler"],
        freeze_below_adapters=tuning.get("freeze_below_adapters", False),
        train_layer_norms=tuning.get("train_layer_norms", True),
        **task,
    )
    artifact.check_base(model)
    assign_by_path(
        model,
        artifact.weights,
        allow_unfilled=lambda path: True,  # The fingerprinted base.
        source_name=f"artifact '{directory}'",
    )
    return model
