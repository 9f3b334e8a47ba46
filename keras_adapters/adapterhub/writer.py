"""Writing a Keras adapter (and head) as an AdapterHub folder."""

import json
import os
import re

import keras

from keras_adapters.adapterhub.folder_config import ADAPTER_CONFIG_FILE
from keras_adapters.adapterhub.folder_config import ADAPTER_WEIGHTS
from keras_adapters.adapterhub.folder_config import BN_DEFAULTS
from keras_adapters.adapterhub.folder_config import HEAD_CONFIG_FILE
from keras_adapters.adapterhub.folder_config import HEAD_WEIGHTS
from keras_adapters.adapterhub.folder_config import INITIALIZATIONS
from keras_adapters.adapterhub.folder_config import MODEL_CLASS
from keras_adapters.adapterhub.folder_config import VERSION_PREFIX
from keras_adapters.adapterhub.weights import adapter_weight_name
from keras_adapters.adapterhub.weights import head_module_indices
from keras_adapters.adapterhub.weights import head_weight_name
from keras_adapters.adapterhub.weights import write_weights
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.hf_activations import hf_activation_name
from keras_adapters.models.adapter_backbone import AdapterBackbone
from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapterhub_text_classifier import (
    AdapterHubTextClassifier,
)
from keras_adapters.output_files import write_folder
from keras_adapters.output_files import write_text

