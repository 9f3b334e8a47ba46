"""Keras adapters written as AdapterHub folders, as AdapterHub writes them."""

import json
import os
import shutil

import numpy as np
import pytest
import safetensors.numpy

import keras_adapters
from keras_adapters import KerasAdaptersError
from keras_adapters.adapterhub.torch_files import read_tensor_file
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.models import AdapterHubTextClassifier
from keras_adapters.output_files import OutputFolderError
from tests.adapterhub.fixtures import BASE
from tests.adapterhub.fixtures import SENTENCES
from tests.adapterhub.fixtures import expected_logits
from tests.adapterhub.fixtures import folder


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def weight_shapes(path, rename=None):
    if path.endswith(".bin"):
        weights = read_tensor_file(path)
    else:
        weights = safetensors.numpy.load_file(path)
    return {
        name.replace(*rename) if rename else name: value.shape
        for name, value in weights.items()
    }


@pytest.mark.parametrize(
    "case", ["houlsby_bin", "pfeiffer_safetensors", "houlsby_leave_out_pooler"]
)
@pytest.mark.parametrize("weights_format", ["safetensors", "bin"])
def test_written_folder_is_what_adapterhub_writes(
    tmp_path, case, weights_format
):
    """The files, configs, weight names and shapes of AdapterHub's own
    folder (`model_name` is the caller's, `dropout_prob` the head's rate),
    and the same logits read back."""
    model = keras_adapters.load_adapters(folder(case), BASE)
    out = str(tmp_path / case)
    keras_adapters.save_adapters(
        model, out, format="adapterhub", weights_format=weights_format
    )
    theirs, mine = folder(case), out
    suffix = ".bin" if weights_format == "bin" else ".safetensors"
    assert sorted(os.listdir(mine)) == sorted(
        [
            ".keras_adapters.json",  # keras_adapters' marker; AdapterHub
            # reads only its own files.
            "adapter_config.json",
            "head_config.json",
            ("pytorch_adapter" if suffix == ".bin" else "adapter") + suffix,
            ("pytorch_model_head" if suffix == ".bin" else "model_head")
            + suffix,
        ]
    )
    for name in ("adapter_config.json", "head_config.json"):
        expected, written = (
            read_json(f"{theirs}/{name}"),
            read_json(f"{mine}/{name}"),
        )
        for config in (expected, written):
            config.pop("model_name")
            config["config"].pop("dropout_prob", None)
        assert written == expected
    pairs = [
        (
            f
            for f in os.listdir(theirs)
            if "head" not in f and not f.endswith(".json")
        ),
        (
            f
            for f in os.listdir(mine)
            if "head" not in f and not f.endswith(".json")
        ),
    ]
    theirs_file, mine_file = (next(p) for p in pairs)
    assert weight_shapes(f"{mine}/{mine_file}") == weight_shapes(
        f"{theirs}/{theirs_file}"
    )
    reloaded = keras_adapters.load_adapters(out, BASE)
    np.testing.assert_allclose(
        reloaded.predict(SENTENCES, verbose=0),
        expected_logits(case),
        rtol=0,
        atol=1e-5,
    )


def test_a_model_trained_in_keras_round_trips(tmp_path):
    model = AdapterHubTextClassifier.from_preset(
        BASE,
        num_classes=2,
        adapter_config="pfeiffer",
        intermediate_activation="auto",
        labels=["no", "yes"],
    )
    model.fit(SENTENCES, [0, 1] * 4, batch_size=4, epochs=2, verbose=0)
    out = str(tmp_path / "keras_trained")
    path = keras_adapters.save_adapters(model, out, format="adapterhub")
    assert path == os.path.join(out, "adapter.safetensors")
    config = read_json(os.path.join(out, "adapter_config.json"))
    assert config["name"] == "keras_trained"
    assert config["config"]["non_linearity"] == "relu"
    assert config["config"]["reduction_factor"] == 16
    head = read_json(os.path.join(out, "head_config.json"))
    assert head["config"]["label2id"] == {"no": 0, "yes": 1}
    reloaded = keras_adapters.load_adapters(out, BASE)
    np.testing.assert_allclose(
        reloaded.predict(SENTENCES, verbose=0),
        model.predict(SENTENCES, verbose=0),
        rtol=0,
        atol=1e-6,
    )


