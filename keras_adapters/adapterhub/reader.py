"""Loading an AdapterHub folder onto its pretrained base preset."""

import json
import os

from keras_adapters.adapterhub.folder_config import ADAPTER_CONFIG_FILE
from keras_adapters.adapterhub.folder_config import ADAPTER_WEIGHTS
from keras_adapters.adapterhub.folder_config import AdapterHubConfig
from keras_adapters.adapterhub.weights import adapter_weights
from keras_adapters.adapterhub.weights import head_weights
from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.adapter_backbone import UnsupportedFamilyError
from keras_adapters.models.adapter_backbone import adapter_backbone_class
from keras_adapters.models.adapter_backbone import preset_backbone_class
from keras_adapters.models.adapter_backbone import preset_backbone_config
from keras_adapters.models.adapterhub_text_classifier import (
    AdapterHubTextClassifier,
)
from keras_adapters.tuning import set_tuning_mode
from keras_adapters.weight_transfer import assign_by_path


def is_adapterhub_folder(directory):
    """Whether `directory` is an AdapterHub folder: it holds AdapterHub's
    adapter weights, or an `adapter_config.json` with a `config` and no
    keras_adapters `format`."""
    if any(
        os.path.isfile(os.path.join(directory, name))
        for name in ADAPTER_WEIGHTS.values()
    ):
        return True
    try:
        with open(os.path.join(directory, ADAPTER_CONFIG_FILE)) as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return False
    return (
        isinstance(config, dict)
        and "config" in config
        and ("format" not in config)
    )


def _base_architecture(base, config):
    """`(family, hidden_dim, num_layers)` of a plain preset of the family
    an AdapterHub folder's adapter was trained on, read from its config;
    raises before anything is built if `base` cannot take it."""
    directory = config.directory
    if not isinstance(base, str):
        raise KerasAdaptersError(
            f"An AdapterHub folder ('{directory}') loads onto a preset: a "
            "keras-hub preset id or folder, or a Hugging Face folder; got a "
            f"{type(base).__name__}."
        )
    base_cls = preset_backbone_class(base)
    try:
        family = adapter_backbone_class(base_cls)
    except UnsupportedFamilyError:
        family = None
    if (
        family is None
        or family.hugging_face_model_type != config.model_type
        or base_cls is family
    ):
        raise ArtifactError(
            f"'{directory}' holds an adapter of a {config.model_type!r} "
            f"model; preset '{base}' is a {base_cls.__name__}. Give the "
            "plain pretrained model it was trained on."
        )
    architecture = preset_backbone_config(base)
    return family, architecture["hidden_dim"], architecture["num_layers"]


def _preset_preprocessor(base, backbone):
    """The preset's preprocessor for `backbone`, or `None` for a preset
    without a tokenizer."""
    try:
        return AdapterHubTextClassifier.preset_preprocessor(base, backbone)
    except FileNotFoundError:
        return None


def load_adapterhub(directory, base, preprocessor="auto"):
    """Builds the model an AdapterHub folder describes on its base preset.

    Every file is read and checked against `base`'s config before any
    model is built: the adapter's kind and settings, its weight names and
    shapes, the blocks it covers (`leave_out`), the hidden size and the
    head. The pretrained weights are `base`'s: an AdapterHub folder records
    no fingerprint of the model it was trained on (only its `model_name`),
    so the identity of `base` is the caller's to check.

    Args:
        directory: an AdapterHub folder (`adapter_config.json` and
            `adapter.safetensors` or `pytorch_adapter.bin`, optionally
            `head_config.json` and the head weights; adapter-transformers
            folders too).
        base: the model it was trained on (BERT, RoBERTa, XLM-RoBERTa,
            DistilBERT or ELECTRA, as the folder's `model_type` says): a
            keras-hub preset id or folder, or a Hugging Face folder. A
            Hugging Face folder's
            `hidden_act` sets the feedforward activation, as AdapterHub
            computes it.
        preprocessor: `"auto"` for `base`'s tokenizer (the preset's
            sequence length, at most the model's positions), `None`, or a
            preprocessor.

    Returns:
        An `AdapterHubTextClassifier` with the adapter and the head (its
        `labels` from `label2id`), in tuning mode `"adapters"` with the
        LayerNorms frozen, as AdapterHub trains; or, for a folder without a
        head, the family's adapter backbone with the adapter.

    Raises:
        ArtifactError: a missing or unreadable file, an adapter or head
            keras_adapters does not compute, or a folder that does not fit
            `base` (model type, hidden size, blocks).
    """
    config = AdapterHubConfig.read(directory)
    family, hidden_dim, num_layers = _base_architecture(base, config)
    if config.hidden_size not in (None, hidden_dim):
        raise ArtifactError(
            f"'{directory}' was trained on a model of hidden size "
            f"{config.hidden_size}; preset '{base}' has {hidden_dim}. Load it "
            "onto the model it was trained on."
        )
    adapter_layers = config.adapter_layers(num_layers)
    adapters = adapter_weights(config, num_layers, hidden_dim)
    head = head_weights(config, hidden_dim) if config.head else None

    backbone = family.from_preset(
        base,
        adapter_config=config.adapter_config,
        adapter_layers=adapter_layers,
        intermediate_activation="auto",
    )
    values = {}
    for (block, sublayer, parameter), value in adapters.items():
        adapter = backbone.transformer_layers[block].sublayer_adapters[sublayer]
        values[getattr(adapter, parameter).path] = value
    return with_head(
        backbone, config, head, base, preprocessor, values, directory
    )


def with_head(
    backbone,
    config,
    head,
    base,
    preprocessor,
    values,
    directory,
    tuning_mode="adapters",
):
    """The model of an AdapterHub folder: `backbone` with the folder's head
    (`config.head`, its weights `head`) as an `AdapterHubTextClassifier`,
    or `backbone` alone when `head` is `None`, in `tuning_mode`; `values`
    (`{path: array}`, the adapters') and the head's weights assigned.
    """
    if head is None:
        model = backbone
        set_tuning_mode(backbone, tuning_mode)
    else:
        if preprocessor == "auto":
            preprocessor = _preset_preprocessor(base, backbone)
        spec = config.head
        model = AdapterHubTextClassifier(
            backbone,
            num_classes=spec.num_labels,
            preprocessor=preprocessor,
            dropout=backbone.dropout if spec.dropout is None else spec.dropout,
            regression=spec.num_labels == 1,
            head_layers=spec.layers,
            head_activation=spec.activation,
            use_pooler=spec.use_pooler,
            head_bias=spec.bias,
            labels=spec.labels,
            tuning_mode=tuning_mode,
        )
        values = dict(values)
        for (layer, parameter), value in head.items():
            dense = model.head.dense_layers[layer]
            values[getattr(dense, parameter).path] = value
    assign_by_path(
        model,
        values,
        allow_unfilled=lambda path: True,  # The pretrained base.
        source_name=f"AdapterHub folder '{directory}'",
    )
    return model
