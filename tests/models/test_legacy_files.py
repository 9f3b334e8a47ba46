"""Files written before issue 14 load with the current code.

See tests/data/legacy_artifact/README.md for how they were made.
"""

import os
import zlib

import keras
import numpy as np
from keras_hub.models import BertBackbone

import keras_adapters
from keras_adapters.layers import AdapterTransformerEncoder
from keras_adapters.models import AdapterBertBackbone
from tests.conftest import REPO_ROOT
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs

LEGACY = os.path.join(REPO_ROOT, "tests", "data", "legacy_artifact")


def reproducible_base(path):
    """Saves the artifact's base: weights that depend only on their path."""
    base = BertBackbone(**TINY_CONFIG)
    for variable in base.weights:
        size = int(np.prod(variable.shape))
        phase = zlib.crc32(variable.path.encode()) % 1000
        value = 0.1 * np.sin(np.arange(size) * 0.7 + phase)
        variable.assign(value.reshape(variable.shape))
    base.save_to_preset(path)
    return path


def test_artifact_gives_the_logits_it_gave_when_written(tmp_path):
    base = reproducible_base(str(tmp_path / "base"))
    model = keras_adapters.load_adapters(
        os.path.join(LEGACY, "artifact"), base, preprocessor=None
    )
    np.testing.assert_allclose(
        model.predict(tiny_inputs(), verbose=0),
        np.load(os.path.join(LEGACY, "logits.npy")),
        rtol=0,
        atol=1e-6,
    )


def test_adapter_preset_reloads_with_its_adapters():
    backbone = AdapterBertBackbone.from_preset(
        os.path.join(LEGACY, "adapter_preset")
    )
    assert backbone.adapter_size == 4
    assert all(
        type(block) is AdapterTransformerEncoder
        for block in backbone.transformer_layers
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backbone(tiny_inputs())["sequence_output"]),
        np.load(os.path.join(LEGACY, "sequence_output.npy")),
        rtol=0,
        atol=1e-6,
    )
