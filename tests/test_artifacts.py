import hashlib
import json
import os

import numpy as np
import pytest
from keras_hub.models import BertBackbone

import keras_adapters
from keras_adapters import ArtifactError
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifier
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs


@pytest.fixture
def base_preset(tmp_path):
    path = str(tmp_path / "base")
    BertBackbone(**TINY_CONFIG).save_to_preset(path)
    return path


def trained_classifier(preset, **kwargs):
    model = AdapterBertTextClassifier.from_preset(
        preset, num_classes=3, adapter_size=4, preprocessor=None, **kwargs
    )
    rng = np.random.default_rng(0)
    for variable in model.trainable_weights:  # Stand-in for training.
        variable.assign(
            variable.numpy() + rng.normal(scale=0.1, size=variable.shape)
        )
    return model


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(tuning_mode="top_k", top_k=1),
        dict(tuning_mode="layer_norm", train_pooler=True),
        dict(adapter_layers=1, freeze_below_adapters=True),
    ],
)
def test_round_trip_reproduces_logits_exactly(tmp_path, base_preset, kwargs):
    model = trained_classifier(base_preset, **kwargs)
    data = tiny_inputs()
    expected = model.predict(data, verbose=0)
    folder = str(tmp_path / "artifact")
    keras_adapters.save_adapters(model, folder, labels=["a", "b", "c"])
    config = keras_adapters.read_artifact_config(folder)
    assert config["labels"] == ["a", "b", "c"]
    assert config["tuning"]["mode"] == model.tuning.mode
    # Only what is not pristine base is stored.
    stored = config["weights"]["num_parameters"]
    adapters = sum(
        int(np.prod(v.shape))
        for v in model.backbone.adapters
        for v in v.weights
    )
    trained = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    frozen_adapters = (
        adapters if model.tuning.mode in ("layer_norm", "top_k") else 0
    )
    assert trained <= stored <= trained + frozen_adapters
    reloaded = keras_adapters.load_adapters(
        folder, base_preset, preprocessor=None
    )
    np.testing.assert_array_equal(reloaded.predict(data, verbose=0), expected)
    assert reloaded.tuning == model.tuning
    assert config["adapter"]["adapter_layers"] == model.backbone.adapter_layers
    assert reloaded.backbone.adapter_layers == model.backbone.adapter_layers
    assert config["tuning"]["freeze_below_adapters"] == (
        model.tuning.freeze_below_adapters
    )
    assert {v.path for v in reloaded.trainable_weights} == {
        v.path for v in model.trainable_weights
    }


def test_artifacts_without_the_adapterdrop_keys_load_as_every_block(
    tmp_path, base_preset
):
    model = trained_classifier(base_preset)
    folder = str(tmp_path / "artifact")
    keras_adapters.save_adapters(model, folder)
    edit_artifact(folder, "adapter.adapter_layers")
    edit_artifact(folder, "tuning.freeze_below_adapters")
    reloaded = keras_adapters.load_adapters(
        folder, base_preset, preprocessor=None
    )
    assert reloaded.backbone.adapter_layers is None
    assert all(
        len(b.adapters) == 2 for b in reloaded.backbone.transformer_layers
    )
    assert not reloaded.tuning.freeze_below_adapters
    data = tiny_inputs()
    np.testing.assert_array_equal(
        reloaded.predict(data, verbose=0), model.predict(data, verbose=0)
    )


def test_adapter_layers_must_fit_the_base_and_the_given_backbone(
    tmp_path, base_preset
):
    folder = str(tmp_path / "artifact")
    keras_adapters.save_adapters(
        trained_classifier(base_preset, adapter_layers=1), folder
    )
    every_block = AdapterBertBackbone.from_preset(base_preset, adapter_size=4)
    assert artifact_error(folder, every_block) == (
        "The artifact has adapters in the top 1 blocks, the given backbone "
        "in every block; build it with adapter_layers=1."
    )
    path = edit_artifact(folder, "adapter.adapter_layers", 3)
    assert artifact_error(folder, base_preset) == (
        f"{path}: 'adapter.adapter_layers' is 3, more than the base model's "
        "2 blocks; the artifact is corrupted, write it again with "
        "keras_adapters.save_adapters."
    )


