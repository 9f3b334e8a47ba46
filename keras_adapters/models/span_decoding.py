"""Span logits -> answer strings, as the original SQuAD post-processing.

`decode_answers` is `run_squad.py`'s n-best decoding in NumPy (files of
predictions); `best_answer_spans` is its top-1 in TensorFlow ops, for a
SavedModel that answers raw questions in one graph.
"""

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class DecodedAnswers:
    """What `decode_answers` returns.

    Attributes:
        predictions: `{qas_id: answer text}` (`""` for no answer in v2).
        nbest: `{qas_id: [{"text", "probability", "start_logit",
            "end_logit"}, ...]}`, best first.
        null_odds: `{qas_id: null score - best span score}` (v2 only).
    """

    predictions: dict
    nbest: dict
    null_odds: dict


def _top(values, count):
    """Indices of the `count` largest values, largest first."""
    return np.argsort(-values, kind="stable")[:count]


def _window_candidates(
    features, window, starts, ends, n_best_size, max_answer_length
):
    """(score, start logit, end logit, begin byte, end byte) candidates."""
    real = int(features.lengths[window])
    start_logits, end_logits = starts[:real], ends[:real]
    start_index, end_index = np.meshgrid(
        _top(start_logits, n_best_size),
        _top(end_logits, n_best_size),
        indexing="ij",
    )
    token_start = features.token_start[window]
    token_end = features.token_end[window]
    valid = (
        (token_start[start_index] >= 0)
        & (token_start[end_index] >= 0)
        & features.max_context[window][start_index]
        & (end_index >= start_index)
        & (end_index - start_index + 1 <= max_answer_length)
    )
    return [
        (
            float(start_logits[s] + end_logits[e]),
            float(start_logits[s]),
            float(end_logits[e]),
            int(token_start[s]),
            int(token_end[e]),
        )
        for s, e in zip(start_index[valid], end_index[valid])
    ]


def _softmax(scores):
    scores = np.asarray(scores, np.float64)
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def decode_answers(
    examples,
    features,
    logits,
    n_best_size=20,
    max_answer_length=30,
    version_2_with_negative=False,
    null_score_diff_threshold=0.0,
):
    """The n-best answers of every example, from its windows' logits.

    For each window, the `n_best_size` best starts and ends are paired;
    pairs outside the context, ending before they start, longer than
    `max_answer_length` tokens, or starting on a token whose max-context
    window is another one are dropped. Candidates of all windows are ranked
    by start + end logit and the first `n_best_size` distinct texts kept,
    with softmax probabilities over them. An answer's text is the exact
    slice of the context from its first token's start to its last token's
    end. With `version_2_with_negative`, the smallest `[CLS]` score of the
    windows competes as the empty answer, and the prediction is `""` when
    it beats the best span by more than `null_score_diff_threshold`.

    Args:
        examples: list of `SquadExample`.
        features: their `SquadFeatures`.
        logits: `[windows, 2, sequence]` model outputs (start, end); the
            sequence may be cut to any width covering each window.
        n_best_size: int. Defaults to `20`.
        max_answer_length: int, in tokens. Defaults to `30`.
        version_2_with_negative: bool. Defaults to `False`.
        null_score_diff_threshold: float. Defaults to `0.0`.

    Returns:
        `DecodedAnswers`.
    """
    logits = np.asarray(logits, np.float32)
    windows_of = [[] for _ in examples]
    for window, example in enumerate(features.example_index):
        windows_of[example].append(window)
    predictions, nbest_json, null_odds = {}, {}, {}
    for example, windows in zip(examples, windows_of):
        candidates = []
        null = None
        for window in windows:
            starts, ends = logits[window, 0], logits[window, 1]
            candidates += _window_candidates(
                features,
                window,
                starts,
                ends,
                n_best_size,
                max_answer_length,
            )
            score = float(starts[0] + ends[0])
            if null is None or score < null[0]:
                null = (score, float(starts[0]), float(ends[0]), None, None)
        if version_2_with_negative and null is not None:
            candidates.append(null)
        candidates.sort(key=lambda candidate: -candidate[0])
        context = example.context.encode("utf-8")
        nbest, seen = [], set()
        for score, start_logit, end_logit, begin, end in candidates:
            if len(nbest) >= n_best_size:
                break
            text = "" if begin is None else context[begin:end].decode("utf-8")
            if text in seen:
                continue
            seen.add(text)
            nbest.append((text, score, start_logit, end_logit))
        if version_2_with_negative and "" not in seen and null is not None:
            nbest.append(("", null[0], null[1], null[2]))
        if not nbest:
            nbest.append(("empty", 0.0, 0.0, 0.0))
        probabilities = _softmax([entry[1] for entry in nbest])
        nbest_json[example.qas_id] = [
            {
                "text": text,
                "probability": float(probability),
                "start_logit": start_logit,
                "end_logit": end_logit,
            }
            for (text, _, start_logit, end_logit), probability in zip(
                nbest, probabilities
            )
        ]
        if not version_2_with_negative:
            predictions[example.qas_id] = nbest[0][0]
            continue
        best = next((entry for entry in nbest if entry[0]), None)
        if best is None:
            predictions[example.qas_id] = ""
            null_odds[example.qas_id] = 0.0 if null is None else null[0]
            continue
        difference = null[0] - best[1]
        null_odds[example.qas_id] = difference
        predictions[example.qas_id] = (
            "" if difference > null_score_diff_threshold else best[0]
        )
    return DecodedAnswers(predictions, nbest_json, null_odds)


