"""The SQuAD windows, the span head and the question-answering task."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.models import BertTokenizer

from keras_adapters import tuning_summary
from keras_adapters.data import read_squad_examples
from keras_adapters.data.squad_features import convert_examples_to_features
from keras_adapters.layers import SpanHead
from keras_adapters.layers.span_head import PADDING_LOGIT
from keras_adapters.metrics import normalize_answer
from keras_adapters.models import AdapterBertQuestionAnswerer
from keras_adapters.models import AdapterBertQuestionAnswererPreprocessor
from tests.conftest import SHARED_DATA
from tests.conftest import TINY_VOCAB
from tests.conftest import tiny_inputs

DEV_FILE = os.path.join(SHARED_DATA, "squad", "v1.1", "dev-v1.1.json")
WORDS = TINY_VOCAB[5:-1]


def reference_spans(num_tokens, max_tokens, stride):
    """The original run_squad.py's doc-span loop."""
    spans, start = [], 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens)
        spans.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, stride)
    return spans


def reference_is_max_context(spans, span_index, position):
    """The original _check_is_max_context (first best window wins)."""
    best_score, best_index = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return best_index == span_index


def tiny_preprocessor(**kwargs):
    tokenizer = BertTokenizer(vocabulary=TINY_VOCAB)
    return AdapterBertQuestionAnswererPreprocessor(tokenizer, **kwargs)


@pytest.mark.parametrize(
    "sequence_length, doc_stride, max_query_length",
    [(16, 3, 4), (20, 7, 5), (12, 20, 3), (24, 1, 6)],
)
def test_windows_follow_the_original_loop(
    sequence_length, doc_stride, max_query_length
):
    rng = np.random.default_rng(sequence_length + doc_stride)
    questions = [
        " ".join(rng.choice(WORDS, rng.integers(1, 9))) for _ in range(12)
    ]
    contexts = [
        " ".join(rng.choice(WORDS, rng.integers(1, 60))) for _ in range(12)
    ]
    preprocessor = tiny_preprocessor(
        sequence_length=sequence_length,
        doc_stride=doc_stride,
        max_query_length=max_query_length,
    )
    windows = {
        k: v.numpy()
        for k, v in preprocessor(
            {"question": questions, "context": contexts}
        ).items()
    }
    vocabulary = {token: i for i, token in enumerate(TINY_VOCAB)}
    row = 0
    for example, (question, context) in enumerate(zip(questions, contexts)):
        query = [vocabulary[w] for w in question.split()][:max_query_length]
        document = [vocabulary[w] for w in context.split()]
        spans = reference_spans(
            len(document), sequence_length - len(query) - 3, doc_stride
        )
        for index, (start, length) in enumerate(spans):
            expected = (
                [2] + query + [3] + document[start : start + length] + [3]
            )
            assert windows["example_index"][row] == example
            width = len(expected)
            np.testing.assert_array_equal(
                windows["token_ids"][row, :width], expected
            )
            assert (windows["token_ids"][row, width:] == 0).all()
            np.testing.assert_array_equal(
                windows["padding_mask"][row], np.arange(sequence_length) < width
            )
            offset = len(query) + 2
            segments = np.zeros(sequence_length, int)
            segments[offset:width] = 1
            np.testing.assert_array_equal(windows["segment_ids"][row], segments)
            context_index = np.full(sequence_length, -1)
            context_index[offset : offset + length] = np.arange(
                start, start + length
            )
            np.testing.assert_array_equal(
                windows["context_index"][row], context_index
            )
            max_context = np.zeros(sequence_length, bool)
            for position in range(start, start + length):
                max_context[offset + position - start] = (
                    reference_is_max_context(spans, index, position)
                )
            np.testing.assert_array_equal(
                windows["max_context"][row], max_context
            )
            row += 1
    assert row == len(windows["example_index"])


def test_token_offsets_slice_back_to_the_text():
    preprocessor = tiny_preprocessor()
    texts = ["  The film,  was (very) GOOD!", "naïve café—fun", ""]
    ids, starts, ends = preprocessor.tokenize_with_offsets(tf.constant(texts))
    assert ids.to_list() == list(preprocessor.tokenizer(texts))
    pieces = [
        [text.encode()[s:e].decode() for s, e in zip(row_starts, row_ends)]
        for text, row_starts, row_ends in zip(
            texts, starts.to_list(), ends.to_list()
        )
    ]
    assert pieces[0] == [
        "The",
        "film",
        ",",
        "was",
        "(",
        "very",
        ")",
        "GOOD",
        "!",
    ]
    assert pieces[1] == ["naïve", "café", "—", "fun"]
    assert pieces[2] == []


def test_sequence_must_leave_room_for_the_context():
    with pytest.raises(
        ValueError,
        match=r"`sequence_length` \(67\) must be larger than "
        r"`max_query_length` \+ 3 \(67\)",
    ):
        tiny_preprocessor(sequence_length=67, max_query_length=64)


