"""SavedModel exports from the JAX backend: the TensorFlow backend's
raw-string signatures, served by a fresh process that imports only
tensorflow and tensorflow_text.

These tests run under `KERAS_BACKEND=jax` and skip otherwise;
`tests/test_export.py::test_jax_backend_exports_pass_in_a_jax_process` runs
this file in a JAX process from the default (TensorFlow) test run.
"""

import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_adapters.export import export_question_answerer
from keras_adapters.export import export_saved_model
from tests.test_export import FIRSTS
from tests.test_export import LABELS
from tests.test_export import LONG_CONTEXTS
from tests.test_export import README_CONTEXT
from tests.test_export import README_QUESTION
from tests.test_export import SECONDS
from tests.test_export import SENTENCES
from tests.test_export import cli_command
from tests.test_export import finish
from tests.test_export import finish_loader
from tests.test_export import minilm_classifier
from tests.test_export import nbest_top1
from tests.test_export import softmax
from tests.test_export import start
from tests.test_export import start_loader
from tests.test_export import tiny_classifier
from tests.test_export import tiny_question_answerer

pytestmark = pytest.mark.skipif(
    keras.config.backend() != "jax",
    reason="JAX export tests: run with KERAS_BACKEND=jax (the TensorFlow "
    "run starts them so from tests/test_export.py)",
)

# The single-sentence classifier exports at 24 tokens: its batch of short
# sentences (7 tokens at most) runs padded to 16, the whole batch (the
# long sentence fills 24) at 24.
SEQUENCE_LENGTH = 24
SHORT = [0, 1, 3, 4]

# Short (one 14- and one 7-token window) and long (three 48-token windows
# each) question answering requests, and all of them in one batch.
QA_SHORT = ([README_QUESTION, "Who?"], [README_CONTEXT, "Ann wrote it."])
QA_LONG = (["who wrote the film ?", "the best music ?"], LONG_CONTEXTS)
QA_MIXED = (
    [QA_SHORT[0][0], QA_LONG[0][0], QA_SHORT[0][1], QA_LONG[0][1]],
    [QA_SHORT[1][0], QA_LONG[1][0], QA_SHORT[1][1], QA_LONG[1][1]],
)


def qa_inputs(questions_contexts):
    questions, contexts = questions_contexts
    return {"question": list(questions), "context": list(contexts)}


@pytest.fixture(scope="module")
def jax_exports(tmp_path_factory):
    """Exports from JAX, served together in one fresh TF-only process, and
    the Keras model's answers on JAX."""
    root = tmp_path_factory.mktemp("jax_exports")
    single = tiny_classifier(0, SENTENCES, num_classes=3)
    pair = tiny_classifier(
        1, (FIRSTS, SECONDS), num_classes=2, activation="softmax"
    )
    answerer = tiny_question_answerer()
    dirs = {
        "single": export_saved_model(
            single, str(root / "single"), LABELS, SEQUENCE_LENGTH
        ),
        "pair": export_saved_model(pair, str(root / "pair"), pair=True),
        "qa": export_question_answerer(answerer, str(root / "qa")),
    }
    cli = start(cli_command(dirs["single"], SENTENCES), str(root), "cli")
    requests = {
        "batch": ("single", {"sentence": SENTENCES}),
        "short": ("single", {"sentence": [SENTENCES[i] for i in SHORT]}),
        "empty": ("single", {"sentence": []}),
        **{
            f"alone{i}": ("single", {"sentence": [sentence]})
            for i, sentence in enumerate(SENTENCES)
        },
        "pair": ("pair", {"sentence1": FIRSTS, "sentence2": SECONDS}),
        "pair_alone": (
            "pair",
            {"sentence1": FIRSTS[:1], "sentence2": SECONDS[:1]},
        ),
        "pair_empty": ("pair", {"sentence1": [], "sentence2": []}),
        "qa_short": ("qa", qa_inputs(QA_SHORT)),
        "qa_long": ("qa", qa_inputs(QA_LONG)),
        "qa_mixed": ("qa", qa_inputs(QA_MIXED)),
        "qa_empty": ("qa", qa_inputs(([], []))),
    }
    loader = start_loader(
        [{"dir": dirs[d], "inputs": x} for d, x in requests.values()],
        str(root),
    )
    # Keras on JAX, while the loader runs.
    single.preprocessor.sequence_length = SEQUENCE_LENGTH
    expected = {
        "single": softmax(single.predict(SENTENCES, verbose=0)),
        "pair": pair.predict((FIRSTS, SECONDS), verbose=0),
        "qa": nbest_top1(answerer, *QA_MIXED),
    }
    single.preprocessor.sequence_length = 12
    served = finish_loader(loader)
    return {
        "served": dict(zip(requests, served["results"])),
        "modules": served["modules"],
        "expected": expected,
        "cli": finish(cli, check=False),
        "dirs": dirs,
        "single": single,
    }


