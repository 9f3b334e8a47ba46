"""`tf.data` input pipelines: examples -> token ids -> (bucketed) batches.

Examples are tokenized once into fixed-length arrays. Training batches are
planned in NumPy from a seed, so the sequence of batches is a pure function
of `(seed, step)`: a restarted run skips exactly the batches it already
trained on. On CPU and GPU the plan groups examples of similar length and
each batch is cut to its own longest example (rounded up to a multiple of
`pad_multiple`, so only a few shapes are ever traced); on TPU every batch
keeps the static `max_seq_length`.
"""

import numpy as np
import tensorflow as tf

from keras_adapters.data.encoding import PAD_MULTIPLE
from keras_adapters.data.encoding import padded_widths
from keras_adapters.errors import KerasAdaptersError

# Batches are sorted by length inside windows of this many batches.
BUCKET_POOL_BATCHES = 50


def plan_batches(lengths, batch_size, num_steps, seed, bucketed=True):
    """The example indices of every training step, `[num_steps, batch]`.

    Epochs are independent permutations (from `seed`) laid end to end, as
    the original's `repeat()`; `num_steps * batch_size` examples are drawn,
    so every batch is full. With `bucketed=True`, windows of
    `BUCKET_POOL_BATCHES` batches are sorted by length before being cut
    into batches, and the batches of a window are shuffled.

    Args:
        lengths: int array `[n]` of example lengths.
        batch_size: int, global batch size.
        num_steps: int, total training steps.
        seed: int.
        bucketed: bool. Group examples of similar length.

    Returns:
        int32 array `[num_steps, batch_size]`.
    """
    lengths = np.asarray(lengths)
    count = len(lengths)
    if count == 0:
        raise KerasAdaptersError("No training examples.")
    rng = np.random.default_rng(seed)
    needed = num_steps * batch_size
    epochs = -(-needed // count)
    stream = np.concatenate([rng.permutation(count) for _ in range(epochs)])
    stream = stream[:needed]
    if not bucketed:
        return stream.reshape(num_steps, batch_size).astype(np.int32)
    window = BUCKET_POOL_BATCHES * batch_size
    batches = []
    for start in range(0, needed, window):
        chunk = stream[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        chunk_batches = chunk.reshape(-1, batch_size)
        batches.append(chunk_batches[rng.permutation(len(chunk_batches))])
    return np.concatenate(batches).astype(np.int32)


def _batch_widths(encoded, batches, pad_multiple, static):
    """The width each batch (a row of example indices) is cut to."""
    max_length = encoded.token_ids.shape[1]
    if static:
        return np.full(len(batches), max_length, np.int32)
    longest = [encoded.lengths[batch].max(initial=0) for batch in batches]
    return padded_widths(longest, max_length, pad_multiple)


def _cached_hidden_states(prefix_cache, indices, width):
    """The cached states of `indices`, padded to `width`, as a tensor."""
    hidden = tf.numpy_function(
        prefix_cache.gather, [indices, width], tf.float32, stateful=False
    )
    hidden.set_shape([None, None, prefix_cache.hidden_dim])
    return hidden


def _batch_features(encoded, prefix_cache=None):
    token_ids = tf.constant(encoded.token_ids)
    segment_ids = tf.constant(encoded.segment_ids)
    lengths = tf.constant(encoded.lengths)
    labels = tf.constant(encoded.labels)

    def gather(indices, weights, width):
        positions = tf.range(width)[tf.newaxis, :]
        features = {
            "padding_mask": tf.cast(
                positions < tf.gather(lengths, indices)[:, tf.newaxis],
                tf.int32,
            )
        }
        if prefix_cache is None:
            features["token_ids"] = tf.gather(token_ids, indices)[:, :width]
            features["segment_ids"] = tf.gather(segment_ids, indices)[:, :width]
        else:
            features["hidden_states"] = _cached_hidden_states(
                prefix_cache, indices, width
            )
        # Per-example weights broadcast over multi-part labels (the start
        # and end of a span).
        weights = tf.reshape(weights, [-1] + [1] * (labels.shape.rank - 1))
        return features, tf.gather(labels, indices), weights

    return gather


def training_dataset(
    encoded,
    plan,
    static=False,
    pad_multiple=PAD_MULTIPLE,
    prefix_cache=None,
    shard=(0, 1),
):
    """Batches following `plan` (`[steps, batch]` indices).

    Args:
        encoded: `EncodedExamples`.
        plan: the rows of `plan_batches` still to train on.
        static: bool. Keep `max_seq_length` (TPU) instead of cutting each
            batch to its longest example.
        pad_multiple: int. Dynamic widths are rounded up to this.
        prefix_cache: optional `keras_adapters.training.prefix_cache.
            PrefixCache` of `encoded`. The batches then hold its
            `hidden_states` (zero-padded) and the `padding_mask`, the inputs
            of the top of `keras_adapters.models.split_at_block`, instead
            of token ids.
        shard: `(index, count)`: this process's part of every batch in a
            run of `count` processes, the `index`-th of `count` equal
            slices of its rows, cut to the width of the whole batch (the
            processes' parts form one batch).

    Returns:
        A `tf.data.Dataset` of `(features, labels, weights)`.
    """
    widths = _batch_widths(encoded, plan, pad_multiple, static)
    index, count = shard
    rows = plan.shape[1] // count
    plan = plan[:, index * rows : (index + 1) * rows]
    weights = np.ones(plan.shape, np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((plan, weights, widths))
    dataset = dataset.map(
        _batch_features(encoded, prefix_cache),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(
    encoded, batch_size, static=False, pad_multiple=PAD_MULTIPLE
):
    """Batches in example order, every example exactly once.

    With `static=True` (TPU) the last batch is completed with copies of the
    first example at weight 0, so shapes stay static and no real example is
    dropped; predictions beyond `len(encoded)` are to be discarded.

    Args:
        encoded: `EncodedExamples`.
        batch_size: int.
        static: bool. Static shapes and full batches.
        pad_multiple: int. Dynamic widths are rounded up to this.

    Returns:
        A `tf.data.Dataset` of `(features, labels, weights)`.
    """
    count = len(encoded)
    indices = np.arange(count, dtype=np.int32)
    weights = np.ones(count, np.float32)
    if static:
        padding = -count % batch_size
        indices = np.concatenate([indices, np.zeros(padding, np.int32)])
        weights = np.concatenate([weights, np.zeros(padding, np.float32)])
    batches = [
        indices[start : start + batch_size]
        for start in range(0, len(indices), batch_size)
    ]
    widths = _batch_widths(encoded, batches, pad_multiple, static)
    dataset = tf.data.Dataset.zip(
        tf.data.Dataset.from_tensor_slices((indices, weights)).batch(
            batch_size, drop_remainder=static
        ),
        tf.data.Dataset.from_tensor_slices(widths),
    )
    gather = _batch_features(encoded)
    dataset = dataset.map(lambda batch, width: gather(*batch, width))
    return dataset.prefetch(tf.data.AUTOTUNE)