# The AdapterHub release whose format is written (and checked against).
WRITTEN_VERSION = VERSION_PREFIX + "1.3.0"
# The kind of folder `save_adapterhub` writes (`keras_adapters.output_files`).
ADAPTERHUB = "adapterhub"
# AdapterHub adapter and head names are PyTorch module names: no dots.
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def save_adapterhub(
    model,
    directory,
    name=None,
    labels=None,
    weights_format="safetensors",
    model_name=None,
):
    """Writes a model's adapter and head as an AdapterHub folder.

    AdapterHub 1.3.0 loads the folder onto the same pretrained BERT with
    `model.load_adapter(directory, use_safetensors=True)` (plain
    `model.load_adapter(directory)` with `weights_format="bin"`), then
    `model.set_active_adapters(name)`, and computes the logits this model
    computes. The files are those of `save_adapter(directory, name,
    with_head=True)`: `adapter_config.json`, the adapter weights,
    `head_config.json` and the head weights. The `.bin` files are written
    without PyTorch (see `keras_adapters.adapterhub.torch_files`) and read
    with `torch.load(..., weights_only=True)`.

    Only what AdapterHub stores can be written: the adapters and the head.
    So the model must have been tuned in mode `"adapters"` with its
    LayerNorms and pooler frozen (AdapterHub's `train_adapter`), with an
    AdapterHub adapter config (`"houlsby"`, `"pfeiffer"` or one of their
    variants) and, for a classifier, an `AdapterHubTextClassifier` whose
    outputs are logits. AdapterHub runs the base as Hugging Face defines
    it: for a Hugging Face BERT whose `hidden_act` is `"gelu"`, build the
    Keras model with `intermediate_activation="auto"` (or `"gelu"`).

    Args:
        model: an `AdapterHubTextClassifier`, or an `AdapterBertBackbone`
            (an adapter without a head).
        directory: the output folder, written whole and then renamed into
            place (with the marker file of `keras_adapters.output_files`,
            which AdapterHub ignores). An AdapterHub folder this package
            wrote there earlier is replaced; any other existing folder
            (one AdapterHub wrote, too), a file, or the current folder is
            refused (`OutputFolderError`).
        name: the adapter's (and head's) name in AdapterHub. Defaults to the
            folder's name, with characters other than letters, digits, `_`
            and `-` replaced by `_`.
        labels: class names in class-id order for the head's `label2id`.
            Defaults to `model.labels`.
        weights_format: `"safetensors"` (default) or `"bin"`.
        model_name: the base model's name or path, recorded as AdapterHub
            does (it identifies nothing by itself). Defaults to `None`.

    Returns:
        The path of the adapter weights file.

    Raises:
        KerasAdaptersError: a model AdapterHub would compute differently
            (adapter-bert's config, trained LayerNorms or pooler, an
            activation AdapterHub has no name for, another head), or a bad
            argument.

    Example:

    ```python
    keras_adapters.save_adapters(classifier, "cola", format="adapterhub")
    # In PyTorch: model.load_adapter("cola", use_safetensors=True)
    ```
    """
    backbone = getattr(model, "backbone", model)
    if not isinstance(backbone, AdapterBackbone):
        raise KerasAdaptersError(
            "An AdapterHub folder holds an AdapterHubTextClassifier (adapter "
            "and AdapterHub's head) or an adapter backbone (adapter only); "
            f"got a {type(model).__name__}."
        )
    if not isinstance(backbone, AdapterBertBackbone):
        raise KerasAdaptersError(
            f"AdapterHub folders are written for BERT models here; this is a "
            f"{backbone.family} model. Save it with format='keras_adapters'."
        )
    _check_trained_set(model, backbone)
    classifier = model if model is not backbone else None
    if classifier is not None and not isinstance(
        classifier, AdapterHubTextClassifier
    ):
        raise KerasAdaptersError(
            f"A {type(model).__name__} has no AdapterHub head; build the "
            "classifier as an AdapterHubTextClassifier (AdapterHub's "
            "classification head) to write it to AdapterHub."
        )
    if weights_format not in ADAPTER_WEIGHTS:
        raise KerasAdaptersError(
            f"`weights_format` must be one of {', '.join(ADAPTER_WEIGHTS)}, "
            f"got {weights_format!r}."
        )
    if name is None:
        base = os.path.basename(os.path.normpath(os.fspath(directory)))
        name = re.sub(r"[^A-Za-z0-9_-]", "_", base) or "adapter"
    if not isinstance(name, str) or not _NAME.match(name):
        raise KerasAdaptersError(
            f"`name` must be letters, digits, '_' or '-' (an AdapterHub "
            f"module name), got {name!r}."
        )
    top = {
        "hidden_size": backbone.hidden_dim,
        "model_class": MODEL_CLASS,
        "model_name": model_name,
        "model_type": "bert",
        "name": name,
        "version": WRITTEN_VERSION,
    }
    head = _head_config(classifier, labels) if classifier else None

    def write(folder):
        write_weights(
            _adapter_arrays(backbone, name),
            os.path.join(folder, ADAPTER_WEIGHTS[weights_format]),
        )
        _write_json(
            os.path.join(folder, ADAPTER_CONFIG_FILE),
            {**top, "config": _bn_config(backbone)},
        )
        if head is not None:
            write_weights(
                _head_arrays(classifier, name),
                os.path.join(folder, HEAD_WEIGHTS[weights_format]),
            )
            _write_json(
                os.path.join(folder, HEAD_CONFIG_FILE), {**top, "config": head}
            )

    write_folder(os.fspath(directory), write, ADAPTERHUB)
    return os.path.join(directory, ADAPTER_WEIGHTS[weights_format])


def _check_trained_set(model, backbone):
    """Refuses models that trained what an AdapterHub folder cannot hold."""
    config = backbone.adapter_config
    if config.name == "adapter-bert":
        raise KerasAdaptersError(
            "adapter-bert's adapter config trains the pretrained LayerNorms "
            "with the adapters; an AdapterHub folder stores adapters and head "
            "only, so AdapterHub would compute other logits. Train with "
            "adapter_config='houlsby' or 'pfeiffer' to write AdapterHub "
            "folders."
        )
    if backbone.adapter_size == 0:
        raise KerasAdaptersError(
            "The model has no adapters (adapter_size=0); there is no "
            "AdapterHub adapter to write."
        )
    tuning = getattr(model, "tuning", None)
    if tuning is not None and (
        tuning.mode != "adapters"
        or tuning.train_layer_norms
        or tuning.train_pooler
    ):
        raise KerasAdaptersError(
            f"The model trained in mode '{tuning.describe()}'; an AdapterHub "
            "folder stores adapters and head only (LayerNorms and pooler "
            "frozen), so AdapterHub would compute other logits. Train in mode "
            "'adapters' with train_layer_norms=False."
        )
    if hf_activation_name(config.activation) is None:
        raise KerasAdaptersError(
            f"Adapter activation {config.activation!r} has no AdapterHub "
            "name; use relu, swish, gelu, gelu_new (tanh GELU), tanh or "
            "sigmoid."
        )


