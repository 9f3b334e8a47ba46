"""Bad AdapterHub folders are one-line `ArtifactError`s, before any model
is built."""

import os

import pytest
import safetensors.numpy
from keras_hub.models import BertBackbone
from keras_hub.models import GPT2Backbone

import keras_adapters
from keras_adapters import ArtifactError
from keras_adapters import KerasAdaptersError
from keras_adapters.models import AdapterBertBackbone
from tests.adapterhub.fixtures import BASE
from tests.adapterhub.fixtures import copy_case
from tests.adapterhub.fixtures import edit_json


@pytest.fixture(autouse=True)
def _nothing_is_built(monkeypatch):
    """Every error below must come before a model is built."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built from a bad folder")

    monkeypatch.setattr(AdapterBertBackbone, "from_preset", refuse)


def config_edit(key, value):
    def edit(config):
        config["config"][key] = value

    return edit


def load_error(path, base=BASE):
    with pytest.raises(KerasAdaptersError) as raised:
        keras_adapters.load_adapters(path, base)
    message = str(raised.value)
    assert "\n" not in message
    return raised.value


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("is_parallel", True, "is_parallel"),
        ("use_gating", True, "use_gating"),
        ("phm_layer", True, "phm_layer"),
        ("ln_after", True, "ln_after"),
        ("ln_before", True, "ln_before"),
        ("original_ln_after", False, "original_ln_after"),
        ("dropout", 0.1, "dropout"),
        ("scaling", "learned", "constant scaling"),
        ("reduction_factor", {"default": 4, "1": 8}, "one reduction factor"),
        ("non_linearity", "quick_gelu", "does not compute"),
        ("residual_before_ln", "post_add", "residual_before_ln"),
        ("leave_out", [1], "bottom blocks only"),
        ("inv_adapter", "nice", "invertible"),
        ("prefix_length", 30, "unknown adapter config key"),
        ("architecture", "union", "bottleneck adapters only"),
    ],
)
def test_adapter_kinds_keras_adapters_does_not_compute(
    tmp_path, key, value, expected
):
    path = copy_case("pfeiffer_safetensors", tmp_path)
    edit_json(
        os.path.join(path, "adapter_config.json"), config_edit(key, value)
    )
    error = load_error(path)
    assert isinstance(error, ArtifactError)
    assert expected in str(error)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c.update(model_type="roberta"), "'roberta' model"),
        (lambda c: c.update(hidden_size=64), "hidden size 64"),
        (lambda c: c.pop("config"), "no valid 'config'"),
        (lambda c: c.update(config="lora"), "'lora' is not one"),
    ],
)
def test_bad_adapter_config_files(tmp_path, edit, expected):
    path = copy_case("houlsby_safetensors", tmp_path)
    edit_json(os.path.join(path, "adapter_config.json"), edit)
    assert expected in str(load_error(path))


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda c: c["config"].update(head_type="tagging"),
            "classification heads only",
        ),
        (lambda c: c["config"].update(num_labels=0), "'num_labels'"),
        (lambda c: c["config"].update(label2id={"a": 0, "b": 5}), "label2id"),
        (lambda c: c["config"].update(extra=1), "unknown head key"),
        (lambda c: c.update(model_class="RobertaAdapterModel"), "heads of"),
        (
            lambda c: c["config"].update(activation_function="quick_gelu"),
            "does not compute",
        ),
    ],
)
def test_bad_head_config_files(tmp_path, edit, expected):
    path = copy_case("houlsby_safetensors", tmp_path)
    edit_json(os.path.join(path, "head_config.json"), edit)
    assert expected in str(load_error(path))


def test_missing_and_extra_weights(tmp_path):
    path = copy_case("houlsby_safetensors", tmp_path)
    weights_path = os.path.join(path, "adapter.safetensors")
    weights = safetensors.numpy.load_file(weights_path)
    name = next(iter(weights))
    extra = dict(
        weights, **{"bert.invertible_adapters.x.F.0.weight": weights[name]}
    )
    safetensors.numpy.save_file(extra, weights_path)
    assert "does not compute" in str(load_error(path))
    del weights[name]
    safetensors.numpy.save_file(weights, weights_path)
    assert "lacks 1" in str(load_error(path))
    os.remove(weights_path)
    assert "neither adapter.safetensors" in str(load_error(path))
    os.remove(os.path.join(path, "adapter_config.json"))
    assert "No adapter_config.json" in str(load_error(path))


def test_head_weights_that_do_not_fit(tmp_path):
    path = copy_case("houlsby_safetensors", tmp_path)
    weights_path = os.path.join(path, "model_head.safetensors")
    weights = safetensors.numpy.load_file(weights_path)
    weights["heads.houlsby_safetensors.4.weight"] = weights[
        "heads.houlsby_safetensors.4.weight"
    ][:1]
    safetensors.numpy.save_file(weights, weights_path)
    assert "has shape [1, 32], not [2, 32]" in str(load_error(path))
    os.remove(os.path.join(path, "head_config.json"))
    assert "no head_config.json" in str(load_error(path))


def test_a_damaged_weights_file(tmp_path):
    path = copy_case("houlsby_bin", tmp_path)
    weights_path = os.path.join(path, "pytorch_adapter.bin")
    with open(weights_path, "r+b") as handle:
        handle.truncate(os.path.getsize(weights_path) // 2)
    assert "pytorch_adapter.bin" in str(load_error(path))


def test_a_base_of_another_size_or_depth(tmp_path):
    path = copy_case("houlsby_safetensors", tmp_path)
    wider = str(tmp_path / "wider")
    narrow = dict(
        vocabulary_size=40,
        num_heads=2,
        intermediate_dim=64,
        max_sequence_length=64,
    )
    BertBackbone(**narrow, num_layers=2, hidden_dim=48).save_to_preset(wider)
    assert "hidden size 32; preset" in str(load_error(path, wider))
    deeper = str(tmp_path / "deeper")
    BertBackbone(**narrow, num_layers=3, hidden_dim=32).save_to_preset(deeper)
    assert "blocks [0, 1], but the base model has 3 blocks" in str(
        load_error(path, deeper)
    )
    gpt2 = str(tmp_path / "gpt2")
    GPT2Backbone(
        vocabulary_size=20,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    ).save_to_preset(gpt2)
    assert "is a GPT2Backbone" in str(load_error(path, gpt2))


def test_a_built_model_is_not_a_base(tmp_path):
    path = copy_case("houlsby_safetensors", tmp_path)
    error = load_error(path, base=object())
    assert "loads onto a preset" in str(error)
