import keras
import numpy as np
import pytest

from keras_adapters import KerasAdaptersError
from keras_adapters.layers import ClassificationHead


def backbone_outputs(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "sequence_output": rng.normal(size=(3, 5, 8)).astype("float32"),
        "pooled_output": rng.normal(size=(3, 8)).astype("float32"),
    }


def test_two_layers_on_the_first_token_as_adapterhub():
    outputs = backbone_outputs()
    head = ClassificationHead(num_classes=3, dropout=0.5)
    logits = keras.ops.convert_to_numpy(head(outputs))
    w1, b1, w2, b2 = (w.numpy() for w in head.weights)
    cls = outputs["sequence_output"][:, 0]
    np.testing.assert_allclose(
        logits, np.tanh(cls @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-5
    )
    assert [v.path for v in head.weights] == [
        "classification_head/hidden_dense_0/kernel",
        "classification_head/hidden_dense_0/bias",
        "classification_head/logits/kernel",
        "classification_head/logits/bias",
    ]
    assert abs(w1.std() - 0.02) < 0.01 and not b1.any()
    trained = head(outputs, training=True)
    assert np.abs(keras.ops.convert_to_numpy(trained) - logits).max() > 0


def test_one_layer_on_the_pooler_without_bias():
    outputs = backbone_outputs(1)
    head = ClassificationHead(
        num_classes=2, num_layers=1, use_pooler=True, use_bias=False
    )
    logits = keras.ops.convert_to_numpy(head(outputs))
    (kernel,) = head.weights
    np.testing.assert_allclose(
        logits,
        outputs["pooled_output"] @ kernel.numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_config_round_trip_and_errors():
    head = ClassificationHead(
        num_classes=4,
        num_layers=3,
        hidden_activation="relu",
        dropout=0.2,
        activation="softmax",
    )
    config = head.get_config()
    assert ClassificationHead.from_config(config).get_config() == config
    assert (
        keras.saving.serialize_keras_object(head)["registered_name"]
        == "keras_adapters>ClassificationHead"
    )
    for kwargs in (dict(num_classes=0), dict(num_classes=2, num_layers=True)):
        with pytest.raises(KerasAdaptersError, match="integer >= 1"):
            ClassificationHead(**kwargs)