def test_label_list_must_match_the_classes(tmp_path, base_preset):
    with pytest.raises(
        ValueError, match="2 labels given for a model with 3 classes"
    ):
        keras_adapters.save_adapters(
            trained_classifier(base_preset),
            str(tmp_path / "a"),
            labels=["x", "y"],
        )


def test_loading_onto_a_fresh_backbone_object(tmp_path, base_preset):
    model = trained_classifier(base_preset)
    folder = str(tmp_path / "artifact")
    keras_adapters.save_adapters(model, folder)
    backbone = AdapterBertBackbone.from_preset(base_preset, adapter_size=4)
    reloaded = keras_adapters.load_adapters(folder, backbone)
    data = tiny_inputs()
    np.testing.assert_array_equal(
        reloaded.predict(data, verbose=0), model.predict(data, verbose=0)
    )
    other_size = AdapterBertBackbone.from_preset(base_preset, adapter_size=8)
    with pytest.raises(ArtifactError, match="size 4"):
        keras_adapters.load_adapters(folder, other_size)


def test_other_weights_or_shapes_are_clear_errors(tmp_path, base_preset):
    folder = str(tmp_path / "artifact")
    keras_adapters.save_adapters(trained_classifier(base_preset), folder)
    other_weights = str(tmp_path / "other_weights")
    BertBackbone(**TINY_CONFIG).save_to_preset(other_weights)
    with pytest.raises(ArtifactError, match="fingerprint mismatch"):
        keras_adapters.load_adapters(folder, other_weights)
    other_shape = str(tmp_path / "other_shape")
    BertBackbone(**{**TINY_CONFIG, "hidden_dim": 24}).save_to_preset(
        other_shape
    )
    with pytest.raises(
        ArtifactError, match="hidden_dim: trained on 16, given 24"
    ):
        keras_adapters.load_adapters(folder, other_shape)


def test_corrupted_or_missing_files_are_clear_errors(tmp_path, base_preset):
    folder = str(tmp_path / "artifact")
    weights = keras_adapters.save_adapters(
        trained_classifier(base_preset), folder
    )
    with open(weights, "r+b") as handle:
        handle.truncate(os.path.getsize(weights) - 100)
    with pytest.raises(ArtifactError, match="truncated or corrupted"):
        keras_adapters.load_adapters(folder, base_preset)
    with open(os.path.join(folder, "adapter_config.json"), "w") as handle:
        handle.write("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        keras_adapters.load_adapters(folder, base_preset)
    with pytest.raises(ArtifactError, match="not an adapter artifact"):
        keras_adapters.load_adapters(str(tmp_path / "nothing"), base_preset)


_DELETE = object()


def edit_artifact(folder, key, value=_DELETE):
    """Sets (or deletes) a dotted `key` of the artifact's config."""
    path = os.path.join(folder, "adapter_config.json")
    with open(path) as handle:
        config = json.load(handle)
    *sections, last = key.split(".")
    node = config
    for section in sections:
        node = node[section]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    with open(path, "w") as handle:
        json.dump(config, handle)
    return path


def artifact_error(folder, base):
    with pytest.raises(ArtifactError) as info:
        keras_adapters.load_adapters(folder, base)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def artifact(tmp_path, base_preset):
    folder = str(tmp_path / "artifact")
    keras_adapters.save_adapters(trained_classifier(base_preset), folder)
    return folder


@pytest.mark.parametrize(
    "key",
    [
        "task",
        "task.class",
        "task.num_classes",
        "adapter.adapter_size",
        "tuning.mode",
        "base_model.fingerprint",
        "weights",
        "weights.sha256",
    ],
)
def test_missing_config_keys(artifact, base_preset, key):
    path = edit_artifact(artifact, key)
    expected = (
        f"{path} has no '{key}'; the artifact is incomplete, write it again "
        "with keras_adapters.save_adapters."
    )
    with pytest.raises(ArtifactError) as info:
        keras_adapters.read_artifact_config(artifact)
    assert str(info.value) == expected
    assert artifact_error(artifact, base_preset) == expected


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("adapter.adapter_size", -1, "an integer >= 0"),
        ("adapter.adapter_size", "4", "an integer >= 0"),
        ("adapter.adapter_size", True, "an integer >= 0"),
        ("preprocessor.sequence_length", 0, "a positive integer"),
        ("preprocessor.sequence_length", -128, "a positive integer"),
        ("preprocessor.sequence_length", 128.0, "a positive integer"),
        ("preprocessor.doc_stride", None, "a positive integer"),
        ("preprocessor", [], "an object"),
        ("task.num_classes", 0, "a positive integer"),
        ("tuning.top_k", "2", "null or a positive integer"),
        ("adapter.adapter_layers", 0, "null or a positive integer"),
        ("adapter.adapter_layers", "2", "null or a positive integer"),
        ("tuning.freeze_below_adapters", "yes", "true or false"),
        ("weights", "x", "an object"),
        ("weights.file", "../elsewhere.safetensors", "a file name"),
        ("weights.sha256", None, "a string"),
    ],
)
def test_invalid_config_values(artifact, base_preset, key, value, expected):
    path = edit_artifact(artifact, key, value)
    message = artifact_error(artifact, base_preset)
    assert message == (
        f"{path}: '{key}' is {value!r}, not {expected}; the artifact is "
        "corrupted, write it again with keras_adapters.save_adapters."
    )


