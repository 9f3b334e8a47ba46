"""AdapterDrop: `AdapterBertBackbone(adapter_layers=k)` puts adapters in the
top `k` blocks only; the blocks below are plain BERT blocks."""

import keras
import numpy as np
import pytest
from keras_hub.layers import TransformerEncoder
from keras_hub.models import BertBackbone

from keras_adapters import lowest_trained_block
from keras_adapters import set_tuning_mode
from keras_adapters import tuning_summary
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifier
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs
from tests.models.test_adapter_bert_backbone import outputs

THREE_BLOCKS = dict(TINY_CONFIG, num_layers=3, dropout=0.0)


@pytest.fixture
def base_preset(tmp_path):
    base = BertBackbone(**THREE_BLOCKS)
    path = str(tmp_path / "base_preset")
    base.save_to_preset(path)
    return base, path


def adapters_per_block(backbone):
    return [len(block.adapters) for block in backbone.transformer_layers]


@pytest.mark.parametrize(
    "adapter_layers, expected",
    [(None, [2, 2, 2]), (3, [2, 2, 2]), (2, [0, 2, 2]), (1, [0, 0, 2])],
)
def test_adapters_only_in_the_top_blocks(adapter_layers, expected):
    backbone = AdapterBertBackbone(
        **THREE_BLOCKS, adapter_size=4, adapter_layers=adapter_layers
    )
    assert adapters_per_block(backbone) == expected
    assert backbone.adapter_layers == adapter_layers
    adapter_paths = [v.path for v in backbone.weights if "_adapter/" in v.path]
    assert len(adapter_paths) == 4 * sum(expected)
    first = 3 - sum(expected) // 2
    assert all(
        f"transformer_layer_{i}/" not in path
        for path in adapter_paths
        for i in range(first)
    )


def test_blocks_without_adapters_compute_exactly_the_plain_block():
    backbone = AdapterBertBackbone(
        **THREE_BLOCKS, adapter_size=4, adapter_layers=1
    )
    block = backbone.transformer_layers[0]
    plain_config = {
        key: value
        for key, value in block.get_config().items()
        if key != "adapter_config"
    }
    plain = TransformerEncoder.from_config(plain_config)
    plain.build((None, None, THREE_BLOCKS["hidden_dim"]))
    plain.set_weights(block.get_weights())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, THREE_BLOCKS["hidden_dim"])).astype("float32")
    mask = np.ones((2, 7), "int32")
    mask[0, 4:] = 0
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(block(x, padding_mask=mask)),
        keras.ops.convert_to_numpy(plain(x, padding_mask=mask)),
    )


def test_with_identity_adapters_the_model_is_exactly_plain_bert(base_preset):
    base, path = base_preset
    dropped = AdapterBertBackbone.from_preset(
        path, adapter_size=4, adapter_layers=2
    )
    for adapter in dropped.adapters:
        adapter.up_kernel.assign(np.zeros(adapter.up_kernel.shape))
    data = tiny_inputs()
    expected, got = outputs(base, data), outputs(dropped, data)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(got[key], expected[key])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(adapter_layers=0),
            "`adapter_layers` must be between 1 and the model's 3 blocks "
            "(or unset for all), got 0.",
        ),
        (
            dict(adapter_layers=4),
            "the model's 3 blocks (or unset for all), got 4",
        ),
        (dict(adapter_layers=True), "got True"),
        (
            dict(adapter_layers=2, adapter_size=0),
            "`adapter_layers`=2 needs adapters, but `adapter_size`=0.",
        ),
    ],
)
def test_out_of_range_adapter_layers_are_clear_errors(
    base_preset, kwargs, message
):
    kwargs = dict(dict(adapter_size=4), **kwargs)
    with pytest.raises(ValueError) as info:
        AdapterBertBackbone(**THREE_BLOCKS, **kwargs)
    assert message in str(info.value)
    with pytest.raises(ValueError) as info:
        AdapterBertBackbone.from_preset(base_preset[1], **kwargs)
    assert message in str(info.value)


def test_config_round_trip_keeps_adapter_layers():
    backbone = AdapterBertBackbone(
        **THREE_BLOCKS, adapter_size=4, adapter_layers=2
    )
    config = backbone.get_config()
    assert config["adapter_layers"] == 2
    restored = AdapterBertBackbone.from_config(config)
    assert restored.get_config() == config
    assert [v.path for v in restored.weights] == [
        v.path for v in backbone.weights
    ]


def test_presets_keep_adapter_layers_and_their_trained_adapters(
    tmp_path, base_preset
):
    _, path = base_preset
    dropped = AdapterBertBackbone.from_preset(
        path, adapter_size=4, adapter_layers=1
    )
    rng = np.random.default_rng(0)
    for variable in dropped.weights:
        if "_adapter/" in variable.path:
            variable.assign(rng.normal(size=variable.shape))
    saved = str(tmp_path / "dropped")
    dropped.save_to_preset(saved)
    for adapter_layers in (None, 1):
        reloaded = AdapterBertBackbone.from_preset(
            saved, adapter_layers=adapter_layers
        )
        assert reloaded.adapter_layers == 1
        assert adapters_per_block(reloaded) == [0, 0, 2]
        data = tiny_inputs()
        np.testing.assert_array_equal(
            outputs(reloaded, data)["sequence_output"],
            outputs(dropped, data)["sequence_output"],
        )
    with pytest.raises(ValueError, match="adapters in its top 1 blocks, not 2"):
        AdapterBertBackbone.from_preset(saved, adapter_layers=2)


def test_tasks_from_preset_take_adapter_layers(tmp_path, base_preset):
    _, path = base_preset
    classifier = AdapterBertTextClassifier.from_preset(
        path, num_classes=2, adapter_size=4, adapter_layers=2, preprocessor=None
    )
    assert classifier.backbone.adapter_layers == 2
    assert adapters_per_block(classifier.backbone) == [0, 2, 2]
    saved = str(tmp_path / "task")
    classifier.save_to_preset(saved)
    reloaded = AdapterBertTextClassifier.from_preset(saved, preprocessor=None)
    assert reloaded.backbone.adapter_layers == 2
    with pytest.raises(ValueError, match="top 2 blocks, not 3"):
        AdapterBertTextClassifier.from_preset(
            saved, adapter_layers=3, preprocessor=None
        )


@pytest.mark.integration
def test_real_minilm_top_three_blocks_train_what_adapterdrop_says(minilm_path):
    backbone = AdapterBertBackbone.from_preset(
        minilm_path, adapter_size=64, adapter_layers=3
    )
    assert adapters_per_block(backbone) == [0, 0, 0, 2, 2, 2]
    set_tuning_mode(backbone, "adapters", freeze_below_adapters=True)
    counts = tuning_summary(backbone, print_fn=None)
    # Three blocks of two adapters: 3 * 2 * (2 * 64 * 384 + 64 + 384), half
    # of the 595,200 of adapters in all six blocks.
    assert counts["adapters"]["trained"] == 297_600
    # The LayerNorms of blocks 3-5 only: 3 * 2 * (384 + 384).
    assert counts["layer_norms"]["trained"] == 4_608
    assert counts["rest"]["trained"] == counts["pooler"]["trained"] == 0
    assert lowest_trained_block(backbone) == 3
