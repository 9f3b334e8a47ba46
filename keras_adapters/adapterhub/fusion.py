"""Loading an AdapterHub AdapterFusion folder and the adapters it fuses."""

import dataclasses
import os

from keras_adapters.adapterhub.folder_config import HEAD_CONFIG_FILE
from keras_adapters.adapterhub.folder_config import HEAD_WEIGHTS
from keras_adapters.adapterhub.folder_config import AdapterHubConfig
from keras_adapters.adapterhub.folder_config import HeadConfig
from keras_adapters.adapterhub.folder_config import _fail
from keras_adapters.adapterhub.folder_config import _read_json
from keras_adapters.adapterhub.folder_config import _weights_file
from keras_adapters.adapterhub.reader import _base_architecture
from keras_adapters.adapterhub.reader import with_head
from keras_adapters.adapterhub.weights import MODEL_MODULES
from keras_adapters.adapterhub.weights import _check_names
from keras_adapters.adapterhub.weights import _check_shape
from keras_adapters.adapterhub.weights import adapter_weights
from keras_adapters.adapterhub.weights import head_weights
from keras_adapters.adapterhub.weights import read_weights
from keras_adapters.adapterhub.weights import to_keras
from keras_adapters.errors import ArtifactError
from keras_adapters.layers.adapter_fusion import add_adapter_fusion
from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone

FUSION_CONFIG_FILE = "adapter_fusion_config.json"
FUSION_WEIGHTS = {
    "safetensors": "model_adapter_fusion.safetensors",
    "bin": "pytorch_model_adapter_fusion.bin",
}
# AdapterHub's fusion settings that keras_adapters computes only at the
# value of its "dynamic" and "static" configs.
_FIXED = {
    "query_before_ln": False,
    "residual_before": False,
    "temperature": False,
    "value_before_softmax": True,
}
# The projections of a fusion layer: AdapterHub's module, ours, with bias.
_PROJECTIONS = {"query": True, "key": True, "value": False}


@dataclasses.dataclass(frozen=True)
class FusionConfig:
    """An AdapterHub AdapterFusion folder, parsed and checked.

    Attributes:
        directory: the folder.
        name: the fusion's name in its weight names (`"a,b"`).
        adapter_names: the fused adapters, in fusion order.
        projections: `{"query": bool, "key": bool, "value": bool}`.
        regularization: whether the value matrix is kept near the identity
            in training.
        dropout: the score dropout rate, or `None` for the model's.
        weights_file: the fusion weights file.
        head: a `HeadConfig`, or `None` for a folder without a head.
        head_weights_file: the head weights file, or `None`.
    """

    directory: str
    name: str
    adapter_names: tuple
    projections: dict
    regularization: bool
    dropout: float
    weights_file: str
    head: HeadConfig
    head_weights_file: str

    @classmethod
    def read(cls, directory):
        """Reads and checks `adapter_fusion_config.json` (no weights).

        Raises:
            ArtifactError: a missing file, or a setting keras_adapters does
                not compute.
        """
        path = os.path.join(directory, FUSION_CONFIG_FILE)
        if not os.path.isfile(path):
            raise ArtifactError(
                f"No {FUSION_CONFIG_FILE} in '{directory}': not an AdapterHub "
                "fusion folder (save one with model.save_adapter_fusion)."
            )
        top = _read_json(path)
        config = top.get("config")
        names = top.get("adapter_names")
        if (
            not isinstance(config, dict)
            or not isinstance(top.get("name"), str)
            or not isinstance(names, list)
            or len(names) < 2
            or not all(isinstance(name, str) for name in names)
        ):
            _fail(
                path,
                "needs 'name', 'config' and two or more 'adapter_names'; not "
                "an AdapterHub fusion config.",
            )
        if top.get("model_type", "bert") != "bert":
            _fail(path, f"fuses adapters of a {top['model_type']!r} model.")
        for key, value in _FIXED.items():
            if bool(config.get(key, value)) != value:
                _fail(
                    path,
                    f"'{key}' is {config[key]!r}; keras_adapters computes "
                    f"AdapterFusion with {key}={value} (AdapterHub's "
                    "'dynamic' and 'static' configs).",
                )
        weights_file = _weights_file(directory, FUSION_WEIGHTS)
        if weights_file is None:
            raise ArtifactError(
                f"'{directory}' has {FUSION_CONFIG_FILE} but neither "
                f"{' nor '.join(FUSION_WEIGHTS.values())}; the fusion folder "
                "is incomplete."
            )
        head_weights_file = _weights_file(directory, HEAD_WEIGHTS)
        head = None
        if head_weights_file:
            head = HeadConfig.read(os.path.join(directory, HEAD_CONFIG_FILE))
        return cls(
            directory=directory,
            name=top["name"],
            adapter_names=tuple(names),
            projections={
                key: bool(config.get(key, True)) for key in _PROJECTIONS
            },
            regularization=bool(config.get("regularization", False)),
            dropout=config.get("dropout_prob"),
            weights_file=weights_file,
            head=head,
            head_weights_file=head_weights_file,
        )


def fusion_weight_name(fusion_name, block, sublayer, projection, parameter):
    """AdapterHub's name of one fusion weight of `BertAdapterModel`."""
    blocks, sublayers = MODEL_MODULES["bert"]
    return (
        f"{blocks}.{block}.{sublayers[sublayer]}."
        f"adapter_fusion_layer.{fusion_name}.{projection}.{parameter}"
    )