def test_single_sentence_export_from_jax_gives_keras_probabilities(
    jax_exports,
):
    served = jax_exports["served"]["batch"]
    expected = jax_exports["expected"]["single"]
    assert set(served) == {
        "probabilities",
        "label_id",
        "label",
        "score",
        "label_ids",
        "labels",
    }
    dtype, probabilities, shape = served["probabilities"]
    assert (dtype, shape) == ("float32", [len(SENTENCES), len(LABELS)])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert served["label_ids"][:2] == ["int32", expected.argmax(-1).tolist()]
    assert served["labels"][1] == [LABELS[i] for i in expected.argmax(-1)]
    # The fitted head gives sentence i class i % 3 (fitted at 12 tokens;
    # at 24 the long sentence is read further).
    assert served["label_ids"][1][:2] + served["label_ids"][1][3:] == [
        0,
        1,
        0,
        1,
    ]


def test_export_from_jax_serves_mixed_lengths_alike(jax_exports):
    served = jax_exports["served"]
    expected = jax_exports["expected"]["single"]
    # Padded to 16 tokens instead of the batch's 24.
    np.testing.assert_allclose(
        served["short"]["probabilities"][1], expected[SHORT], atol=1e-5
    )
    for i in range(len(SENTENCES)):
        alone = served[f"alone{i}"]
        np.testing.assert_allclose(
            alone["probabilities"][1], expected[i : i + 1], atol=1e-5
        )
        assert alone["labels"][1] == served["batch"]["labels"][1][i : i + 1]


def test_pair_export_from_jax_gives_keras_probabilities(jax_exports):
    served = jax_exports["served"]["pair"]
    expected = jax_exports["expected"]["pair"]
    # Softmax activation: the outputs are served as they are.
    assert set(served) == {"probabilities", "label_id", "score", "label_ids"}
    np.testing.assert_allclose(served["probabilities"][1], expected, atol=1e-5)
    assert served["label_ids"][1] == expected.argmax(-1).tolist() == [0, 1, 0]
    np.testing.assert_allclose(
        jax_exports["served"]["pair_alone"]["probabilities"][1],
        expected[:1],
        atol=1e-5,
    )


def test_exports_from_jax_answer_empty_batches(jax_exports):
    served = jax_exports["served"]

    def kinds(outputs):
        return {
            key: (dtype, shape) for key, (dtype, _, shape) in outputs.items()
        }

    assert kinds(served["empty"]) == {
        "probabilities": ("float32", [0, len(LABELS)]),
        "label_id": ("int32", [0]),
        "label": ("str32", [0]),
        "score": ("float32", [0]),
        "label_ids": ("int32", [0]),
        "labels": ("str32", [0]),
    }
    assert kinds(served["pair_empty"]) == {
        "probabilities": ("float32", [0, 2]),
        "label_id": ("int32", [0]),
        "score": ("float32", [0]),
        "label_ids": ("int32", [0]),
    }
    assert kinds(served["qa_empty"]) == {
        "answer": ("str32", [0]),
        "answer_start": ("int32", [0]),
        "score": ("float32", [0]),
        "null_score_diff": ("float32", [0]),
    }


