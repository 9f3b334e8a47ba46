"""SQuAD examples -> the windows BERT reads, with gold span positions."""

import dataclasses
import logging

import keras
import numpy as np

from keras_adapters.data.encoding import EncodedExamples

# Questions tokenized per call of the preprocessor.
_BATCH_SIZE = 256


@dataclasses.dataclass
class SquadFeatures(EncodedExamples):
    """Windows of SQuAD examples (see
    `AdapterBertQuestionAnswererPreprocessor.windows`).

    Attributes (besides those of `EncodedExamples`; `labels` is `[n, 2]`
    gold start and end positions, `(0, 0)` for a window without the
    answer, `-1` when unknown):
        example_index: int32 `[n]`, the example of each window.
        token_start, token_end: int32 `[n, max_seq_length]`, byte offsets
            of each token in its context (`-1` outside the context).
        max_context: bool `[n, max_seq_length]`.
        unaligned: qas ids of training answers that no token overlaps.
    """

    example_index: np.ndarray
    token_start: np.ndarray
    token_end: np.ndarray
    max_context: np.ndarray
    unaligned: list = dataclasses.field(default_factory=list)


def answer_byte_span(example):
    """Byte range `[begin, end)` of an example's first answer in its
    UTF-8 context, or `None` when it has none."""
    answer = example.answer
    if answer is None or example.is_impossible:
        return None
    begin = len(example.context[: answer.start].encode("utf-8"))
    return begin, begin + len(answer.text.encode("utf-8"))


def _gold_positions(windows, spans, first_example):
    """`[windows, 2]` start and end positions of the answers in windows."""
    count = len(windows["example_index"])
    labels = np.zeros((count, 2), np.int32)
    unaligned = set()
    local = windows["example_index"] - first_example
    begin = np.array([-1 if s is None else s[0] for s in spans])[local]
    end = np.array([-1 if s is None else s[1] for s in spans])[local]
    index = windows["context_index"]
    overlap = (
        (index >= 0)
        & (windows["token_end"] > begin[:, None])
        & (windows["token_start"] < end[:, None])
    )
    big = np.iinfo(np.int32).max
    first = np.full(len(spans), big)
    last = np.full(len(spans), -1)
    np.minimum.at(first, local, np.where(overlap, index, big).min(1))
    np.maximum.at(last, local, np.where(overlap, index, -1).max(1))
    for example, span in enumerate(spans):
        if span is not None and last[example] < 0:
            unaligned.add(example)
    has_first = index == first[local][:, None]
    has_last = index == last[local][:, None]
    inside = has_first.any(1) & has_last.any(1) & (begin >= 0)
    labels[inside, 0] = has_first[inside].argmax(1)
    labels[inside, 1] = has_last[inside].argmax(1)
    return labels, unaligned


def convert_examples_to_features(examples, preprocessor, with_answers):
    """Windows of SQuAD examples, labelled with gold spans for training.

    Args:
        examples: list of `keras_adapters.data.squad.SquadExample`.
        preprocessor: an `AdapterBertQuestionAnswererPreprocessor`.
        with_answers: bool. Label each window with the position of the
            first answer (training); `False` leaves labels at `-1`.

    Returns:
        `SquadFeatures`, windows in example order.

    Example:

    ```python
    squad = keras_adapters.data.read_squad_examples(path, is_training=True)
    features = convert_examples_to_features(
        squad.examples, model.preprocessor, with_answers=True
    )
    ```
    """
    parts = []
    unaligned = []
    for first in range(0, len(examples), _BATCH_SIZE):
        batch = examples[first : first + _BATCH_SIZE]
        windows = preprocessor(
            {
                "question": [example.question for example in batch],
                "context": [example.context for example in batch],
            }
        )
        windows = {
            key: keras.ops.convert_to_numpy(value)
            for key, value in windows.items()
        }
        windows["example_index"] += first
        if with_answers:
            spans = [answer_byte_span(example) for example in batch]
            labels, missed = _gold_positions(windows, spans, first)
            unaligned += [batch[i].qas_id for i in sorted(missed)]
        else:
            labels = np.full((len(windows["example_index"]), 2), -1, np.int32)
        windows["labels"] = labels
        parts.append(windows)
    if unaligned:
        logging.warning(
            "%d answers cover no token of their context and train as "
            "no-answer windows (first ids: %s).",
            len(unaligned),
            ", ".join(unaligned[:5]),
        )

    def joined(key, empty_shape, dtype):
        if not parts:
            return np.zeros(empty_shape, dtype)
        return np.concatenate([part[key] for part in parts]).astype(dtype)

    width = (0, preprocessor.sequence_length)
    return SquadFeatures(
        token_ids=joined("token_ids", width, np.int32),
        segment_ids=joined("segment_ids", width, np.int32),
        lengths=joined("padding_mask", width, np.int32).sum(1).astype(np.int32),
        labels=joined("labels", (0, 2), np.int32),
        example_index=joined("example_index", (0,), np.int32),
        token_start=joined("token_start", width, np.int32),
        token_end=joined("token_end", width, np.int32),
        max_context=joined("max_context", width, bool),
        unaligned=unaligned,
    )
