"""AdapterFusion over trained artifacts: train, save, reload, refuse."""

import keras
import numpy as np
import pytest
from keras_hub.models import BertBackbone
from keras_hub.models import BertTokenizer

import keras_adapters
from keras_adapters import ArtifactError
from keras_adapters import KerasAdaptersError
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.models import AdapterHubTextClassifier
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB
from tests.test_multi_task import save_preset

TEXTS = [" ".join(TINY_VOCAB[5 + i : 11 + i]) for i in range(8)]


def pfeiffer_artifact(preset, folder, seed):
    """A Pfeiffer adapter artifact with random changes standing in for
    training (its LayerNorms stay frozen, as AdapterHub trains)."""
    model = AdapterHubTextClassifier.from_preset(
        preset, num_classes=2, adapter_config="pfeiffer", adapter_size=4
    )
    rng = np.random.default_rng(seed)
    for variable in model.trainable_weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.3, variable.shape))
    keras_adapters.save_adapters(model, folder)
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("fusion")
    preset = save_preset(str(root / "preset"))
    adapters = {
        name: pfeiffer_artifact(preset, str(root / name), seed)
        for seed, name in enumerate(("cola", "sst2"))
    }
    return preset, adapters, root


def test_fusion_trains_only_fusion_and_head_and_reloads(setup, tmp_path):
    preset, adapters, _ = setup
    model = keras_adapters.fuse_adapters(preset, adapters, num_classes=2)
    trainable = {v.path for v in model.trainable_weights}
    assert trainable and all(
        "_fusion/" in path or path.startswith("classification_head")
        for path in trainable
    )
    frozen = {v.path: v.numpy() for v in model.weights if not v.trainable}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(TEXTS, np.arange(8) % 2, batch_size=4, epochs=1, verbose=0)
    for variable in model.weights:
        if variable.path in frozen:
            np.testing.assert_array_equal(
                variable.numpy(), frozen[variable.path]
            )
    expected = model.predict(TEXTS, verbose=0)
    folder = keras_adapters.save_fusion(model, str(tmp_path / "fusion"))
    reloaded = keras_adapters.load_fusion(folder, preset, adapters)
    np.testing.assert_allclose(
        reloaded.predict(TEXTS, verbose=0), expected, atol=1e-5
    )
    swapped = {"cola": adapters["sst2"], "sst2": adapters["cola"]}
    with pytest.raises(ArtifactError, match="Adapter 'cola' in .* is not the"):
        keras_adapters.load_fusion(folder, preset, swapped)


def test_bad_fusions_are_one_line_errors(setup, tmp_path):
    preset, adapters, _ = setup
    other = str(tmp_path / "other")
    keras.utils.set_random_seed(11)
    BertBackbone(**TINY_CONFIG).save_to_preset(other)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(other)
    moved = pfeiffer_artifact(other, str(tmp_path / "moved"), 5)
    adapter_bert = str(tmp_path / "adapter_bert")
    keras_adapters.save_adapters(
        AdapterBertTextClassifier.from_preset(
            preset, num_classes=2, adapter_size=4
        ),
        adapter_bert,
    )
    cases = [
        ({"cola": adapters["cola"]}, KerasAdaptersError, "two or more"),
        (
            {"cola": adapters["cola"], "x": str(tmp_path / "none")},
            ArtifactError,
            "Adapter 'x': no folder",
        ),
        (
            {"cola": adapters["cola"], "x": moved},
            ArtifactError,
            "Adapter 'x':.*fingerprint",
        ),
        (
            {"cola": adapters["cola"], "x": adapter_bert},
            ArtifactError,
            "share one adapter config",
        ),
    ]
    for given, error, message in cases:
        with pytest.raises(error, match=message) as raised:
            keras_adapters.fuse_adapters(preset, given, num_classes=2)
        assert "\n" not in str(raised.value)
