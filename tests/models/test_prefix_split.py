import keras
import numpy as np
import pytest

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.models import split_at_block
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs


@pytest.fixture
def classifier():
    # Dropout on, so inference mode is what makes the parts agree.
    backbone = AdapterBertBackbone(**TINY_CONFIG, adapter_size=4, dropout=0.3)
    rng = np.random.default_rng(0)
    for variable in backbone.weights:
        # Away from the near-identity init, so every block matters.
        variable.assign(rng.normal(scale=0.2, size=variable.shape))
    return AdapterBertTextClassifier(
        backbone, num_classes=3, tuning_mode="top_k", top_k=1
    )


def top_inputs(hidden, features):
    return {
        "hidden_states": hidden,
        "padding_mask": features["padding_mask"],
    }


@pytest.mark.parametrize("block", [0, 1, 2])
def test_top_of_prefix_is_the_classifier_in_inference_mode(classifier, block):
    features = tiny_inputs(batch_size=4, length=12)
    prefix, top = split_at_block(classifier, block)
    hidden = prefix.predict_on_batch(features)
    assert hidden.shape == (4, 12, TINY_CONFIG["hidden_dim"])
    np.testing.assert_allclose(
        top.predict_on_batch(top_inputs(hidden, features)),
        classifier.predict_on_batch(features),
        atol=1e-6,
        rtol=0,
    )


def test_padding_positions_of_the_hidden_states_do_not_matter(classifier):
    features = tiny_inputs(batch_size=3, length=10)
    prefix, top = split_at_block(classifier, 1)
    hidden = np.asarray(prefix.predict_on_batch(features))
    padded = np.where(
        features["padding_mask"][..., None] == 1, hidden, 1e3
    ).astype("float32")
    assert not np.array_equal(padded, hidden)  # Example 0 has padding.
    np.testing.assert_allclose(
        top.predict_on_batch(top_inputs(padded, features)),
        top.predict_on_batch(top_inputs(hidden, features)),
        atol=1e-6,
        rtol=0,
    )


def test_the_parts_share_the_classifiers_variables(classifier):
    prefix, top = split_at_block(classifier, 1)
    # The same variables, in the same order: one optimizer serves both.
    assert [id(v) for v in top.trainable_variables] == [
        id(v) for v in classifier.trainable_variables
    ]
    assert not prefix.trainable_weights
    trained = {id(v) for v in classifier.trainable_weights}
    before = {v.path: v.numpy().copy() for v in classifier.weights}
    top.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    features = tiny_inputs(batch_size=4, length=8)
    hidden = prefix.predict_on_batch(features)
    top.fit(top_inputs(hidden, features), np.array([0, 1, 2, 1]), verbose=0)
    moved = {
        id(v)
        for v in classifier.weights
        if not np.array_equal(v.numpy(), before[v.path])
    }
    assert moved <= trained  # Nothing frozen moved.
    # Everything trained moved, except the key bias, which softmax ignores.
    assert {
        id(v) for v in classifier.trainable_weights if "key/bias" not in v.path
    } <= moved


def test_a_block_outside_the_model_is_one_line(classifier):
    with pytest.raises(
        KerasAdaptersError, match=r"between 0 and the number of blocks \(2\)"
    ):
        split_at_block(classifier, 3)


@pytest.mark.integration
def test_real_minilm_split_is_exact(minilm_path):
    model = AdapterBertTextClassifier.from_preset(
        minilm_path, num_classes=2, tuning_mode="top_k", top_k=3
    )
    model.preprocessor.sequence_length = 32
    features = model.preprocessor(
        ["The book was written by John.", "Him wrote the book quickly by."]
    )
    features = {k: keras.ops.convert_to_numpy(v) for k, v in features.items()}
    prefix, top = split_at_block(model, 3)
    hidden = prefix.predict_on_batch(features)
    np.testing.assert_allclose(
        top.predict_on_batch(top_inputs(hidden, features)),
        model.predict_on_batch(features),
        atol=1e-6,
        rtol=0,
    )
