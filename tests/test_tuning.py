import numpy as np
import pytest

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
