"""Span logits -> answers: the n-best decoding and its in-graph top-1."""

import numpy as np
import pytest
import tensorflow as tf

from keras_adapters.data import SquadAnswer
from keras_adapters.data import SquadExample
from keras_adapters.data.squad_features import SquadFeatures
from keras_adapters.models.span_decoding import best_answer_spans
from keras_adapters.models.span_decoding import decode_answers

CONTEXT = "Ann Smith wrote Blue Rivers in 1895 in Paris."
# Context words and their byte spans; one token per word in this test.
WORDS = [
    (0, 3),
    (4, 9),
    (10, 15),
    (16, 20),
    (21, 27),
    (28, 30),
    (31, 35),
    (36, 38),
    (39, 44),
    (44, 45),
]


def window_features(window_words, max_context=None, width=16, offset=4):
    """One window: [CLS] q q [SEP] <window_words> [SEP], padded to width."""
    count = len(window_words)
    token_start = np.full(width, -1)
    token_end = np.full(width, -1)
    context_index = np.full(width, -1)
    for position, word in enumerate(window_words):
        token_start[offset + position], token_end[offset + position] = WORDS[
            word
        ]
        context_index[offset + position] = word
    mark = np.zeros(width, bool)
    mark[offset : offset + count] = True if max_context is None else max_context
    return dict(
        length=offset + count + 1,
        token_start=token_start,
        token_end=token_end,
        context_index=context_index,
        max_context=mark,
    )


def features_of(windows, example_index):
    width = len(windows[0]["token_start"])
    return SquadFeatures(
        token_ids=np.zeros((len(windows), width), np.int32),
        segment_ids=np.zeros((len(windows), width), np.int32),
        lengths=np.array([w["length"] for w in windows], np.int32),
        labels=np.full((len(windows), 2), -1, np.int32),
        example_index=np.array(example_index, np.int32),
        token_start=np.stack([w["token_start"] for w in windows]).astype(
            np.int32
        ),
        token_end=np.stack([w["token_end"] for w in windows]).astype(np.int32),
        max_context=np.stack([w["max_context"] for w in windows]),
    )


def in_graph_windows(windows, features):
    """The preprocessor's tensors that `best_answer_spans` reads."""
    return {
        "context_index": tf.constant(
            np.stack([w["context_index"] for w in windows])
        ),
        "max_context": tf.constant(features.max_context),
        "token_start": tf.constant(features.token_start),
        "token_end": tf.constant(features.token_end),
        "example_index": tf.constant(features.example_index),
    }


def random_windows(rng, num_examples, max_words, width):
    """1 to 3 windows per example, each over 1 to `max_words` words."""
    windows, owners = [], []
    for owner in range(num_examples):
        for _ in range(rng.integers(1, 4)):
            count = int(rng.integers(1, max_words + 1))
            first = int(rng.integers(0, 10 - count + 1))
            marks = rng.random(count) < 0.7
            windows.append(
                window_features(
                    range(first, first + count), max_context=marks, width=width
                )
            )
            owners.append(owner)
    return windows, features_of(windows, owners)


def random_logits(rng, features, width):
    """Wide random logits, with the span head's padding value on padding."""
    logits = (
        rng.normal(size=(len(features.lengths), 2, width)).astype(np.float32)
        * 3
    )
    padding = np.arange(width)[None, :] >= features.lengths[:, None]
    logits[:, 0][padding] = -1e4
    logits[:, 1][padding] = -1e4
    return logits


def assert_top1_matches(decoded, examples, begin, end, score):
    """The in-graph spans are the n-best decoding's first answers."""
    for i, qas_id in enumerate(e.qas_id for e in examples):
        best = decoded.nbest[qas_id][0]
        if best["text"] == "empty":
            assert not np.isfinite(score[i])
            continue
        assert (
            CONTEXT.encode()[int(begin[i]) : int(end[i])].decode()
            == best["text"]
        )
        assert float(score[i]) == pytest.approx(
            best["start_logit"] + best["end_logit"], abs=1e-5
        )


def example(qas_id="q1", impossible=False):
    answers = [] if impossible else [SquadAnswer("1895", 31)]
    return SquadExample(
        qas_id, "When?", CONTEXT, answers, is_impossible=impossible
    )


def logits_with(width, starts, ends, base=-5.0):
    logits = np.full((1, 2, width), base, np.float32)
    for position, value in starts.items():
        logits[0, 0, position] = value
    for position, value in ends.items():
        logits[0, 1, position] = value
    return logits


def test_best_span_is_an_exact_slice_of_the_context():
    features = features_of([window_features(range(10))], [0])
    # Tokens at 4 + word: "Blue Rivers" = words 3..4 -> positions 7..8.
    logits = logits_with(16, {7: 5.0, 4: 1.0}, {8: 4.0, 12: 2.0})
    decoded = decode_answers([example()], features, logits)
    assert decoded.predictions == {"q1": "Blue Rivers"}
    nbest = decoded.nbest["q1"]
    assert (
        nbest[0]["text"] == "Blue Rivers"
        and nbest[0]["start_logit"] == 5.0
        and nbest[0]["end_logit"] == 4.0
    )
    assert sum(entry["probability"] for entry in nbest) == pytest.approx(1.0)
    scores = [entry["start_logit"] + entry["end_logit"] for entry in nbest]
    assert scores == sorted(scores, reverse=True)
    assert len({entry["text"] for entry in nbest}) == len(nbest) <= 20


