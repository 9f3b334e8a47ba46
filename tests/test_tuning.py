import numpy as np
import pytest

from keras_adapters import TuningMode
from keras_adapters import lowest_trained_block
from keras_adapters import set_tuning_mode
from keras_adapters import tuning_summary
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifier
from tests.conftest import TINY_CONFIG


def adapter_params(d, m, layers):
    return 2 * layers * (2 * m * d + m + d)


def layer_norm_params(d, layers):
    return (1 + 2 * layers) * 2 * d


def trained(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.fixture
def classifier():
    backbone = AdapterBertBackbone(**TINY_CONFIG, adapter_size=4)
    return AdapterBertTextClassifier(backbone, num_classes=3)


def test_modes_train_what_they_say(classifier):
    d, layers, m, classes = 16, 2, 4, 3
    head = d * classes + classes
    pooler = d * d + d
    block = sum(
        int(np.prod(v.shape))
        for v in classifier.backbone.transformer_layers[-1].weights
    )
    assert classifier.tuning.mode == "adapters"
    assert (
        trained(classifier)
        == adapter_params(d, m, layers) + layer_norm_params(d, layers) + head
    )
    set_tuning_mode(classifier, "adapters", train_pooler=True)
    assert (
        trained(classifier)
        == adapter_params(d, m, layers)
        + layer_norm_params(d, layers)
        + head
        + pooler
    )
    set_tuning_mode(classifier, "layer_norm")
    assert trained(classifier) == layer_norm_params(d, layers) + head
    set_tuning_mode(classifier, "top_k", top_k=1)
    assert trained(classifier) == block + head
    set_tuning_mode(classifier, "full")
    assert trained(classifier) == classifier.count_params()
    # Frozen variables really are outside the optimizer's reach.
    set_tuning_mode(classifier, "adapters")
    frozen = {v.path for v in classifier.weights} - {
        v.path for v in classifier.trainable_weights
    }
    assert (
        "token_embedding/embeddings" in frozen
        and "pooled_dense/kernel" in frozen
    )
    assert "embeddings_layer_norm/gamma" not in frozen


def test_summary_groups_and_text(classifier):
    lines = []
    counts = tuning_summary(classifier, print_fn=lines.append)
    assert counts["adapters"] == {"trained": adapter_params(16, 4, 2)} | {
        "total": adapter_params(16, 4, 2)
    }
    assert counts["pooler"]["trained"] == 0 and counts["rest"]["trained"] == 0
    assert counts["total"]["total"] == classifier.count_params()
    text = lines[0]
    assert text.startswith("Tuning mode: adapters")
    assert "layer_norms" in text and "% of the parameters train." in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="everything"), "Unknown tuning mode 'everything'"),
        (dict(mode="top_k"), "Tuning mode 'top_k' needs `top_k`"),
        (dict(mode="adapters", top_k=2), "got mode 'adapters' with `top_k`=2"),
        (dict(mode="top_k", top_k=3), "between 1 and the number of blocks"),
        (dict(mode="full", train_pooler=True), "already trains"),
    ],
)
def test_bad_modes_are_clear_errors(classifier, kwargs, message):
    with pytest.raises(ValueError, match=message):
        set_tuning_mode(classifier, **kwargs)


def test_adapters_mode_needs_adapters():
    backbone = AdapterBertBackbone(**TINY_CONFIG, adapter_size=0)
    with pytest.raises(ValueError, match="adapter_size=0"):
        AdapterBertTextClassifier(backbone, num_classes=2)
    model = AdapterBertTextClassifier(
        backbone, num_classes=2, tuning_mode="full"
    )
    assert trained(model) == model.count_params()


def test_bert_base_shaped_counts():
    backbone = AdapterBertBackbone(
        vocabulary_size=30522,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        intermediate_dim=3072,
        adapter_size=64,
    )
    counts = tuning_summary(backbone, print_fn=None)
    assert counts["adapters"]["trained"] == 2_379_264
    assert counts["layer_norms"]["trained"] == 38_400
    assert counts["total"]["total"] - counts["adapters"]["total"] == 109_482_240


