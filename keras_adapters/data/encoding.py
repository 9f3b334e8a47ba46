"""Examples tokenized once into fixed-length arrays, and their batch widths.

`EncodedExamples` is what the input pipelines batch: token ids cut to a
`max_seq_length`, each example's length and its label id (GLUE) or span
(SQuAD, `keras_adapters.data.squad_features.SquadFeatures`).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_adapters.data.glue import get_task

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

    def rows(self, indices):
        """The examples at `indices`.

        Args:
            indices: int array of example indices.

        Returns:
            `EncodedExamples` of those rows.
        """
        return EncodedExamples(
            token_ids=self.token_ids[indices],
            segment_ids=self.segment_ids[indices],
            lengths=self.lengths[indices],
            labels=self.labels[indices],
        )


def padded_widths(longest, max_length, pad_multiple=PAD_MULTIPLE):
    """The width a batch is cut to: its longest example rounded up to a
    multiple of `pad_multiple` (so few shapes are traced), at most
    `max_length`.

    Args:
        longest: int array, the longest example of each batch (or window).
        max_length: int, the encoded width.
        pad_multiple: int.

    Returns:
        int32 array of widths, the shape of `longest`.

    Example:

    ```python
    padded_widths(np.array([3, 17, 120]), 128)  # [16, 32, 128]
    ```
    """
    longest = np.asarray(longest)
    rounded = -(-longest // pad_multiple) * pad_multiple
    return np.minimum(rounded, max_length).astype(np.int32)


def encode_examples(examples, preprocessor, task, batch_size=256):
    """Tokenizes GLUE `InputExample`s with a text classifier preprocessor.

    Args:
        examples: list of objects with `text_a`, `text_b` and `label`.
        preprocessor: a keras-hub text classifier preprocessor (of any
            supported family); its `sequence_length` is the
            `max_seq_length`.
        task: a `GlueTask` or task name; its labels give the class ids
            (float scores for the regression task STS-B).
        batch_size: tokenization batch size.

    Returns:
        `EncodedExamples`.

    Example:

    ```python
    examples = read_examples(get_task("CoLA"), data_dir, "train")
    encoded = encode_examples(examples, model.preprocessor, "CoLA")
    ```
    """
    is_pair = bool(examples) and examples[0].text_b is not None
    texts_a = [example.text_a for example in examples]
    texts = (texts_a, [example.text_b for example in examples])
    dataset = tf.data.Dataset.from_tensor_slices(texts if is_pair else texts_a)
    token_ids, segment_ids, lengths = [], [], []
    for batch in dataset.batch(batch_size):
        # `y=None`: keras-hub would otherwise read a pair as (x, y).
        features = preprocessor(tuple(batch) if is_pair else batch, y=None)
        features = {
            key: keras.ops.convert_to_numpy(value)
            for key, value in features.items()
        }
        token_ids.append(features["token_ids"])
        # RoBERTa, XLM-RoBERTa and DistilBERT read no segment ids.
        segment_ids.append(
            features.get("segment_ids", np.zeros_like(features["token_ids"]))
        )
        lengths.append(features["padding_mask"].sum(axis=1))
    width = preprocessor.sequence_length
    return EncodedExamples(
        token_ids=_concat(token_ids, (0, width), np.int32),
        segment_ids=_concat(segment_ids, (0, width), np.int32),
        lengths=_concat(lengths, (0,), np.int32),
        labels=_encode_labels(examples, get_task(task)),
    )


def _concat(arrays, empty_shape, dtype):
    if not arrays:
        return np.zeros(empty_shape, dtype)
    return np.concatenate(arrays).astype(dtype)


def _encode_labels(examples, task):
    if task.is_regression:
        return np.array(
            [np.nan if e.label is None else float(e.label) for e in examples],
            np.float32,
        )
    ids = task.label_ids
    return np.array(
        [-1 if e.label is None else ids[e.label] for e in examples], np.int32
    )
