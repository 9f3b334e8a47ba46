"""Hugging Face ELECTRA folders -> keras-hub's `ElectraBackbone`.

keras-hub 0.32 builds `ElectraBackbone` from its own presets but has no
converter for Hugging Face ELECTRA checkpoints. This module is one, with
the interface of keras-hub's `keras_hub.src.utils.transformers.convert_*`
modules (`backbone_cls`, `convert_backbone_config`, `convert_weights`,
`convert_tokenizer`), so keras-hub's own Hugging Face preset loader runs
it (`keras_adapters.models.transformers.preset_loader`). It reads the
discriminator (`ElectraModel`, `ElectraForSequenceClassification`, ...):
ELECTRA's blocks carry BERT's weight names.
"""

import numpy as np
from keras_hub.models import ElectraBackbone

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import check_file_exists
from keras_adapters.keras_hub_internals import get_file
from keras_adapters.keras_hub_internals import load_json
from keras_adapters.layers.adapter_transformer_encoder import (
    set_intermediate_activation,
)
from keras_adapters.layers.hf_activations import keras_activation

backbone_cls = ElectraBackbone

# Each block's sublayer weights (attribute path, variable) and the
# Hugging Face name under `encoder.layer.{i}.`; dense kernels are
# transposed from PyTorch's `[out, in]`.
_BLOCK_WEIGHTS = {
    "_self_attention_layer.query_dense": "attention.self.query",
    "_self_attention_layer.key_dense": "attention.self.key",
    "_self_attention_layer.value_dense": "attention.self.value",
    "_self_attention_layer.output_dense": "attention.output.dense",
    "_feedforward_intermediate_dense": "intermediate.dense",
    "_feedforward_output_dense": "output.dense",
}
_BLOCK_LAYER_NORMS = {
    "_self_attention_layer_norm": "attention.output.LayerNorm",
    "_feedforward_layer_norm": "output.LayerNorm",
}


def convert_backbone_config(transformers_config):
    """`ElectraBackbone` arguments from a Hugging Face `config.json`."""
    return {
        "vocab_size": transformers_config["vocab_size"],
        "num_layers": transformers_config["num_hidden_layers"],
        "num_heads": transformers_config["num_attention_heads"],
        "hidden_dim": transformers_config["hidden_size"],
        "embedding_dim": transformers_config["embedding_size"],
        "intermediate_dim": transformers_config["intermediate_size"],
        "dropout": transformers_config["hidden_dropout_prob"],
        "max_sequence_length": transformers_config["max_position_embeddings"],
        "num_segments": transformers_config["type_vocab_size"],
    }


def _reshaped(transpose):
    def hook(value, shape):
        return np.reshape(np.transpose(value) if transpose else value, shape)

    return hook


def _port_dense(loader, layer, name):
    loader.port_weight(layer.kernel, f"{name}.weight", _reshaped(True))
    loader.port_weight(layer.bias, f"{name}.bias", _reshaped(False))


def _port_layer_norm(loader, layer, name):
    loader.port_weight(layer.gamma, f"{name}.weight")
    loader.port_weight(layer.beta, f"{name}.bias")


def convert_weights(backbone, loader, transformers_config):
    """Loads a Hugging Face ELECTRA discriminator into `backbone`.

    The blocks get the checkpoint's `hidden_act` (Hugging Face computes
    ELECTRA's with the exact GELU, keras-hub builds the tanh one). ELECTRA
    has no pooler: the `pooled_dense` keras-hub adds is set to zero, so
    the loaded model is the same at every load.
    """
    loader.port_weight(
        backbone.token_embedding.embeddings,
        "embeddings.word_embeddings.weight",
    )
    loader.port_weight(
        backbone.position_embedding.position_embeddings,
        "embeddings.position_embeddings.weight",
    )
    loader.port_weight(
        backbone.segment_embedding.embeddings,
        "embeddings.token_type_embeddings.weight",
    )
    _port_layer_norm(
        loader, backbone.embeddings_layer_norm, "embeddings.LayerNorm"
    )
    if backbone.hidden_dim != backbone.embedding_dim:
        _port_dense(
            loader, backbone.embeddings_projection, "embeddings_project"
        )
    activation = keras_activation(transformers_config.get("hidden_act", "gelu"))
    if activation is None:
        raise KerasAdaptersError(
            f"hidden_act {transformers_config['hidden_act']!r} of the "
            "ELECTRA config has no Keras counterpart here."
        )
    for index, block in enumerate(backbone.transformer_layers):
        prefix = f"encoder.layer.{index}."
        for path, name in _BLOCK_WEIGHTS.items():
            layer = block
            for attribute in path.split("."):
                layer = getattr(layer, attribute)
            _port_dense(loader, layer, prefix + name)
        for attribute, name in _BLOCK_LAYER_NORMS.items():
            _port_layer_norm(loader, getattr(block, attribute), prefix + name)
        set_intermediate_activation(block, activation)
    for variable in backbone.pooled_dense.weights:
        variable.assign(np.zeros(variable.shape))


def convert_tokenizer(cls, preset, **kwargs):
    """The folder's WordPiece tokenizer (`vocab.txt`), lower-casing as its
    `tokenizer_config.json` says (Hugging Face's default: yes)."""
    lowercase = True
    if check_file_exists(preset, "tokenizer_config.json"):
        config = load_json(preset, "tokenizer_config.json")
        lowercase = config.get("do_lower_case", True)
    return cls(get_file(preset, "vocab.txt"), lowercase=lowercase, **kwargs)