def _reduction_factor(backbone):
    """A reduction factor AdapterHub turns into the backbone's width."""
    hidden, width = backbone.hidden_dim, backbone.adapter_size
    declared = backbone.adapter_config.reduction_factor
    if declared is not None and backbone.adapter_config.size_for(hidden) == (
        width
    ):
        return declared
    if hidden % width == 0:
        return hidden // width
    # AdapterHub's width is int(hidden // factor): aim between two widths.
    return hidden / (width + 0.5)


def _bn_config(backbone):
    """AdapterHub's full bottleneck config of the backbone's adapters."""
    config = backbone.adapter_config
    adapted = backbone.adapter_layers or backbone.num_layers
    initialization = {
        "initializer": config.initializer,
        "init_scale": config.init_scale,
    }
    init_weights = next(
        (
            name
            for name, fields in INITIALIZATIONS.items()
            if fields == initialization
        ),
        "bert",  # Only a fresh adapter's initialization depends on it.
    )
    return {
        **BN_DEFAULTS,
        "mh_adapter": "self_attention" in config.sublayers,
        "output_adapter": "feedforward" in config.sublayers,
        "reduction_factor": _reduction_factor(backbone),
        "non_linearity": hf_activation_name(config.activation),
        "original_ln_before": config.after_layer_norm,
        "init_weights": init_weights,
        "scaling": config.scaling,
        "leave_out": list(range(backbone.num_layers - adapted)),
    }


def _adapter_arrays(backbone, name):
    """`{AdapterHub name: PyTorch-oriented array}` of every adapter."""
    arrays = {}
    for block, layer in enumerate(backbone.transformer_layers):
        for sublayer, adapter in layer.sublayer_adapters.items():
            for parameter in (
                "down_kernel",
                "down_bias",
                "up_kernel",
                "up_bias",
            ):
                value = keras.ops.convert_to_numpy(getattr(adapter, parameter))
                arrays[
                    adapter_weight_name(name, block, sublayer, parameter)
                ] = value.T if parameter.endswith("kernel") else value
    return arrays


def _head_config(classifier, labels):
    head = classifier.head
    if keras.activations.serialize(classifier.activation) != "linear":
        raise KerasAdaptersError(
            "AdapterHub heads output logits; build the classifier with "
            "activation=None to write it to AdapterHub."
        )
    hidden = keras.activations.serialize(head.hidden_activation)
    activation = None if hidden == "linear" else hf_activation_name(hidden)
    if hidden != "linear" and activation is None:
        raise KerasAdaptersError(
            f"Head activation {hidden!r} has no AdapterHub name; use tanh, "
            "relu, swish, gelu or sigmoid."
        )
    labels = classifier.labels if labels is None else list(labels)
    if labels is not None and len(labels) != classifier.num_classes:
        raise KerasAdaptersError(
            f"{len(labels)} labels given for a model with "
            f"{classifier.num_classes} classes; give one name per class."
        )
    return {
        "activation_function": activation,
        "bias": head.use_bias,
        "dropout_prob": head.dropout,
        "head_type": "classification",
        "label2id": (
            None
            if labels is None
            else {str(label): index for index, label in enumerate(labels)}
        ),
        "layers": head.num_layers,
        "num_labels": classifier.num_classes,
        "use_pooler": head.use_pooler,
    }


def _head_arrays(classifier, name):
    head = classifier.head
    indices = head_module_indices(
        head.num_layers,
        keras.activations.serialize(head.hidden_activation) != "linear",
    )
    arrays = {}
    for dense, index in zip(head.dense_layers, indices):
        kernel = keras.ops.convert_to_numpy(dense.kernel)
        arrays[head_weight_name(name, index, "kernel")] = kernel.T
        if dense.use_bias:
            arrays[head_weight_name(name, index, "bias")] = (
                keras.ops.convert_to_numpy(dense.bias)
            )
    return arrays


def _write_json(path, config):
    write_text(path, json.dumps(config, indent=2, sort_keys=True))