def test_unknown_task_class(artifact, base_preset):
    edit_artifact(artifact, "task.class", "AdapterBertSummarizer")
    with pytest.raises(ArtifactError, match="holds a AdapterBertSummarizer"):
        keras_adapters.read_artifact_config(artifact)


@pytest.mark.parametrize(
    "key, value, stored",
    [
        ("adapter.adapter_size", 10**7, "4"),
        ("adapter.adapter_size", 8, "4"),
        ("adapter.adapter_size", 0, "4"),
        ("task.num_classes", 10**7, "3"),
    ],
)
def test_sizes_are_checked_against_the_weights_before_building(
    artifact, base_preset, monkeypatch, key, value, stored
):
    path = edit_artifact(artifact, key, value)

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(AdapterBertBackbone, "__init__", no_model)
    weights = os.path.join(artifact, "adapter_weights.safetensors")
    assert artifact_error(artifact, base_preset) == (
        f"{path}: '{key}' is {value}, but {weights} stores size {stored}; "
        "the artifact is corrupted, write it again with "
        "keras_adapters.save_adapters."
    )


@pytest.mark.parametrize("size", [5, -100])
def test_truncated_weights_with_a_matching_checksum(
    artifact, base_preset, size
):
    weights = os.path.join(artifact, "adapter_weights.safetensors")
    with open(weights, "r+b") as handle:
        handle.truncate(size if size > 0 else os.path.getsize(weights) + size)
    with open(weights, "rb") as handle:
        edit_artifact(
            artifact,
            "weights.sha256",
            hashlib.sha256(handle.read()).hexdigest(),
        )
    message = artifact_error(artifact, base_preset)
    assert message.startswith(f"{weights} is not a readable safetensors file (")
    assert message.endswith("); the artifact is corrupted. Copy it again.")


@pytest.mark.integration
def test_real_minilm_artifact_is_small_and_exact(tmp_path, minilm_path):
    model = AdapterBertTextClassifier.from_preset(minilm_path, num_classes=2)
    rng = np.random.default_rng(0)
    for variable in model.trainable_weights:
        variable.assign(
            variable.numpy() + rng.normal(scale=0.01, size=variable.shape)
        )
    texts = ["a gripping, well acted film", "the plot never goes anywhere"]
    expected = model.predict(texts, verbose=0)
    folder = str(tmp_path / "minilm_artifact")
    weights = keras_adapters.save_adapters(model, folder, labels=["0", "1"])
    size = os.path.getsize(weights)
    assert 2.3e6 < size < 2.6e6, size  # 605,954 float32 values.
    with open(os.path.join(folder, "adapter_config.json")) as handle:
        assert json.load(handle)["weights"]["num_parameters"] == 605_954
    reloaded = keras_adapters.load_adapters(folder, minilm_path)
    np.testing.assert_array_equal(reloaded.predict(texts, verbose=0), expected)
