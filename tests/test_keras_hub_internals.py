"""What keras_adapters assumes about keras-hub, checked on the installed one.

`keras_adapters.keras_hub_internals` holds the only names keras_adapters
takes from keras-hub's private modules; `AdapterTransformerEncoder` and
`AdapterBertBackbone` rely on the sublayers of keras-hub's
`TransformerEncoder` and on how `BertBackbone` holds its blocks. A
keras-hub release that changes any of these fails here.
"""

import keras
import numpy as np
import tensorflow as tf
from keras_hub.layers import TransformerEncoder
from keras_hub.models import BertBackbone
from keras_hub.models import BertTokenizer

from keras_adapters import keras_hub_internals
from keras_adapters.layers.adapter_transformer_encoder import (
    set_intermediate_activation,
)
from keras_adapters.models import AdapterBertQuestionAnswererPreprocessor
from keras_adapters.models import AdapterBertTextClassifierPreprocessor
from keras_adapters.models.adapter_backbone import preset_backbone_config
from tests.adapterhub.fixtures import BASE as ADAPTERHUB_BASE
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB


def test_gelu_approximate_is_the_activation_of_bert_blocks():
    gelu = keras_hub_internals.gelu_approximate
    block = BertBackbone(**TINY_CONFIG).transformer_layers[0]
    assert block.activation is gelu
    assert keras.activations.serialize(gelu)["config"] == (
        "keras_hub>gelu_approximate"
    )
    x = np.linspace(-3, 3, 13).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(gelu(x)),
        keras.ops.convert_to_numpy(keras.activations.gelu(x, approximate=True)),
    )


def test_bert_blocks_are_built_encoders_with_the_wrapped_sublayers():
    backbone = BertBackbone(**TINY_CONFIG)
    assert len(backbone.transformer_layers) == TINY_CONFIG["num_layers"]
    for block in backbone.transformer_layers:
        # `add_adapters` converts exactly these blocks, in place.
        assert type(block) is TransformerEncoder and block.built
        shape = block.get_build_config()["input_shape"]
        assert shape[-1] == TINY_CONFIG["hidden_dim"]
        # Each adapter goes after the dropout that ends its sublayer.
        for name in ("_self_attention_dropout", "_feedforward_dropout"):
            assert isinstance(getattr(block, name), keras.layers.Dropout)
        for name in ("_self_attention_layer_norm", "_feedforward_layer_norm"):
            assert isinstance(
                getattr(block, name), keras.layers.LayerNormalization
            )


def test_preset_loader_reads_the_class_and_the_tokenizer(tmp_path):
    path = str(tmp_path / "preset")
    BertBackbone(**TINY_CONFIG).save_to_preset(path)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(path)
    loader = keras_hub_internals.get_preset_loader(path)
    assert loader.check_backbone_class() is BertBackbone
    preprocessor = loader.load_preprocessor(
        AdapterBertTextClassifierPreprocessor, sequence_length=8
    )
    assert isinstance(preprocessor, AdapterBertTextClassifierPreprocessor)
    assert preprocessor.tokenizer.vocabulary_size() == len(TINY_VOCAB)


def test_word_piece_split_patterns_give_the_tokenizer_ids():
    tokenizer = BertTokenizer(vocabulary=TINY_VOCAB)
    preprocessor = AdapterBertQuestionAnswererPreprocessor(tokenizer=tokenizer)
    texts = ["The film, i loved it!", "we\t\u597d really.. hated-the plot"]
    ids, _, _ = preprocessor.tokenize_with_offsets(tf.constant(texts))
    assert ids.to_list() == list(tokenizer(texts))
    assert ids.to_list()[1].count(TINY_VOCAB.index(".")) == 2


def test_preset_loaders_give_the_backbone_config_unbuilt(tmp_path):
    """`preset_backbone_config` reads a keras-hub preset's `config` and
    converts a Hugging Face folder's with the loader's `converter`."""
    path = str(tmp_path / "preset")
    BertBackbone(**TINY_CONFIG).save_to_preset(path)
    config = preset_backbone_config(path)
    assert (config["hidden_dim"], config["num_layers"]) == (16, 2)
    config = preset_backbone_config(ADAPTERHUB_BASE)  # Hugging Face layout.
    assert (config["hidden_dim"], config["num_layers"]) == (32, 2)


def test_the_feedforward_activation_is_read_when_called():
    """`set_intermediate_activation` sets the activation of a built block's
    intermediate dense, which its `call` reads."""
    block = BertBackbone(**TINY_CONFIG).transformer_layers[0]
    dense = block._feedforward_intermediate_dense
    assert isinstance(dense, keras.layers.Dense)
    assert dense.activation is keras_hub_internals.gelu_approximate
    x = np.linspace(-3, 3, 2 * 3 * 16).reshape(2, 3, 16).astype("float32")
    before = keras.ops.convert_to_numpy(dense(x))
    set_intermediate_activation(block, "relu")
    after = keras.ops.convert_to_numpy(dense(x))
    assert (after >= 0).all() and (before < 0).any()
    assert block.get_config()["activation"] == "relu"


def test_sublayer_helpers_reach_the_blocks_sublayers():
    block = BertBackbone(**TINY_CONFIG).transformer_layers[0]
    for sublayer in ("self_attention", "feedforward"):
        dropout = keras_hub_internals.encoder_sublayer(
            block, sublayer, "dropout"
        )
        assert isinstance(dropout, keras.layers.Dropout)
        layer_norm = keras_hub_internals.encoder_sublayer(
            block, sublayer, "layer_norm"
        )
        assert isinstance(layer_norm, keras.layers.LayerNormalization)
        identity = keras.layers.Identity()
        keras_hub_internals.set_encoder_sublayer(
            block, sublayer, "dropout", identity
        )
        assert (
            keras_hub_internals.encoder_sublayer(block, sublayer, "dropout")
            is identity
        )
    # A built layer takes new state inside `adding_state` only; a replaced
    # variable leaves the layer's weights.
    count = len(block.weights)
    with keras_hub_internals.adding_state(block):
        old = block.add_weight(name="old", shape=(2,))
        keras_hub_internals.replace_variable(block, "extra", old)
        new = block.add_weight(name="new", shape=(3,))
        keras_hub_internals.replace_variable(block, "extra", new)
    assert block.extra is new and len(block.weights) == count + 1
