import numpy as np
import pytest
from keras_hub.models import BertBackbone

import keras_adapters
from keras_adapters import KerasAdaptersError
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterHubTextClassifier
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs

SENTENCES = ["the film is good .", "a dull , boring movie", "i loved it"]


def classifier(adapter_config="houlsby", preprocessor=None, **kwargs):
    backbone = AdapterBertBackbone(
        **TINY_CONFIG, adapter_config=adapter_config, adapter_size=4
    )
    return AdapterHubTextClassifier(
        backbone, num_classes=3, preprocessor=preprocessor, **kwargs
    )


def stand_in_for_training(model, seed):
    """Moves every trained weight, as training would."""
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(rng.normal(0, 0.3, weight.shape))


def test_adapterhubs_tuning_trains_adapters_and_head_only():
    model = classifier()
    counts = keras_adapters.tuning_summary(model, print_fn=None)
    d, m, blocks = TINY_CONFIG["hidden_dim"], 4, TINY_CONFIG["num_layers"]
    assert counts["adapters"]["trained"] == blocks * 2 * (2 * m * d + m + d)
    assert counts["head"]["trained"] == (d * d + d) + (d * 3 + 3)
    assert counts["layer_norms"]["trained"] == 0
    assert counts["total"]["trained"] == (
        counts["adapters"]["trained"] + counts["head"]["trained"]
    )
    assert model.tuning.describe() == "adapters, LayerNorms frozen"
    # adapter-bert's config trains the LayerNorms, as before; either can be
    # asked for explicitly.
    bert = classifier("adapter-bert")
    assert (
        keras_adapters.tuning_summary(bert, print_fn=None)["layer_norms"][
            "trained"
        ]
        > 0
    )
    forced = classifier(train_layer_norms=True)
    assert forced.tuning.train_layer_norms
    with pytest.raises(KerasAdaptersError, match="train_layer_norms"):
        classifier(tuning_mode="full", train_layer_norms=False)


def test_config_and_keras_file_round_trip(tmp_path, tiny_preprocessor):
    model = classifier(
        "pfeiffer",
        preprocessor=tiny_preprocessor,
        labels=["a", "b", "c"],
        head_layers=1,
        use_pooler=True,
    )
    config = model.get_config()
    assert config["labels"] == ["a", "b", "c"]
    assert config["backbone"]["config"]["adapter_config"]["name"] == "pfeiffer"
    stand_in_for_training(model, seed=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras_adapters.load_model(path)
    assert type(loaded) is AdapterHubTextClassifier
    assert loaded.labels == ["a", "b", "c"]
    assert loaded.tuning == model.tuning
    np.testing.assert_allclose(
        loaded.predict(SENTENCES, verbose=0),
        model.predict(SENTENCES, verbose=0),
        rtol=0,
        atol=1e-6,
    )


def test_regression_and_label_checks():
    model = AdapterHubTextClassifier(
        AdapterBertBackbone(**TINY_CONFIG, adapter_config="houlsby"),
        regression=True,
    )
    assert model.predict(tiny_inputs(), verbose=0).shape == (3, 1)
    with pytest.raises(KerasAdaptersError, match="name each of the 3 classes"):
        classifier(labels=["a", "b"])


def test_keras_adapters_artifact_keeps_the_config_and_head(tmp_path):
    model = classifier("pfeiffer", labels=["x", "y", "z"])
    stand_in_for_training(model, seed=1)
    base = str(tmp_path / "base")
    model.backbone.save_to_preset(base)
    folder = str(tmp_path / "artifact")
    keras_adapters.save_adapters(model, folder)
    config = keras_adapters.read_artifact_config(folder)
    assert config["adapter"]["adapter_config"]["name"] == "pfeiffer"
    assert config["tuning"]["train_layer_norms"] is False
    assert config["task"]["labels"] == ["x", "y", "z"]
    plain = str(tmp_path / "plain")
    bert = BertBackbone(**TINY_CONFIG)
    for variable in bert.weights:
        source = {v.path: v for v in model.backbone.weights}[variable.path]
        variable.assign(source.numpy())
    bert.save_to_preset(plain)
    loaded = keras_adapters.load_adapters(folder, plain, preprocessor=None)
    assert type(loaded) is AdapterHubTextClassifier
    assert loaded.backbone.adapter_config == model.backbone.adapter_config
    np.testing.assert_allclose(
        loaded.predict(tiny_inputs(), verbose=0),
        model.predict(tiny_inputs(), verbose=0),
        rtol=0,
        atol=1e-6,
    )


def test_task_preset_round_trip(tmp_path, tiny_preprocessor):
    model = classifier("houlsby", preprocessor=tiny_preprocessor)
    stand_in_for_training(model, seed=2)
    path = str(tmp_path / "preset")
    model.save_to_preset(path)
    reloaded = AdapterHubTextClassifier.from_preset(path)
    assert type(reloaded) is AdapterHubTextClassifier
    np.testing.assert_allclose(
        reloaded.predict(SENTENCES, verbose=0),
        model.predict(SENTENCES, verbose=0),
        rtol=0,
        atol=1e-6,
    )