def best_answer_spans(
    logits, windows, num_examples, n_best_size=20, max_answer_length=30
):
    """The best span of each example in TensorFlow ops (top-1 of
    `decode_answers`, with the same filters).

    Args:
        logits: `[windows, 2, sequence]` float32. The sequence may be cut
            to any width covering each window, narrower than
            `max_answer_length` included.
        windows: the preprocessor's windows (`context_index`,
            `max_context`, `token_start`, `token_end`, `example_index`),
            cut to the same width.
        num_examples: scalar int tensor, the number of examples (`0` for
            an empty batch, which gives empty outputs).
        n_best_size: int. Starts and ends considered per window.
        max_answer_length: int, in tokens.

    Returns:
        `(begin, end, score, null_score)`, each `[num_examples]`: the byte
        range of the best answer in its context (`0, 0` when no span is
        valid, with score `-inf`), its start + end logit, and the smallest
        `[CLS]` start + end logit of the example's windows.
    """
    start_logits, end_logits = logits[:, 0], logits[:, 1]
    length = tf.shape(start_logits)[1]
    count = tf.minimum(n_best_size, length)
    start_cut = tf.math.top_k(start_logits, count).values[:, -1:]
    end_cut = tf.math.top_k(end_logits, count).values[:, -1:]
    in_context = windows["context_index"] >= 0
    valid_start = (
        in_context & windows["max_context"] & (start_logits >= start_cut)
    )
    valid_end = in_context & (end_logits >= end_cut)
    # end >= start and end - start < max_answer_length, at any width (a
    # batch cut to short windows can be narrower than the longest answer).
    positions = tf.range(length)
    span = positions[None, :] - positions[:, None]
    band = (span >= 0) & (span < max_answer_length)
    valid = valid_start[:, :, None] & valid_end[:, None, :] & band
    scores = tf.where(
        valid,
        start_logits[:, :, None] + end_logits[:, None, :],
        -np.inf,
    )
    flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
    best = tf.argmax(flat, axis=1, output_type=tf.int32)
    window_score = tf.reduce_max(flat, axis=1)
    example = windows["example_index"]
    per_example = tf.RaggedTensor.from_value_rowids(
        window_score, example, nrows=num_examples
    )
    # At least one column, so that an empty batch has an axis to reduce.
    padded_shape = tf.stack(
        [
            tf.cast(num_examples, tf.int32),
            tf.maximum(per_example.bounding_shape(1, out_type=tf.int32), 1),
        ]
    )
    pick = tf.cast(per_example.row_starts(), tf.int32) + tf.argmax(
        per_example.to_tensor(default_value=-np.inf, shape=padded_shape),
        axis=1,
        output_type=tf.int32,
    )
    found = tf.math.is_finite(tf.gather(window_score, pick))
    best = tf.gather(best, pick)
    first = tf.stack([pick, best // length], axis=1)
    last = tf.stack([pick, best % length], axis=1)
    begin = tf.where(found, tf.gather_nd(windows["token_start"], first), 0)
    end = tf.where(found, tf.gather_nd(windows["token_end"], last), 0)
    null = tf.RaggedTensor.from_value_rowids(
        start_logits[:, 0] + end_logits[:, 0], example, nrows=num_examples
    )
    return begin, end, tf.gather(window_score, pick), tf.reduce_min(null, 1)