def _fusion_weights(config, sublayers, num_layers, hidden_dim):
    """`{(block, sublayer, keras variable name): array}` of the fusion."""
    expected = {}
    for block in range(num_layers):
        for sublayer in sublayers:
            for projection, has_bias in _PROJECTIONS.items():
                if not config.projections[projection]:
                    continue
                for parameter, ours in (("weight", "kernel"), ("bias", "bias")):
                    if parameter == "bias" and not has_bias:
                        continue
                    name = fusion_weight_name(
                        config.name, block, sublayer, projection, parameter
                    )
                    expected[name] = (block, sublayer, f"{projection}_{ours}")
    stored = read_weights(config.weights_file)
    _check_names(config.weights_file, stored, expected)
    weights = {}
    for name, key in expected.items():
        shape = (hidden_dim,) if key[2].endswith("bias") else (hidden_dim,) * 2
        _check_shape(config.weights_file, name, stored[name], shape)
        weights[key] = to_keras(name, stored[name])
    return weights


def load_adapterhub_fusion(directory, adapters, base, preprocessor="auto"):
    """Builds the model of an AdapterHub AdapterFusion on a BERT preset.

    The fused adapters, the fusion layers and the fusion's head compute
    what AdapterHub computes with `model.set_active_adapters(Fuse(...))`:
    in every block, each sublayer's adapters run side by side and an
    `AdapterFusion` weighs their updates (`keras_adapters.layers.
    add_adapter_fusion`). Every file is read and checked before any model
    is built.

    Args:
        directory: the fusion folder (`adapter_fusion_config.json`, its
            weights, optionally the head), as `save_adapter_fusion` writes.
        adapters: `{name: folder}` of the AdapterHub adapter folders it
            fuses, by the names in `adapter_fusion_config.json`.
        base: the BERT they were trained on: a keras-hub preset id or
            folder, or a Hugging Face BERT folder.
        preprocessor: `"auto"` for `base`'s tokenizer, `None`, or a
            preprocessor.

    Returns:
        An `AdapterHubTextClassifier` with the fusion's head (tuning mode
        `"layer_norm"`), or the `AdapterBertBackbone` for a folder without
        a head.

    Raises:
        ArtifactError: a missing or unreadable file, adapters other than
            the fusion names, adapters of different kinds or with
            `leave_out`, or files that do not fit `base`.

    Example:

    ```python
    model = load_adapterhub_fusion(
        "fusion", {"cola": "cola_adapter", "sst2": "sst2_adapter"}, preset
    )
    ```
    """
    fusion = FusionConfig.read(directory)
    if sorted(adapters) != sorted(fusion.adapter_names):
        raise ArtifactError(
            f"'{directory}' fuses {', '.join(fusion.adapter_names)}; got "
            f"adapters {', '.join(adapters) or 'none'}. Give one folder per "
            "fused adapter, by its name."
        )
    configs = [AdapterHubConfig.read(adapters[n]) for n in fusion.adapter_names]
    family, hidden_dim, num_layers = _base_architecture(base, configs[0])
    if family is not AdapterBertBackbone:
        raise ArtifactError(
            f"'{directory}' fuses adapters of a {configs[0].model_type!r} "
            "model; keras_adapters reads AdapterHub fusions of BERT models "
            "only. Load each adapter on its own (load_adapterhub)."
        )
    kind = configs[0].adapter_config
    for config in configs:
        same = (
            config.adapter_config.sublayers == kind.sublayers
            and config.adapter_config.after_layer_norm == kind.after_layer_norm
        )
        if not same or config.leave_out:
            raise ArtifactError(
                f"'{config.directory}' is a {config.adapter_config.name} "
                f"adapter{' with leave_out' if config.leave_out else ''}; "
                f"the fused adapters must all be {kind.name} adapters in "
                "every block."
            )
    weights = [
        adapter_weights(config, num_layers, hidden_dim) for config in configs
    ]
    fusion_values = _fusion_weights(
        fusion, kind.sublayers, num_layers, hidden_dim
    )
    head = head_weights(fusion, hidden_dim) if fusion.head else None

    backbone = AdapterBertBackbone.from_preset(
        base, adapter_size=0, intermediate_activation="auto"
    )
    values = {}
    for block_index, block in enumerate(backbone.transformer_layers):
        fused = add_adapter_fusion(
            block,
            kind,
            [config.adapter_config.size_for(hidden_dim) for config in configs],
            regularization=fusion.regularization,
            dropout=backbone.dropout
            if fusion.dropout is None
            else fusion.dropout,
            **fusion.projections,
        )
        for sublayer, (layers, fusion_layer) in fused.items():
            for layer, adapter in zip(layers, weights):
                for parameter in (
                    "down_kernel",
                    "down_bias",
                    "up_kernel",
                    "up_bias",
                ):
                    values[getattr(layer, parameter).path] = adapter[
                        (block_index, sublayer, parameter)
                    ]
            for (index, name, variable), value in fusion_values.items():
                if (index, name) == (block_index, sublayer):
                    values[getattr(fusion_layer, variable).path] = value
    # Inference: the fused adapters are no adapters-mode adapters (whose
    # training the tuning modes decide); only the head is trainable.
    return with_head(
        backbone,
        fusion,
        head,
        base,
        preprocessor,
        values,
        directory,
        tuning_mode="layer_norm",
    )
