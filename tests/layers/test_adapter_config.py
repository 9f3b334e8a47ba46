import keras
import pytest

from keras_adapters import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers import ADAPTER_CONFIGS
from keras_adapters.layers import AdapterConfig


def test_the_three_named_configurations():
    bert, houlsby, pfeiffer = (
        AdapterConfig.get(name)
        for name in ("adapter-bert", "houlsby", "pfeiffer")
    )
    assert (
        AdapterConfig.get(None)
        == bert
        == AdapterConfig(name="adapter-bert", adapter_size=64)
    )
    assert bert.activation == keras.activations.serialize(gelu_approximate)
    assert (bert.initializer, bert.init_scale, bert.train_layer_norms) == (
        "truncated_normal",
        1e-3,
        True,
    )
    assert houlsby.sublayers == ("self_attention", "feedforward")
    assert houlsby.activation == "silu" and houlsby.size_for(768) == 48
    assert (houlsby.initializer, houlsby.init_scale) == ("normal", 0.02)
    assert not houlsby.after_layer_norm and not houlsby.train_layer_norms
    assert pfeiffer.sublayers == ("feedforward",)
    assert pfeiffer.activation == "relu" and pfeiffer.after_layer_norm
    assert AdapterConfig.get("double_seq_bn") is houlsby
    assert AdapterConfig.get("SEQ_BN") is pfeiffer
    assert set(ADAPTER_CONFIGS) == {"adapter-bert", "houlsby", "pfeiffer"}


def test_width_follows_adapterhub_and_settings_replace_the_config():
    houlsby = AdapterConfig.get("houlsby")
    assert houlsby.size_for(384) == 24 and houlsby.size_for(8) == 1
    sized = houlsby.with_settings(adapter_size=7, init_scale=0.5)
    assert sized.size_for(384) == 7 and sized.reduction_factor is None
    assert sized.init_scale == 0.5 and sized.activation == houlsby.activation
    assert houlsby.with_settings() is houlsby


@pytest.mark.parametrize("name", ["adapter-bert", "houlsby", "pfeiffer"])
def test_config_round_trip(name):
    config = AdapterConfig.get(name)
    assert AdapterConfig.from_config(config.get_config()) == config
    assert AdapterConfig.get(config.get_config()) == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(adapter_size=8, reduction_factor=4), "exactly one"),
        (dict(), "exactly one"),
        (dict(adapter_size=-1), "adapter_size"),
        (dict(reduction_factor=0), "reduction_factor"),
        (dict(adapter_size=8, sublayers=("pooler",)), "sublayers"),
        (dict(adapter_size=8, initializer="glorot"), "initializer"),
        (dict(adapter_size=8, init_scale=-1.0), "init_scale"),
        (dict(adapter_size=8, scaling="learned"), "scaling"),
        (dict(adapter_size=8, activation="no_such"), "activation"),
        (dict(adapter_size=8, after_layer_norm=1), "after_layer_norm"),
    ],
)
def test_bad_values_are_one_line_errors(kwargs, match):
    with pytest.raises(KerasAdaptersError, match=match) as raised:
        AdapterConfig(**kwargs)
    assert "\n" not in str(raised.value)


def test_unknown_names_and_keys():
    with pytest.raises(
        KerasAdaptersError, match="Unknown adapter config 'lora'"
    ):
        AdapterConfig.get("lora")
    with pytest.raises(KerasAdaptersError, match="Unknown adapter config key"):
        AdapterConfig.from_config({"adapter_size": 8, "gating": True})
