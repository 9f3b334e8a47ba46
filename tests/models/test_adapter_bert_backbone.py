import os

import keras
import numpy as np
import pytest
from keras_hub.models import Backbone
from keras_hub.models import BertBackbone
from keras_hub.models import GPT2Backbone

from keras_adapters.layers import AdapterTransformerEncoder
from keras_adapters.models import AdapterBertBackbone
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs


def outputs(model, data):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(data).items()}


@pytest.fixture
def base_preset(tmp_path):
    base = BertBackbone(**TINY_CONFIG, dropout=0.0)
    path = str(tmp_path / "base_preset")
    base.save_to_preset(path)
    return base, path


def assert_complete_transfer(base, adapted):
    adapted_vars = {v.path: v for v in adapted.weights}
    for variable in base.weights:
        np.testing.assert_array_equal(
            adapted_vars[variable.path].numpy(),
            variable.numpy(),
            err_msg=variable.path,
        )
    extra = set(adapted_vars) - {v.path for v in base.weights}
    assert extra and all("_adapter/" in path for path in extra)
    assert len(extra) == 4 * 2 * base.num_layers


def test_from_keras_hub_preset_copies_every_variable(base_preset):
    base, path = base_preset
    adapted = AdapterBertBackbone.from_preset(path, adapter_size=4)
    assert adapted.adapter_size == 4
    assert_complete_transfer(base, adapted)


@pytest.mark.parametrize("adapter_size", [0, 4])
def test_variable_paths_are_bert_paths_plus_adapter_paths(adapter_size):
    plain = BertBackbone(**TINY_CONFIG)
    adapted = AdapterBertBackbone(**TINY_CONFIG, adapter_size=adapter_size)
    paths = [v.path for v in adapted.weights]
    assert [p for p in paths if "_adapter/" not in p] == [
        v.path for v in plain.weights
    ]
    assert sorted(p for p in paths if "_adapter/" in p) == sorted(
        f"transformer_layer_{i}/{where}_adapter/{name}"
        for i in range(TINY_CONFIG["num_layers"])
        if adapter_size
        for where in ("self_attention", "feedforward")
        for name in ("down_kernel", "down_bias", "up_kernel", "up_bias")
    )
    assert all(
        type(block) is AdapterTransformerEncoder
        for block in adapted.transformer_layers
    )


def test_from_preset_builds_one_model(base_preset, monkeypatch):
    _, path = base_preset
    built = []
    backbone_init = Backbone.__init__

    def counting_init(self, *args, **kwargs):
        built.append(type(self).__name__)
        backbone_init(self, *args, **kwargs)

    monkeypatch.setattr(Backbone, "__init__", counting_init)
    adapted = AdapterBertBackbone.from_preset(path, adapter_size=4)
    assert built == ["BertBackbone"]
    assert type(adapted) is AdapterBertBackbone and adapted.adapter_size == 4


def test_negative_adapter_size_is_a_clear_error(base_preset):
    _, path = base_preset
    with pytest.raises(ValueError, match="adapter_size"):
        AdapterBertBackbone(**TINY_CONFIG, adapter_size=-1)
    with pytest.raises(ValueError, match="adapter_size"):
        AdapterBertBackbone.from_preset(path, adapter_size=-1)


def test_near_identity_at_init_and_identity_with_zeroed_up_projections(
    base_preset,
):
    base, path = base_preset
    adapted = AdapterBertBackbone.from_preset(path, adapter_size=8)
    data = tiny_inputs()
    expected, got = outputs(base, data), outputs(adapted, data)
    for key in ("sequence_output", "pooled_output"):
        deviation = np.abs(got[key] - expected[key]).max()
        # Measured about 1e-5 for this config (adapter update ~1e-5 relative).
        assert 0 < deviation < 1e-3, (key, deviation)
    for adapter in adapted.adapters:
        adapter.up_kernel.assign(np.zeros(adapter.up_kernel.shape))
    got = outputs(adapted, data)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(got[key], expected[key])


def test_adapter_size_zero_is_the_plain_model(base_preset):
    base, path = base_preset
    adapted = AdapterBertBackbone.from_preset(path, adapter_size=0)
    assert not adapted.adapters
    assert len(adapted.weights) == len(base.weights)
    data = tiny_inputs()
    for key, value in outputs(base, data).items():
        np.testing.assert_array_equal(outputs(adapted, data)[key], value)


def test_save_to_preset_reloads_trained_adapters_exactly(tmp_path, base_preset):
    _, path = base_preset
    adapted = AdapterBertBackbone.from_preset(path, adapter_size=4)
    rng = np.random.default_rng(0)
    for variable in adapted.weights:
        if "_adapter/" in variable.path:
            variable.assign(rng.normal(size=variable.shape))
    saved = str(tmp_path / "adapter_preset")
    adapted.save_to_preset(saved)
    reloaded = AdapterBertBackbone.from_preset(saved)
    assert (
        isinstance(reloaded, AdapterBertBackbone) and reloaded.adapter_size == 4
    )
    for a, b in zip(adapted.weights, reloaded.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    data = tiny_inputs()
    np.testing.assert_array_equal(
        outputs(reloaded, data)["sequence_output"],
        outputs(adapted, data)["sequence_output"],
    )
    with pytest.raises(ValueError, match="adapters of size 4, not 8"):
        AdapterBertBackbone.from_preset(saved, adapter_size=8)


def test_config_round_trip(tiny_backbone):
    config = tiny_backbone.get_config()
    assert config["adapter_config"]["adapter_size"] == 4
    assert config["adapter_config"]["name"] == "adapter-bert"
    restored = AdapterBertBackbone.from_config(config)
    assert restored.get_config() == config
    assert keras.saving.serialize_keras_object(tiny_backbone)[
        "registered_name"
    ] == ("keras_adapters>AdapterBertBackbone")


def test_non_bert_preset_is_a_clear_error(tmp_path):
    gpt2 = GPT2Backbone(
        vocabulary_size=20,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )
    path = str(tmp_path / "gpt2")
    gpt2.save_to_preset(path)
    with pytest.raises(ValueError, match="GPT2Backbone, not a BERT model"):
        AdapterBertBackbone.from_preset(path)


def test_missing_preset_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="Cannot read preset") as info:
        AdapterBertBackbone.from_preset(str(tmp_path / "nowhere"))
    assert "\n" not in str(info.value)


def test_truncated_preset_weights_are_a_clear_error(base_preset):
    _, path = base_preset
    weights = os.path.join(path, "model.weights.h5")
    with open(weights, "r+b") as handle:
        handle.truncate(os.path.getsize(weights) // 2)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        AdapterBertBackbone.from_preset(path)


@pytest.mark.integration
def test_real_minilm_transfer_is_complete_and_near_identity(minilm_path):
    base = BertBackbone.from_preset(minilm_path)
    adapted = AdapterBertBackbone.from_preset(minilm_path, adapter_size=64)
    assert_complete_transfer(base, adapted)
    rng = np.random.default_rng(0)
    data = {
        "token_ids": rng.integers(1000, 30000, (2, 32)).astype("int32"),
        "segment_ids": np.zeros((2, 32), "int32"),
        "padding_mask": np.ones((2, 32), "int32"),
    }
    expected, got = outputs(base, data), outputs(adapted, data)
    for key in ("sequence_output", "pooled_output"):
        deviation = np.abs(got[key] - expected[key]).max()
        # Measured 2e-4 (sequence) / 4e-5 (pooled) on MiniLM-L6.
        assert 0 < deviation < 2e-3, (key, deviation)
