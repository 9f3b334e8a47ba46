"""AdapterHub AdapterFusion folders give AdapterHub's logits; the layer."""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from keras_adapters import ArtifactError
from keras_adapters.adapterhub.fusion import load_adapterhub_fusion
from keras_adapters.layers import AdapterFusion
from tests.adapterhub.fixtures import BASE
from tests.adapterhub.fixtures import FIXTURES
from tests.adapterhub.fixtures import token_inputs

with open(os.path.join(FIXTURES, "fusion_expected.json")) as _handle:
    EXPECTED = json.load(_handle)


def adapters(case):
    return {name: os.path.join(FIXTURES, case, name) for name in ("a", "b")}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_fusion_folder_gives_adapterhubs_logits(case):
    model = load_adapterhub_fusion(
        os.path.join(FIXTURES, case, "fusion"), adapters(case), BASE
    )
    logits = model.predict(token_inputs(), verbose=0)
    expected = np.array(EXPECTED[case], "float32")
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    # Not trivial: the fusion matters (rows differ, away from a uniform mix).
    assert np.abs(expected).max() > 0.05


def test_a_fresh_fusion_attends_with_an_identity_value():
    fusion = AdapterFusion(query=False, key=False, regularization=False)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(2, 3, 8)).astype("float32")
    updates = rng.normal(size=(2, 3, 4, 8)).astype("float32")
    y = keras.ops.convert_to_numpy(fusion(h, updates, h))
    scores = np.einsum("bsh,bsnh->bsn", h, updates)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    expected = h + np.einsum("bsn,bsnh->bsh", weights, updates)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    config = fusion.get_config()
    clone = AdapterFusion.from_config(config)
    assert clone.get_config() == config
    assert not clone.use_query and clone.use_value
    regularized = AdapterFusion()
    regularized.build((None, None, 8))
    assert len(regularized.losses) == 1
    assert float(keras.ops.convert_to_numpy(regularized.losses[0])) < 1e-6


def test_fusion_folders_that_do_not_fit_are_refused(tmp_path):
    case = "fusion_pfeiffer"
    fusion = os.path.join(FIXTURES, case, "fusion")
    with pytest.raises(ArtifactError, match="fuses a, b; got adapters a"):
        load_adapterhub_fusion(fusion, {"a": adapters(case)["a"]}, BASE)
    mixed = {"a": adapters(case)["a"], "b": adapters("fusion_houlsby")["b"]}
    with pytest.raises(ArtifactError, match="must all be"):
        load_adapterhub_fusion(fusion, mixed, BASE)
    copy = str(tmp_path / "fusion")
    shutil.copytree(fusion, copy)
    path = os.path.join(copy, "adapter_fusion_config.json")
    with open(path) as handle:
        config = json.load(handle)
    config["config"]["temperature"] = True
    with open(path, "w") as handle:
        json.dump(config, handle)
    with pytest.raises(ArtifactError, match="'temperature' is True"):
        load_adapterhub_fusion(copy, adapters(case), BASE)