def test_only_what_adapterhub_computes_the_same_is_written(tmp_path):
    out = str(tmp_path / "out")
    bert = AdapterBertTextClassifier.from_preset(BASE, num_classes=2)
    with pytest.raises(
        KerasAdaptersError, match="adapter-bert's adapter config"
    ):
        keras_adapters.save_adapters(bert, out, format="adapterhub")
    houlsby = AdapterHubTextClassifier.from_preset(
        BASE, num_classes=2, adapter_config="houlsby", tuning_mode="full"
    )
    with pytest.raises(KerasAdaptersError, match="mode 'full'"):
        keras_adapters.save_adapters(houlsby, out, format="adapterhub")
    houlsby = AdapterHubTextClassifier.from_preset(
        BASE, num_classes=2, adapter_config="houlsby", train_layer_norms=True
    )
    with pytest.raises(KerasAdaptersError, match="LayerNorms"):
        keras_adapters.save_adapters(houlsby, out, format="adapterhub")
    softmax = AdapterHubTextClassifier.from_preset(
        BASE, num_classes=2, adapter_config="houlsby", activation="softmax"
    )
    with pytest.raises(KerasAdaptersError, match="activation=None"):
        keras_adapters.save_adapters(softmax, out, format="adapterhub")
    bert_head = AdapterBertTextClassifier.from_preset(
        BASE, num_classes=2, adapter_config="houlsby"
    )
    with pytest.raises(KerasAdaptersError, match="AdapterHubTextClassifier"):
        keras_adapters.save_adapters(bert_head, out, format="adapterhub")
    assert not os.path.exists(out)


def test_bad_arguments(tmp_path):
    model = keras_adapters.load_adapters(folder("houlsby_bin"), BASE)
    out = str(tmp_path / "out")
    for kwargs, match in [
        (dict(format="onnx"), "`format` must be"),
        (dict(format="adapterhub", weights_format="pt"), "weights_format"),
        (dict(format="adapterhub", name="a.b"), "`name`"),
        (dict(format="adapterhub", labels=["x"]), "1 labels"),
        (dict(format="adapterhub", inputs=["sentence"]), "no `inputs`"),
        (dict(weights_format="bin"), "format='adapterhub' only"),
    ]:
        with pytest.raises(KerasAdaptersError, match=match):
            keras_adapters.save_adapters(model, out, **kwargs)


def test_the_folder_is_replaced_whole_and_only_if_ours(tmp_path):
    model = keras_adapters.load_adapters(folder("houlsby_bin"), BASE)
    out = str(tmp_path / "out")
    keras_adapters.save_adapters(model, out, format="adapterhub")
    keras_adapters.save_adapters(
        model, out, format="adapterhub", weights_format="bin"
    )
    # No safetensors file is left for AdapterHub to prefer.
    assert sorted(os.listdir(out)) == [
        ".keras_adapters.json",
        "adapter_config.json",
        "head_config.json",
        "pytorch_adapter.bin",
        "pytorch_model_head.bin",
    ]
    theirs = str(tmp_path / "theirs")
    shutil.copytree(folder("houlsby_bin"), theirs)
    with pytest.raises(OutputFolderError, match="did not write"):
        keras_adapters.save_adapters(model, theirs, format="adapterhub")
    assert sorted(os.listdir(theirs)) == sorted(
        os.listdir(folder("houlsby_bin"))
    )


def test_an_adapter_without_a_head(tmp_path):
    backbone = keras_adapters.load_adapters(folder("houlsby_no_head"), BASE)
    out = str(tmp_path / "houlsby_no_head")
    keras_adapters.save_adapters(backbone, out, format="adapterhub")
    assert sorted(os.listdir(out)) == [
        ".keras_adapters.json",
        "adapter.safetensors",
        "adapter_config.json",
    ]
    expected = read_json(
        os.path.join(folder("houlsby_no_head"), "adapter_config.json")
    )
    written = read_json(os.path.join(out, "adapter_config.json"))
    expected.pop("model_name"), written.pop("model_name")
    written["name"] = expected["name"]
    assert written == expected
