"""Taking trained adapters out of chosen layers, without retraining."""

import keras
import numpy as np
import pytest

from keras_adapters import adapters_removed
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifier
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs


def trained_looking_classifier(adapter_size=4):
    """A classifier whose adapters have large random weights (as if trained)."""
    keras.utils.set_random_seed(3)
    model = AdapterBertTextClassifier(
        AdapterBertBackbone(
            **TINY_CONFIG, adapter_size=adapter_size, dropout=0.0
        ),
        num_classes=2,
        dropout=0.0,
    )
    rng = np.random.default_rng(0)
    for adapter in model.backbone.adapters:
        for variable in adapter.weights:
            variable.assign(rng.normal(scale=0.3, size=variable.shape))
    return model


def copy_without_adapters_in(model, layers):
    """Reference: the same weights in a model whose chosen blocks carry
    adapters that are exactly zero in their up-projection."""
    clone = AdapterBertTextClassifier.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    for layer in layers:
        for adapter in clone.backbone.transformer_layers[layer].adapters:
            adapter.up_kernel.assign(np.zeros(adapter.up_kernel.shape))
            adapter.up_bias.assign(np.zeros(adapter.up_bias.shape))
    return clone


@pytest.mark.parametrize("layers", [[0], [1], [0, 1]])
def test_removed_adapters_are_identity_and_come_back(layers):
    model = trained_looking_classifier()
    inputs = tiny_inputs()
    before = np.asarray(model.predict(inputs, verbose=0))  # Traces predict.
    expected = np.asarray(
        copy_without_adapters_in(model, layers).predict(inputs, verbose=0)
    )
    with adapters_removed(model, layers):
        # The already traced predict function sees the change.
        removed = np.asarray(model.predict(inputs, verbose=0))
    np.testing.assert_allclose(removed, expected, atol=1e-6)
    assert np.abs(removed - before).max() > 1e-3
    np.testing.assert_array_equal(
        np.asarray(model.predict(inputs, verbose=0)), before
    )


def test_all_adapters_removed_equals_the_plain_backbone_outputs():
    model = trained_looking_classifier()
    inputs = tiny_inputs()
    plain = AdapterBertBackbone(**TINY_CONFIG, adapter_size=0, dropout=0.0)
    values = {v.path: v.numpy() for v in model.backbone.weights}
    for variable in plain.weights:
        variable.assign(values[variable.path])
    with adapters_removed(model, range(2)):
        adapted = model.backbone(inputs)["sequence_output"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(adapted),
        keras.ops.convert_to_numpy(plain(inputs)["sequence_output"]),
        atol=1e-5,
    )


def test_weights_are_restored_after_an_error():
    model = trained_looking_classifier()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(RuntimeError):
        with adapters_removed(model, [1]):
            raise RuntimeError("evaluation failed")
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_bad_layers_are_clear_errors():
    model = trained_looking_classifier()
    with pytest.raises(
        ValueError,
        match="Layer 2 does not exist: the model has 2 Transformer blocks",
    ):
        with adapters_removed(model, [2]):
            pass
    plain = AdapterBertTextClassifier(
        AdapterBertBackbone(**TINY_CONFIG, adapter_size=0),
        num_classes=2,
        tuning_mode="full",
    )
    with pytest.raises(ValueError, match="Block 0 has no adapters"):
        with adapters_removed(plain, [0]):
            pass