@pytest.mark.integration
def test_real_minilm_counts(minilm_path):
    model = AdapterBertTextClassifier.from_preset(
        minilm_path, num_classes=2, adapter_size=64
    )
    counts = tuning_summary(model, print_fn=None)
    assert counts["adapters"]["trained"] == 595_200
    assert counts["layer_norms"]["trained"] == 9_984
    assert counts["head"]["trained"] == 770
    assert counts["total"]["trained"] == trained(model) == 605_954


@pytest.fixture
def dropped():
    """Three blocks, adapters in the top two (AdapterDrop)."""
    backbone = AdapterBertBackbone(
        **dict(TINY_CONFIG, num_layers=3), adapter_size=4, adapter_layers=2
    )
    return AdapterBertTextClassifier(backbone, num_classes=3)


def trained_paths(model):
    return {v.path for v in model.trainable_weights}


def test_freeze_below_adapters_freezes_everything_below_the_lowest_adapter(
    dropped,
):
    d, m, classes = 16, 4, 3
    head = d * classes + classes
    # Plain adapters mode: every LayerNorm still trains.
    assert trained(dropped) == (
        adapter_params(d, m, 2) + layer_norm_params(d, 3) + head
    )
    assert lowest_trained_block(dropped) == 0
    tuning = set_tuning_mode(dropped, "adapters", freeze_below_adapters=True)
    assert tuning.freeze_below_adapters and dropped.tuning == tuning
    # Adapters and LayerNorms of blocks 1 and 2, and the head.
    assert trained(dropped) == adapter_params(d, m, 2) + 2 * 2 * 2 * d + head
    paths = trained_paths(dropped)
    assert not any(
        path.startswith(("transformer_layer_0/", "embeddings_layer_norm/"))
        for path in paths
    )
    assert "transformer_layer_1/self_attention_layer_norm/gamma" in paths
    assert lowest_trained_block(dropped) == 1
    lines = []
    counts = tuning_summary(dropped, print_fn=lines.append)
    assert counts["layer_norms"] == {"trained": 8 * d, "total": 14 * d}
    assert lines[0].startswith(
        "Tuning mode: adapters, frozen below the lowest adapters"
    )


def test_with_adapters_everywhere_only_the_embedding_norm_freezes(classifier):
    set_tuning_mode(classifier, "adapters", freeze_below_adapters=True)
    frozen = {v.path for v in classifier.weights} - trained_paths(classifier)
    assert "embeddings_layer_norm/gamma" in frozen
    assert "transformer_layer_0/self_attention_layer_norm/gamma" not in frozen
    # Block 0 has adapters, so it is the lowest trained block.
    assert lowest_trained_block(classifier) == 0


def test_freeze_below_adapters_is_part_of_the_task_config(dropped):
    set_tuning_mode(dropped, "adapters", freeze_below_adapters=True)
    assert dropped.tuning == TuningMode(freeze_below_adapters=True)
    config = dropped.get_config()
    assert config["freeze_below_adapters"] is True
    restored = AdapterBertTextClassifier.from_config(config)
    assert restored.tuning == dropped.tuning
    assert trained_paths(restored) == trained_paths(dropped)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(mode="full"), 0),
        (dict(mode="layer_norm"), 0),
        (dict(mode="top_k", top_k=1), 2),
        (dict(mode="top_k", top_k=3), 0),
        (dict(mode="adapters", freeze_below_adapters=True), 1),
    ],
)
def test_lowest_trained_block_of_each_mode(dropped, kwargs, expected):
    set_tuning_mode(dropped, **kwargs)
    assert lowest_trained_block(dropped) == expected
    assert lowest_trained_block(dropped.backbone) == expected


def test_lowest_trained_block_when_no_encoder_variable_trains(dropped):
    for variable in dropped.backbone.weights:
        variable.trainable = False
    dropped.backbone.pooled_dense.kernel.trainable = True
    assert lowest_trained_block(dropped) == 3


@pytest.mark.parametrize("mode, top_k", [("full", None), ("top_k", 1)])
def test_freeze_below_adapters_needs_adapters_mode(dropped, mode, top_k):
    with pytest.raises(
        ValueError,
        match=f"`freeze_below_adapters` only applies to tuning mode "
        f"'adapters', not '{mode}'",
    ):
        set_tuning_mode(dropped, mode, top_k=top_k, freeze_below_adapters=True)
