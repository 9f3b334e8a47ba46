import keras
import numpy as np
import pytest

import keras_adapters
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.optimization import AdamWeightDecay

POSITIVE = [
    "the film is good",
    "a great movie",
    "i loved the story",
    "the acting was fine",
    "really fun music",
    "the best plot",
]
NEGATIVE = [
    "the film is bad",
    "a dull movie",
    "i hated the story",
    "the acting was awful",
    "really boring music",
    "the worst plot",
]
TEXTS = POSITIVE + NEGATIVE
LABELS = np.array([1] * len(POSITIVE) + [0] * len(NEGATIVE))


def separable_task(size=32, seed=0):
    """Raw sentences whose label is decided by which word set they use."""
    rng = np.random.default_rng(seed)
    words = {
        1: "good great fine best loved fun".split(),
        0: "bad dull awful worst hated boring".split(),
    }
    labels = np.arange(size) % 2
    texts = [" ".join(rng.choice(words[label], 4)) for label in labels]
    return texts, labels


@pytest.fixture
def classifier(tiny_backbone, tiny_preprocessor):
    # A random BERT at std 0.02 maps every input to almost the same [CLS]
    # vector; a wider random "pretrained" body gives the adapters something
    # to steer.
    rng = np.random.default_rng(0)
    for variable in tiny_backbone.weights:
        if "kernel" in variable.path or "embeddings" in variable.path:
            if "_adapter/" not in variable.path:
                variable.assign(rng.normal(scale=0.3, size=variable.shape))
    return AdapterBertTextClassifier(
        tiny_backbone, num_classes=2, preprocessor=tiny_preprocessor
    )


def snapshot(model):
    return {v.path: v.numpy().copy() for v in model.weights}


def test_fit_on_raw_strings_trains_only_the_tuned_variables(classifier):
    trained = {v.path for v in classifier.trainable_weights}
    before = snapshot(classifier)
    texts, labels = separable_task()
    classifier.compile(optimizer=AdamWeightDecay(3e-3))
    first = classifier.evaluate(
        texts, labels, batch_size=8, verbose=0, return_dict=True
    )["loss"]
    classifier.fit(texts, labels, batch_size=8, epochs=12, verbose=0)
    last = classifier.evaluate(
        texts, labels, batch_size=8, verbose=0, return_dict=True
    )["loss"]
    assert last < first * 0.7, (first, last)
    after = snapshot(classifier)
    for path, value in before.items():
        if path in trained:
            assert not np.array_equal(after[path], value), (
                f"{path} did not move"
            )
        else:
            np.testing.assert_array_equal(
                after[path], value, err_msg=f"{path} changed while frozen"
            )
    assert (
        any("_adapter/" in p for p in trained)
        and "pooled_dense/kernel" not in trained
    )


def test_regression_head_uses_mse(tiny_backbone, tiny_preprocessor):
    model = AdapterBertTextClassifier(
        tiny_backbone, regression=True, preprocessor=tiny_preprocessor
    )
    assert model.num_classes == 1
    model.compile()
    assert isinstance(model.loss, keras.losses.MeanSquaredError)
    scores = np.linspace(0, 5, len(TEXTS)).astype("float32")
    history = model.fit(TEXTS, scores, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(TEXTS[:3], verbose=0).shape == (3, 1)
    with pytest.raises(ValueError, match="one output"):
        AdapterBertTextClassifier(tiny_backbone, num_classes=3, regression=True)
    with pytest.raises(ValueError, match="num_classes"):
        AdapterBertTextClassifier(tiny_backbone)


def test_sentence_pairs(classifier):
    pairs = (np.array(POSITIVE[:3]), np.array(NEGATIVE[:3]))
    assert classifier.predict(pairs, verbose=0).shape == (3, 2)


def test_keras_file_round_trip_keeps_outputs_and_tuning(
    tmp_path, tiny_backbone, tiny_preprocessor
):
    model = AdapterBertTextClassifier(
        tiny_backbone,
        num_classes=3,
        preprocessor=tiny_preprocessor,
        tuning_mode="top_k",
        top_k=1,
    )
    expected = model.predict(TEXTS, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras_adapters.load_model(path)
    assert isinstance(reloaded, AdapterBertTextClassifier)
    np.testing.assert_array_equal(reloaded.predict(TEXTS, verbose=0), expected)
    assert reloaded.tuning == model.tuning
    assert {v.path for v in reloaded.trainable_weights} == {
        v.path for v in model.trainable_weights
    }


def test_task_preset_round_trip(tmp_path, classifier):
    classifier.compile(optimizer=AdamWeightDecay(1e-2))
    classifier.fit(TEXTS, LABELS, batch_size=4, epochs=1, verbose=0)
    expected = classifier.predict(TEXTS, verbose=0)
    path = str(tmp_path / "task_preset")
    classifier.save_to_preset(path)
    reloaded = AdapterBertTextClassifier.from_preset(path)
    np.testing.assert_array_equal(reloaded.predict(TEXTS, verbose=0), expected)
    # keras-hub's own entry point finds our classes for this preset.
    import keras_hub

    generic = keras_hub.models.TextClassifier.from_preset(path)
    assert isinstance(generic, AdapterBertTextClassifier)
    np.testing.assert_array_equal(generic.predict(TEXTS, verbose=0), expected)


def test_default_compile_uses_the_original_optimizer(classifier):
    classifier.compile()
    assert isinstance(classifier.optimizer, AdamWeightDecay)
    assert float(classifier.optimizer.learning_rate) == pytest.approx(3e-4)


@pytest.mark.integration
def test_real_minilm_on_raw_strings(minilm_path):
    model = AdapterBertTextClassifier.from_preset(minilm_path, num_classes=2)
    model.preprocessor.sequence_length = 32
    assert model.backbone.adapter_size == 64
    model.compile(optimizer=AdamWeightDecay(1e-3))
    history = model.fit(TEXTS, LABELS, batch_size=6, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    probabilities = keras.ops.softmax(
        model.predict(["a great film", "an awful film"], verbose=0)
    )
    assert probabilities.shape == (2, 2)
