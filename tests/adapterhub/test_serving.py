"""An AdapterHub folder loaded here serves AdapterHub's probabilities from a
raw-string SavedModel, loaded with only tensorflow and tensorflow_text.

Runs on either backend: the JAX pass (`KERAS_BACKEND=jax`) exports through
jax2tf, the TensorFlow pass directly.
"""

import keras
import numpy as np
import pytest

import keras_adapters
from tests.adapterhub.fixtures import BASE
from tests.adapterhub.fixtures import SENTENCES
from tests.adapterhub.fixtures import expected_logits
from tests.adapterhub.fixtures import folder
from tests.test_export import finish_loader
from tests.test_export import softmax
from tests.test_export import start_loader


@pytest.mark.parametrize("case", ["houlsby_bin", "pfeiffer_safetensors"])
def test_served_probabilities_are_adapterhubs(tmp_path, case):
    model = keras_adapters.load_adapters(folder(case), BASE)
    export_dir = keras_adapters.export_saved_model(
        model, str(tmp_path / "served"), labels=model.labels
    )
    served = finish_loader(
        start_loader(
            [{"dir": export_dir, "inputs": {"sentence": SENTENCES}}],
            str(tmp_path),
        )
    )
    assert served["modules"] == []  # No keras-hub, keras_adapters or JAX.
    outputs = served["results"][0]
    expected = softmax(expected_logits(case))
    np.testing.assert_allclose(
        outputs["probabilities"][1], expected, rtol=0, atol=1e-5
    )
    assert outputs["labels"][1] == [
        model.labels[i] for i in expected.argmax(axis=-1)
    ]
    assert keras.config.backend() in ("tensorflow", "jax")
