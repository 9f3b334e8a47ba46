"""`tf.data` input pipelines: examples -> token ids -> (bucketed) batches.

Examples are tokenized once into fixed-length arrays. Training batches are
planned in NumPy from a seed, so the sequence of batches is a pure function
of `(seed, step)`: a restarted run skips exactly the batches it already
trained on. On CPU and GPU the plan groups examples of similar length and
each batch is cut to its own longest example (rounded up to a multiple of
`pad_multiple`, so only a few shapes are ever traced); on TPU every batch
keeps the static `max_seq_length`.
"""

import dataclasses

import numpy as np
import tensorflow as tf

# Batches are sorted by length inside windows of this many batches.
BUCKET_POOL_BATCHES = 50
# Dynamic batch widths are rounded up to a multiple of this (few traces).
PAD_MULTIPLE = 16


@dataclasses.dataclass
class EncodedExamples:
    """Examples tokenized to `max_seq_length`.

    Attributes:
        token_ids: int32 `[n, max_seq_length]`.
        segment_ids: int32 `[n, max_seq_length]`.
        lengths: int32 `[n]`, number of real tokens (the padding mask is
            `position < length`).
        labels: int32 class ids or float32 scores `[n]` (or `[n, k]`,
            e.g. span starts and ends); `-1` (or NaN) where an example has
            no label.
    """

    token_ids: np.ndarray
    segment_ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.lengths)


def encode_examples(examples, preprocessor, label_list=None, batch_size=256):
    """Tokenizes `InputExample`s with a BERT classifier preprocessor.

    Args:
        examples: list of objects with `text_a`, `text_b` and `label`.
        preprocessor: a keras-hub BERT classifier preprocessor; its
            `sequence_length` is the `max_seq_length`.
        label_list: label strings in class-id order, or `None` for
            regression (float labels).
        batch_size: tokenization batch size.

    Returns:
        `EncodedExamples`.
    """
    is_pair = bool(examples) and examples[0].text_b is not None
    texts_a = [example.text_a for example in examples]
    texts = (texts_a, [example.text_b for example in examples])
    dataset = tf.data.Dataset.from_tensor_slices(texts if is_pair else texts_a)
    token_ids, segment_ids, lengths = [], [], []
    for batch in dataset.batch(batch_size):
        # `y=None`: keras-hub would otherwise read a pair as (x, y).
        features = preprocessor(tuple(batch) if is_pair else batch, y=None)
        token_ids.append(features["token_ids"].numpy())
        segment_ids.append(features["segment_ids"].numpy())
        lengths.append(features["padding_mask"].numpy().sum(axis=1))
    width = preprocessor.sequence_length
    return EncodedExamples(
        token_ids=_concat(token_ids, (0, width), np.int32),
        segment_ids=_concat(segment_ids, (0, width), np.int32),
        lengths=_concat(lengths, (0,), np.int32),
        labels=_encode_labels(examples, label_list),
    )


def _concat(arrays, empty_shape, dtype):
    if not arrays:
        return np.zeros(empty_shape, dtype)
    return np.concatenate(arrays).astype(dtype)


def _encode_labels(examples, label_list):
    if label_list is None:
        return np.array(
            [np.nan if e.label is None else float(e.label) for e in examples],
            np.float32,
        )
    ids = {label: i for i, label in enumerate(label_list)}
    return np.array(
        [-1 if e.label is None else ids[e.label] for e in examples], np.int32
    )


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
        raise ValueError("No training examples.")
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


def _batch_features(encoded, pad_multiple, static):
    token_ids = tf.constant(encoded.token_ids)
    segment_ids = tf.constant(encoded.segment_ids)
    lengths = tf.constant(encoded.lengths)
    labels = tf.constant(encoded.labels)
    max_length = encoded.token_ids.shape[1]

    def gather(indices, weights):
        batch_lengths = tf.gather(lengths, indices)
        if static:
            width = max_length
        else:
            longest = tf.reduce_max(batch_lengths)
            width = tf.minimum(
                (longest + pad_multiple - 1) // pad_multiple * pad_multiple,
                max_length,
            )
        positions = tf.range(width)[tf.newaxis, :]
        features = {
            "token_ids": tf.gather(token_ids, indices)[:, :width],
            "segment_ids": tf.gather(segment_ids, indices)[:, :width],
            "padding_mask": tf.cast(
                positions < batch_lengths[:, tf.newaxis], tf.int32
            ),
        }
        # Per-example weights broadcast over multi-part labels (the start
        # and end of a span).
        weights = tf.reshape(weights, [-1] + [1] * (labels.shape.rank - 1))
        return features, tf.gather(labels, indices), weights

    return gather


def training_dataset(encoded, plan, static=False, pad_multiple=PAD_MULTIPLE):
    """Batches following `plan` (`[steps, batch]` indices).

    Args:
        encoded: `EncodedExamples`.
        plan: the rows of `plan_batches` still to train on.
        static: bool. Keep `max_seq_length` (TPU) instead of cutting each
            batch to its longest example.
        pad_multiple: int. Dynamic widths are rounded up to this.

    Returns:
        A `tf.data.Dataset` of `(features, labels, weights)`.
    """
    weights = np.ones(plan.shape, np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((plan, weights))
    dataset = dataset.map(
        _batch_features(encoded, pad_multiple, static),
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
    dataset = tf.data.Dataset.from_tensor_slices((indices, weights))
    dataset = dataset.batch(batch_size, drop_remainder=static)
    dataset = dataset.map(_batch_features(encoded, pad_multiple, static))
    return dataset.prefetch(tf.data.AUTOTUNE)