@pytest.mark.parametrize(
    "starts, ends, max_answer_length, expected",
    [
        # End before start is dropped: the best valid pair wins.
        ({10: 9.0, 4: 1.0}, {6: 9.0, 11: 0.5}, 30, "Ann Smith wrote"),
        # Too long (words 0..9 is 10 tokens) with max_answer_length=3.
        ({4: 9.0, 11: 1.0}, {13: 9.0, 12: 1.0}, 3, "in Paris."),
        # Starts/ends on the question or [CLS] are never answers.
        ({0: 20.0, 1: 20.0, 6: 1.0}, {0: 20.0, 2: 20.0, 6: 1.0}, 30, "wrote"),
    ],
)
def test_invalid_spans_are_filtered(starts, ends, max_answer_length, expected):
    features = features_of([window_features(range(10))], [0])
    logits = logits_with(16, starts, ends)
    decoded = decode_answers(
        [example()], features, logits, max_answer_length=max_answer_length
    )
    assert decoded.predictions["q1"] == expected


def test_a_start_outside_its_max_context_window_is_skipped():
    # Two windows over words 0..5 and 3..9; word 4 is max-context in the
    # second window only.
    first = window_features(range(0, 6), max_context=[True] * 4 + [False] * 2)
    second = window_features(range(3, 10), max_context=[False] + [True] * 6)
    features = features_of([first, second], [0, 0])
    logits = np.full((2, 2, 16), -50.0, np.float32)
    logits[0, 0, 4 + 4], logits[0, 1, 4 + 5] = (
        9.0,
        9.0,
    )  # words 4..5 in window 0
    logits[1, 0, 4 + 3], logits[1, 1, 4 + 6] = (
        2.0,
        2.0,
    )  # words 6..9 in window 1
    decoded = decode_answers([example()], features, logits)
    assert decoded.predictions["q1"] == "1895 in Paris."


def test_version_2_null_answer_and_threshold():
    features = features_of([window_features(range(10))], [0])
    logits = logits_with(16, {0: 3.0, 7: 1.0}, {0: 3.0, 8: 1.0})
    decoded = decode_answers(
        [example(impossible=True)],
        features,
        logits,
        version_2_with_negative=True,
    )
    assert decoded.predictions["q1"] == ""
    assert decoded.null_odds["q1"] == pytest.approx(6.0 - 2.0)
    assert "" in [entry["text"] for entry in decoded.nbest["q1"]]
    lenient = decode_answers(
        [example(impossible=True)],
        features,
        logits,
        version_2_with_negative=True,
        null_score_diff_threshold=5.0,
    )
    assert lenient.predictions["q1"] == "Blue Rivers"


def test_in_graph_top1_matches_the_nbest_decoding():
    rng = np.random.default_rng(7)
    windows, features = random_windows(rng, 6, max_words=9, width=16)
    examples = [example(f"q{i}") for i in range(6)]
    for trial in range(5):
        logits = random_logits(rng, features, 16)
        decoded = decode_answers(
            examples, features, logits, n_best_size=5, max_answer_length=4
        )
        begin, end, score, _ = best_answer_spans(
            tf.constant(logits),
            in_graph_windows(windows, features),
            tf.constant(6),
            n_best_size=5,
            max_answer_length=4,
        )
        assert_top1_matches(decoded, examples, begin, end, score)


def test_in_graph_top1_of_windows_narrower_than_the_longest_answer():
    # 8-token windows ([CLS] q q [SEP] 1-3 words [SEP]), as the export cuts
    # a batch of short contexts, with the default max_answer_length=30.
    rng = np.random.default_rng(11)
    windows, features = random_windows(rng, 5, max_words=3, width=8)
    examples = [example(f"q{i}") for i in range(5)]
    logits = random_logits(rng, features, 8)
    decoded = decode_answers(examples, features, logits)
    narrow = best_answer_spans(
        tf.constant(logits), in_graph_windows(windows, features), tf.constant(5)
    )
    assert_top1_matches(decoded, examples, *narrow[:3])
    # The same windows padded to 40 tokens, wider than the longest answer.
    extra = (0, 32)
    wide_windows = [
        dict(
            window,
            token_start=np.pad(
                window["token_start"], extra, constant_values=-1
            ),
            token_end=np.pad(window["token_end"], extra, constant_values=-1),
            context_index=np.pad(
                window["context_index"], extra, constant_values=-1
            ),
            max_context=np.pad(window["max_context"], extra),
        )
        for window in windows
    ]
    wide_features = features_of(wide_windows, features.example_index)
    wide_logits = np.pad(logits, [(0, 0), (0, 0), extra], constant_values=-1e4)
    wide = best_answer_spans(
        tf.constant(wide_logits),
        in_graph_windows(wide_windows, wide_features),
        tf.constant(5),
    )
    for narrow_output, wide_output in zip(narrow, wide):
        np.testing.assert_array_equal(narrow_output, wide_output)


def test_in_graph_top1_of_an_empty_batch_is_empty():
    # The export's empty batch: no window, cut to one token.
    windows = {
        "context_index": tf.zeros([0, 1], tf.int32),
        "max_context": tf.zeros([0, 1], tf.bool),
        "token_start": tf.zeros([0, 1], tf.int32),
        "token_end": tf.zeros([0, 1], tf.int32),
        "example_index": tf.zeros([0], tf.int32),
    }
    begin, end, score, null = best_answer_spans(
        tf.zeros([0, 2, 1]), windows, tf.constant(0)
    )
    assert [(t.shape, t.dtype) for t in (begin, end, score, null)] == [
        ((0,), tf.int32),
        ((0,), tf.int32),
        ((0,), tf.float32),
        ((0,), tf.float32),
    ]
