import os

import keras
import pytest

import keras_adapters
from keras_adapters.models import AdapterBertTextClassifier


def test_truncated_keras_file_is_a_clear_error(tmp_path, tiny_backbone):
    path = str(tmp_path / "model.keras")
    AdapterBertTextClassifier(tiny_backbone, num_classes=2).save(path)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        keras_adapters.load_model(path)
    with pytest.raises(ValueError, match="No such model file"):
        keras_adapters.load_model(str(tmp_path / "missing.keras"))


def test_serialized_code_is_refused(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = str(tmp_path / "lambda.keras")
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match="never executes code"):
        keras_adapters.load_model(path)