def test_question_answerer_export_from_jax_answers_as_decode_answers(
    jax_exports,
):
    served = jax_exports["served"]
    expected = jax_exports["expected"]["qa"]
    questions, contexts = QA_MIXED
    mixed = served["qa_mixed"]
    assert mixed["answer"][1] == [text for text, _ in expected]
    np.testing.assert_allclose(
        mixed["score"][1], [score for _, score in expected], atol=1e-4
    )
    for context, text, begin in zip(
        contexts, mixed["answer"][1], mixed["answer_start"][1]
    ):
        assert text and context[begin : begin + len(text)] == text
    # The same answers from batches of short windows (run at 16 tokens)
    # and of long ones (48).
    rows = {"qa_short": [0, 2], "qa_long": [1, 3]}
    for name, indices in rows.items():
        for key in ("answer", "answer_start"):
            assert served[name][key][1] == [mixed[key][1][i] for i in indices]
        for key in ("score", "null_score_diff"):
            np.testing.assert_allclose(
                served[name][key][1],
                [mixed[key][1][i] for i in indices],
                atol=1e-4,
            )


def test_exports_from_jax_serve_without_jax_or_keras_hub(jax_exports):
    assert jax_exports["modules"] == []


def test_savedmodel_from_jax_holds_the_weights(jax_exports):
    reader = tf.train.load_checkpoint(
        os.path.join(jax_exports["dirs"]["single"], "variables", "variables")
    )
    saved = [
        reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH"
    ]
    weights = [
        keras.ops.convert_to_numpy(w) for w in jax_exports["single"].weights
    ]
    assert len(saved) == len(weights)
    for weight in weights:
        assert any(
            s.shape == weight.shape and np.array_equal(s, weight) for s in saved
        )


def test_saved_model_cli_runs_the_export_from_jax(jax_exports):
    returncode, stdout, stderr = jax_exports["cli"]
    assert returncode == 0, stderr[-3000:]
    match = re.search(
        r"Result for output key probabilities:\n(.*?)(?=\nResult|\Z)",
        stdout,
        re.S,
    )
    assert match, stdout[-3000:]
    number = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
    probabilities = np.array(re.findall(number, match.group(1)), float)
    np.testing.assert_allclose(
        probabilities.reshape(len(SENTENCES), len(LABELS)),
        jax_exports["expected"]["single"],
        atol=1e-5,
    )


@pytest.mark.integration
def test_minilm_export_from_jax_serves_keras_predictions(minilm_path, tmp_path):
    classifier = minilm_classifier(minilm_path)
    sentences = [
        "A gripping, beautifully acted film.",
        "A dull, lifeless mess that overstays its welcome.",
        "Naïve but charming — I'd watch it again!",
        "",
        " ".join(["A long, winding and far too slow story."] * 8),
    ]
    export_dir = export_saved_model(
        classifier, str(tmp_path / "minilm"), labels=["neg", "pos"]
    )
    loader = start_loader(
        [
            {"dir": export_dir, "inputs": {"sentence": sentences}},
            {"dir": export_dir, "inputs": {"sentence": sentences[:3]}},
        ],
        str(tmp_path),
    )
    expected = softmax(classifier.predict(sentences, verbose=0))
    served = finish_loader(loader)
    assert served["modules"] == []
    everything, short = served["results"]
    np.testing.assert_allclose(
        everything["probabilities"][1], expected, atol=1e-5
    )
    np.testing.assert_allclose(
        short["probabilities"][1], expected[:3], atol=1e-5
    )
    assert everything["labels"][1] == [
        ["neg", "pos"][i] for i in expected.argmax(-1)
    ]
