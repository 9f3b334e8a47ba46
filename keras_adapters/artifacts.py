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

import json
import os

import numpy as np

from keras_adapters.adapterhub.reader import is_adapterhub_folder
from keras_adapters.adapterhub.reader import load_adapterhub
from keras_adapters.adapterhub.writer import save_adapterhub
from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models import AdapterBackbone
from keras_adapters.models.artifact import CONFIG_FILE
from keras_adapters.models.artifact import FORMAT
from keras_adapters.models.artifact import FORMAT_VERSION
from keras_adapters.models.artifact import PREPROCESSOR_KEYS
from keras_adapters.models.artifact import TASKS
from keras_adapters.models.artifact import WEIGHTS_FILE
from keras_adapters.models.artifact import Artifact
from keras_adapters.models.artifact import adapter_section
from keras_adapters.models.artifact import base_config
from keras_adapters.models.artifact import base_fingerprint
from keras_adapters.models.artifact import check_base_config
from keras_adapters.models.artifact import file_sha256
from keras_adapters.models.artifact import is_input_names
from keras_adapters.output_files import save_safetensors
from keras_adapters.output_files import write_folder
from keras_adapters.output_files import write_text
from keras_adapters.tuning import parameter_groups
from keras_adapters.weight_transfer import assign_by_path

# The folder formats `save_adapters` writes: this package's, AdapterHub's.
ARTIFACT_FORMATS = ("keras_adapters", "adapterhub")
# The kind of folder `save_adapters` writes (`keras_adapters.output_files`).
ADAPTERS = "adapters"


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
    if inputs is not None and not is_input_names(inputs):
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
            for key in PREPROCESSOR_KEYS
            if hasattr(preprocessor, key)
        },
        "adapter": adapter_section(model.backbone),
        "tuning": model.tuning.arguments(),
        "labels": list(labels) if labels is not None else None,
        "inputs": list(inputs) if inputs is not None else None,
        "base_model": {
            "config": base_config(model.backbone),
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


def _blocks(adapter_layers):
    """Where `adapter_layers` puts adapters, in words."""
    if adapter_layers is None:
        return "every block"
    return f"the top {adapter_layers} blocks"


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