def test_preprocessor_config_round_trip():
    preprocessor = tiny_preprocessor(
        sequence_length=32, doc_stride=8, max_query_length=6
    )
    restored = AdapterBertQuestionAnswererPreprocessor.from_config(
        preprocessor.get_config()
    )
    assert (
        restored.sequence_length,
        restored.doc_stride,
        restored.max_query_length,
    ) == (32, 8, 6)


def test_span_head_masks_padding_and_gives_the_original_loss():
    keras.utils.set_random_seed(0)
    head = SpanHead()
    sequence = np.random.default_rng(0).normal(size=(3, 6, 8)).astype("float32")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    logits = keras.ops.convert_to_numpy(head(sequence, mask))
    assert logits.shape == (3, 2, 6) and logits.dtype == np.float32
    assert (logits[1, :, 4:] == PADDING_LOGIT).all() and (
        logits[1, :, :4] > PADDING_LOGIT
    ).all()
    gold = np.array([[1, 3], [0, 2], [1, 1]])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        gold, logits
    )

    def cross_entropy(row, target):
        row = row - row.max()
        return np.log(np.exp(row).sum()) - row[target]

    expected = np.mean(
        [
            (
                cross_entropy(logits[b, 0], gold[b, 0])
                + cross_entropy(logits[b, 1], gold[b, 1])
            )
            / 2
            for b in range(3)
        ]
    )
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_question_answerer_trains_head_adapters_and_layer_norms(
    tiny_backbone, tmp_path
):
    model = AdapterBertQuestionAnswerer(tiny_backbone)
    counts = tuning_summary(model, print_fn=None)
    assert counts["head"]["trained"] == counts["head"]["total"] == 16 * 2 + 2
    assert counts["rest"]["trained"] == 0 and counts["pooler"]["trained"] == 0
    assert counts["adapters"]["trained"] == counts["adapters"]["total"] > 0
    inputs = tiny_inputs()
    before = {v.path: v.numpy().copy() for v in model.weights}
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(inputs, np.array([[1, 3], [0, 0], [2, 5]]), epochs=1, verbose=0)
    changed = {
        v.path
        for v in model.weights
        if not np.array_equal(before[v.path], v.numpy())
    }
    assert changed == {v.path for v in model.trainable_weights}
    assert any("span_head" in path for path in changed)
    path = str(tmp_path / "qa.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(inputs)),
        keras.ops.convert_to_numpy(model(inputs)),
    )
    assert restored.tuning == model.tuning


@pytest.mark.integration
def test_windows_recover_the_gold_answers_of_the_dev_set(minilm_path):
    if not os.path.isfile(DEV_FILE):
        pytest.skip("../shared/data/squad/v1.1/dev-v1.1.json is absent")
    examples = read_squad_examples(DEV_FILE, is_training=False).examples
    preprocessor = AdapterBertQuestionAnswerer.preset_preprocessor(
        minilm_path, sequence_length=384
    )
    contexts = sorted({example.context for example in examples})
    ids, _, _ = preprocessor.tokenize_with_offsets(tf.constant(contexts))
    # Eager keras-hub tokenizes in Python: an independent reference.
    assert ids.to_list() == list(preprocessor.tokenizer(contexts))

    features = convert_examples_to_features(
        examples, preprocessor, with_answers=True
    )
    assert features.unaligned == []
    windows_per_example = np.bincount(features.example_index)
    assert (
        len(windows_per_example) == len(examples)
        and windows_per_example.max() >= 4
    )
    recovered, mismatched = set(), []
    for window in np.flatnonzero(features.labels[:, 0] > 0):
        start, end = features.labels[window]
        if not features.max_context[window, start]:
            continue
        example = examples[features.example_index[window]]
        text = example.context.encode()[
            features.token_start[window, start] : features.token_end[
                window, end
            ]
        ].decode()
        if normalize_answer(text) == normalize_answer(example.answer.text):
            recovered.add(example.qas_id)
        else:
            mismatched.append((example.answer.text, text))
    # Measured: 10527 of 10570 (99.59 %). The rest are answers that begin
    # or end inside a word ("8" of "18", "gold" of "golden").
    assert len(recovered) / len(examples) >= 0.99
    assert len(recovered) == 10527, mismatched[:10]


def test_the_unused_pooler_never_trains(tiny_backbone):
    model = AdapterBertQuestionAnswerer(tiny_backbone, tuning_mode="full")
    counts = tuning_summary(model, print_fn=None)
    assert (
        counts["pooler"]["trained"] == 0
        and counts["rest"]["trained"] == counts["rest"]["total"]
    )
    with pytest.raises(ValueError, match="does not use the pooler"):
        AdapterBertQuestionAnswerer(tiny_backbone, train_pooler=True)
