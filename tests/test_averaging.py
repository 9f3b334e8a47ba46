"""Averaging adapter artifacts: the weighted mean, and what is refused."""

import keras
import numpy as np
import pytest
import safetensors.numpy
from keras_hub.models import BertBackbone

import keras_adapters
from keras_adapters import ArtifactError
from keras_adapters import KerasAdaptersError
from keras_adapters.models.artifact import Artifact
from tests.conftest import TINY_CONFIG
from tests.test_multi_task import save_preset
from tests.test_multi_task import save_task


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return save_preset(str(tmp_path_factory.mktemp("preset")))


@pytest.fixture(scope="module")
def pair(preset, tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    return [
        save_task(
            preset,
            str(root / f"seed{seed}"),
            12,
            labels=["bad", "good"],
            num_classes=2,
            adapter_size=4,
            seed=seed,
        )
        for seed in (1, 2)
    ]


def test_the_mean_of_two_artifacts_is_their_weighted_mean(
    preset, pair, tmp_path
):
    output = str(tmp_path / "mean")
    assert keras_adapters.average_adapters(pair, [1, 3], output) == output
    first, second = (
        safetensors.numpy.load_file(f"{folder}/adapter_weights.safetensors")
        for folder in pair
    )
    mean = Artifact.read(output)
    assert sorted(mean.weights) == sorted(first)
    for path, value in mean.weights.items():
        np.testing.assert_allclose(
            value,
            0.25 * first[path].astype("float64")
            + 0.75 * second[path].astype("float64"),
            rtol=1e-6,
            atol=1e-7,
        )
    config = Artifact.read(pair[0]).config
    assert mean.config["base_model"] == config["base_model"]
    assert mean.config["labels"] == ["bad", "good"]
    assert [entry["weight"] for entry in mean.config["averaged_from"]] == [
        0.25,
        0.75,
    ]
    # It loads on the same base, with the averaged values.
    model = keras_adapters.load_adapters(output, preset)
    kernel = {v.path: v for v in model.weights}["logits/kernel"]
    np.testing.assert_allclose(
        kernel.numpy(), mean.weights["logits/kernel"], rtol=1e-6
    )


def test_incompatible_artifacts_and_bad_weights_are_refused(
    preset, pair, tmp_path
):
    wider = save_task(
        preset, str(tmp_path / "wider"), 12, num_classes=2, adapter_size=8
    )
    # Same architecture, other pretrained weights.
    other_base = save_preset(str(tmp_path / "other_preset"))
    keras.utils.set_random_seed(7)
    BertBackbone(**TINY_CONFIG).save_to_preset(other_base)
    moved = save_task(
        other_base,
        str(tmp_path / "moved"),
        12,
        labels=["bad", "good"],
        num_classes=2,
        adapter_size=4,
    )
    out = str(tmp_path / "out")
    cases = [
        ([pair[0], wider], None, ArtifactError, "adapter settings"),
        ([pair[0], moved], None, ArtifactError, "base model"),
        ([pair[0]], None, KerasAdaptersError, "two or more"),
        (pair, [1], KerasAdaptersError, "2 artifacts"),
        (pair, [1, -1], KerasAdaptersError, ">= 0"),
        ([pair[0], str(tmp_path / "nowhere")], None, ArtifactError, "No "),
    ]
    for directories, weights, error, message in cases:
        with pytest.raises(error, match=message) as raised:
            keras_adapters.average_adapters(directories, weights, out)
        assert "\n" not in str(raised.value)
