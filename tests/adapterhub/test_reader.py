"""AdapterHub folders made by AdapterHub 1.3.0 give AdapterHub's logits."""

import keras
import numpy as np
import pytest

import keras_adapters
from keras_adapters.layers import Adapter
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterHubTextClassifier
from tests.adapterhub.fixtures import BASE
from tests.adapterhub.fixtures import CASES
from tests.adapterhub.fixtures import EXPECTED
from tests.adapterhub.fixtures import SENTENCES
from tests.adapterhub.fixtures import expected_logits
from tests.adapterhub.fixtures import folder
from tests.adapterhub.fixtures import token_inputs


@pytest.mark.parametrize("case", CASES)
def test_folder_gives_adapterhubs_logits_on_raw_strings(case):
    model = keras_adapters.load_adapters(folder(case), BASE)
    assert isinstance(model, AdapterHubTextClassifier)
    np.testing.assert_allclose(
        model.predict(SENTENCES, verbose=0),
        expected_logits(case),
        rtol=0,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        model.predict(token_inputs(), verbose=0),
        expected_logits(case),
        rtol=0,
        atol=1e-5,
    )


def test_the_tokenizer_gives_adapterhubs_token_ids():
    model = keras_adapters.load_adapters(folder("houlsby_bin"), BASE)
    features = model.preprocessor(SENTENCES, y=None)
    token_ids = keras.ops.convert_to_numpy(features["token_ids"])
    expected = token_inputs()["token_ids"]
    np.testing.assert_array_equal(token_ids[:, : expected.shape[1]], expected)
    assert not token_ids[:, expected.shape[1] :].any()


@pytest.mark.parametrize(
    "case, config, sublayers, blocks, labels",
    [
        (
            "houlsby_bin",
            "houlsby",
            {"self_attention", "feedforward"},
            2,
            ["unacceptable", "acceptable"],
        ),
        (
            "pfeiffer_safetensors",
            "pfeiffer",
            {"feedforward"},
            2,
            ["unacceptable", "acceptable"],
        ),
        (
            "houlsby_leave_out_pooler",
            "houlsby",
            {"self_attention", "feedforward"},
            1,
            ["a", "b", "c"],
        ),
        (
            "legacy_pfeiffer",
            "pfeiffer",
            {"feedforward"},
            2,
            ["unacceptable", "acceptable"],
        ),
    ],
)
def test_the_model_is_the_folders_configuration(
    case, config, sublayers, blocks, labels
):
    model = keras_adapters.load_adapters(folder(case), BASE)
    backbone = model.backbone
    assert backbone.adapter_config.name == config
    # hidden 32, reduction factor 4 (8 with leave_out): AdapterHub's width.
    assert backbone.adapter_size == (4 if "leave_out" in case else 8)
    adapted = [b for b in backbone.transformer_layers if b.adapters]
    assert len(adapted) == blocks
    assert all(set(b.sublayer_adapters) == sublayers for b in adapted)
    assert model.labels == labels
    # AdapterHub's base computes the exact GELU of its `hidden_act`.
    assert keras.activations.serialize(backbone.intermediate_activation) == (
        "gelu"
    )


def test_only_adapters_and_head_train_as_in_adapterhub():
    model = keras_adapters.load_adapters(folder("pfeiffer_bin"), BASE)
    counts = keras_adapters.tuning_summary(model, print_fn=None)
    assert counts["layer_norms"]["trained"] == 0
    assert counts["pooler"]["trained"] == counts["rest"]["trained"] == 0
    assert counts["adapters"]["trained"] == counts["adapters"]["total"] > 0
    assert counts["head"]["trained"] == counts["head"]["total"] > 0
    trained = {id(v) for v in model.trainable_weights}
    before = {v.path: v.numpy().copy() for v in model.weights}
    model.fit(SENTENCES, [1, 0] * 4, batch_size=8, epochs=1, verbose=0)
    moved = {v.path for v in model.weights if id(v) in trained}
    for variable in model.weights:
        changed = not np.array_equal(variable.numpy(), before[variable.path])
        assert changed == (variable.path in moved), variable.path


def test_a_folder_without_a_head_gives_the_backbone_with_the_adapter():
    backbone = keras_adapters.load_adapters(folder("houlsby_no_head"), BASE)
    assert isinstance(backbone, AdapterBertBackbone)
    full = keras_adapters.load_adapters(folder("houlsby_safetensors"), BASE)
    for mine, theirs in zip(backbone.adapters, full.backbone.adapters):
        assert isinstance(mine, Adapter)
        for a, b in zip(mine.weights, theirs.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not any(
        v.trainable
        for layer in backbone.layer_norm_layers
        for v in layer.weights
    )


def test_the_fixture_logits_are_not_trivial():
    """The adapters and heads of the fixtures matter: logits differ
    between folders and between sentences."""
    logits = {case: expected_logits(case) for case in EXPECTED["logits"]}
    assert all(np.ptp(value, axis=0).min() > 0.05 for value in logits.values())
    assert np.abs(
        logits["houlsby_bin"] - logits["houlsby_safetensors"]
    ).max() > (0.05)


def test_the_tokenizer_strips_accents_as_the_base_folders_tokenizer():
    """Hugging Face's uncased BERT tokenizer strips accents (keras-hub's
    conversion alone would not)."""
    model = keras_adapters.load_adapters(folder("houlsby_bin"), BASE)
    assert model.preprocessor.tokenizer.strip_accents
    accented, plain = (
        keras.ops.convert_to_numpy(
            model.preprocessor([text], y=None)["token_ids"]
        )
        for text in ("thé cät sät", "the cat sat")
    )
    np.testing.assert_array_equal(accented, plain)
