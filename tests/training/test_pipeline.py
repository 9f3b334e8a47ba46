import collections

import numpy as np
import pytest

from keras_adapters.data.encoding import EncodedExamples
from keras_adapters.training.pipeline import evaluation_dataset
from keras_adapters.training.pipeline import plan_batches
from keras_adapters.training.pipeline import training_dataset


def encoded(count=103, width=32, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, width + 1, count).astype(np.int32)
    token_ids = np.zeros((count, width), np.int32)
    for i, length in enumerate(lengths):
        token_ids[i, :length] = rng.integers(5, 100, length)
    return EncodedExamples(
        token_ids,
        np.zeros_like(token_ids),
        lengths,
        np.arange(count, dtype=np.int32) % 2,
    )


def test_plan_covers_each_epoch_once_and_is_reproducible():
    data = encoded()
    plan = plan_batches(data.lengths, 8, num_steps=38, seed=3)  # ~3 epochs.
    assert plan.shape == (38, 8)
    np.testing.assert_array_equal(
        plan, plan_batches(data.lengths, 8, 38, seed=3)
    )
    assert not np.array_equal(plan, plan_batches(data.lengths, 8, 38, seed=4))
    counts = collections.Counter(plan.ravel().tolist())
    # 304 draws over 103 examples: every example 2 or 3 times, none lost.
    assert set(counts.values()) <= {2, 3} and len(counts) == 103


def test_bucketing_reduces_padding():
    data = encoded(count=2000, width=128)

    def padded_tokens(plan):
        return sum(int(data.lengths[row].max()) * len(row) for row in plan)

    bucketed = plan_batches(data.lengths, 32, 60, seed=0)
    fixed = plan_batches(data.lengths, 32, 60, seed=0, bucketed=False)
    assert padded_tokens(bucketed) < 0.7 * padded_tokens(fixed)


def test_training_batches_are_cut_to_their_longest_example():
    data = encoded()
    plan = plan_batches(data.lengths, 8, 12, seed=0)
    for (features, labels, weights), row in zip(
        training_dataset(data, plan), plan
    ):
        width = features["token_ids"].shape[1]
        longest = data.lengths[row].max()
        assert width == min(-(-longest // 16) * 16, 32)
        np.testing.assert_array_equal(
            features["padding_mask"].numpy().sum(1), data.lengths[row]
        )
        np.testing.assert_array_equal(
            features["token_ids"].numpy(), data.token_ids[row, :width]
        )
        np.testing.assert_array_equal(labels.numpy(), data.labels[row])
    static = next(iter(training_dataset(data, plan, static=True)))
    assert static[0]["token_ids"].shape == (8, 32)


@pytest.mark.parametrize("static", [False, True])
def test_evaluation_keeps_order_and_counts_every_example_once(static):
    data = encoded(count=21)
    batches = list(evaluation_dataset(data, 8, static=static))
    labels = np.concatenate([b[1].numpy() for b in batches])
    weights = np.concatenate([b[2].numpy() for b in batches])
    assert len(batches) == 3
    assert weights.sum() == 21 and (weights[21:] == 0).all()
    np.testing.assert_array_equal(labels[:21], data.labels)
    if static:
        assert all(b[0]["token_ids"].shape == (8, 32) for b in batches)
    else:
        assert batches[-1][0]["token_ids"].shape[0] == 5


def test_pairs_are_encoded_as_two_segments(tiny_preprocessor):
    from keras_adapters.data.encoding import encode_examples
    from keras_adapters.data.glue import InputExample

    examples = [
        InputExample("x-0", "the film", "a movie", "1"),
        InputExample("x-1", "bad", "good", "0"),
    ]
    data = encode_examples(examples, tiny_preprocessor, "SST-2")
    # [CLS] the film [SEP] a movie [SEP]
    np.testing.assert_array_equal(data.token_ids[0, :7], [2, 5, 7, 3, 6, 8, 3])
    np.testing.assert_array_equal(
        data.segment_ids[0, :7], [0, 0, 0, 0, 1, 1, 1]
    )
    np.testing.assert_array_equal(data.lengths, [7, 5])
    np.testing.assert_array_equal(data.labels, [1, 0])
