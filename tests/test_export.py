"""SavedModel export: raw strings in, a fresh TF-only process serves them."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.models import BertTokenizer

from keras_adapters.data import SquadExample
from keras_adapters.data.squad_features import convert_examples_to_features
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import export_question_answerer
from keras_adapters.export import export_saved_model
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertQuestionAnswerer
from keras_adapters.models import AdapterBertQuestionAnswererPreprocessor
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.models import AdapterBertTextClassifierPreprocessor
from keras_adapters.models.span_decoding import decode_answers
from tests.conftest import REPO_ROOT
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB
from tests.conftest import _minilm_path

# Out-of-vocabulary words, casing, accents, CJK, an empty string and a
# sentence longer than the 12 tokens of the tiny preprocessor (truncation).
SENTENCES = [
    "the film is good .",
    "A DULL, boring movie",
    "i loved the music and the story but the acting was so slow and too "
    "long , really the worst plot",
    "",
    "café zzz 日本",
]
FIRSTS = ["the plot", "i hated it", "we really loved the film and the music"]
SECONDS = ["was great .", "not fun", "but the acting was bad and too slow"]
LABELS = ["negative", "neutral", "positive"]

# The README's question: its window is 14 tokens wide, far narrower than
# the longest answer (max_answer_length=30 tokens).
README_QUESTION = "Who wrote it?"
README_CONTEXT = "Ann Smith wrote it in 1895."
QA_VOCAB = TINY_VOCAB + ["who", "wrote", "ann", "smith", "in", "1895", "?"]
# Contexts of 60 words: three 48-token windows each (stride 16).
LONG_CONTEXTS = [
    " ".join(np.random.default_rng(seed).choice(QA_VOCAB[5:], 60))
    for seed in range(2)
]

# Loads SavedModels with nothing but tensorflow and tensorflow_text, runs
# a signature (`serving_default` unless the request names one) on raw
# strings and prints the outputs as JSON (`[dtype, values, shape]` per
# output, or the error message of a refused input; the modules of keras-hub,
# keras_adapters or jax it imported, none expected). JAX is kept out, as
# on a serving machine without it.
LOADER = r"""
import json
import sys

# Serving needs no JAX: `import jax` fails here (TensorFlow tries it).
sys.modules["jax"] = None

import tensorflow as tf
import tensorflow_text  # noqa: F401 (registers the tokenizer ops)

loaded = {}
results = []
for request in json.loads(sys.argv[1]):
    if request["dir"] not in loaded:
        loaded[request["dir"]] = tf.saved_model.load(request["dir"])
    signature = request.get("signature", "serving_default")
    serve = loaded[request["dir"]].signatures[signature]
    inputs = {
        k: tf.constant(v, tf.string) for k, v in request["inputs"].items()
    }
    try:
        served = serve(**inputs)
    except tf.errors.InvalidArgumentError as error:
        results.append({"error": error.message})
        continue
    outputs = {}
    for key, value in served.items():
        value = value.numpy()
        if value.dtype == object:
            value = value.astype(bytes).astype(str)
        outputs[key] = [value.dtype.name, value.tolist(), list(value.shape)]
    results.append(outputs)
modules = sorted(
    m
    for m, module in sys.modules.items()
    if module is not None
    and m.split(".")[0] in ("keras_hub", "keras_adapters", "jax")
)
print("RESULT " + json.dumps({"results": results, "modules": modules}))
"""

# `saved_model_cli` itself cannot run these SavedModels: it does not load
# custom-op libraries, so it fails with "Op type not registered
# 'RegexSplitWithOffsets'". The same CLI works once tensorflow_text is
# imported in its process.
SAVED_MODEL_CLI = [
    sys.executable,
    "-c",
    "import sys, tensorflow_text; "
    "from tensorflow.python.tools import saved_model_cli; "
    "sys.argv[0] = 'saved_model_cli'; saved_model_cli.main()",
]


def quiet_env():
    """The environment of the serving processes: no Keras backend chosen
    (tensorflow_text imports Keras, which would import JAX under the JAX
    test run's KERAS_BACKEND=jax), TensorFlow's info logs off."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("KERAS_BACKEND", None)
    return env


def start(command, cwd, name, env=None):
    """Starts `command` in `cwd` (with `env` added to the environment); its
    output goes to files there."""
    out = open(os.path.join(cwd, name + ".out"), "w+")
    err = open(os.path.join(cwd, name + ".err"), "w+")
    process = subprocess.Popen(
        command,
        stdout=out,
        stderr=err,
        cwd=cwd,
        env=dict(quiet_env(), **(env or {})),
    )
    return process, out, err


def finish(started, check=True, timeout=300):
    """Waits for a `start`ed command; returns (returncode, stdout, stderr)."""
    process, out, err = started
    returncode = process.wait(timeout=timeout)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    out.close()
    err.close()
    if check:
        assert returncode == 0, stderr[-3000:]
    return returncode, stdout, stderr


def start_loader(requests, cwd, name="loader"):
    """Serves `requests` ({dir, inputs}) in a new TF-only Python process."""
    command = [sys.executable, "-c", LOADER, json.dumps(requests)]
    return start(command, cwd, name)


def finish_loader(started):
    _, stdout, stderr = finish(started)
    line = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
    assert line, stdout[-2000:] + stderr[-2000:]
    return json.loads(line[-1][len("RESULT ") :])


def cli_command(export_dir, sentences):
    return SAVED_MODEL_CLI + [
        "run",
        "--dir",
        str(export_dir),
        "--tag_set",
        "serve",
        "--signature_def",
        "serving_default",
        "--input_exprs",
        f"sentence={json.dumps(sentences, ensure_ascii=False)}",
    ]


def tiny_classifier(seed, inputs=None, **kwargs):
    """A tiny adapter BERT classifier whose outputs clearly depend on input.

    Every kernel and embedding gets a wide random value (the default 0.02
    init gives near-constant outputs), which also checks that the export
    holds the current weights rather than initializing fresh ones. With
    `inputs`, the head is then fitted so that input `i` scores highest on
    class `i % num_classes` by a wide margin (regression: scores spread
    over [-1, 2]). The head keeps its dropout, so any `training=True` run
    would show.
    """
    backbone = AdapterBertBackbone(**TINY_CONFIG, adapter_size=4, dropout=0.0)
    preprocessor = AdapterBertTextClassifierPreprocessor(
        tokenizer=BertTokenizer(vocabulary=TINY_VOCAB), sequence_length=12
    )
    classifier = AdapterBertTextClassifier(
        backbone, preprocessor=preprocessor, **kwargs
    )
    rng = np.random.default_rng(seed)
    for weight in classifier.weights:
        if len(weight.shape) >= 2:
            weight.assign(rng.normal(0.0, 0.5, weight.shape))
    if inputs is not None:
        pooled = backbone(preprocessor(inputs, y=None))["pooled_output"]
        pooled = np.asarray(pooled, "float64")
        count = len(pooled)
        if classifier.regression:
            targets = np.linspace(-1.0, 2.0, count)[:, None]
        else:
            targets = (
                4.0
                * np.eye(classifier.num_classes)[
                    np.arange(count) % classifier.num_classes
                ]
            )
        features = np.concatenate([pooled, np.ones((count, 1))], axis=1)
        solution = np.linalg.lstsq(features, targets, rcond=None)[0]
        head = classifier.get_layer("logits")
        head.kernel.assign(solution[:-1])
        head.bias.assign(solution[-1])
    return classifier


def softmax(x):
    x = np.exp(x - x.max(axis=-1, keepdims=True))
    return x / x.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Three tiny exports, served together in one fresh process.

    `saved_model_cli run` on the single-sentence export runs alongside, in
    its own process.

    The regression export also overrides the sequence length (8 instead of
    the preprocessor's 12).
    """
    keras.utils.set_random_seed(1234)
    root = tmp_path_factory.mktemp("exports")
    single = tiny_classifier(0, SENTENCES, num_classes=3)
    pair = tiny_classifier(
        1, (FIRSTS, SECONDS), num_classes=2, activation="softmax"
    )
    regression = tiny_classifier(2, SENTENCES, regression=True)
    dirs = {"single": export_saved_model(single, str(root / "single"), LABELS)}
    # `saved_model_cli run` starts now and works while this process goes on.
    cli = start(cli_command(dirs["single"], SENTENCES), str(root), "cli")
    dirs["pair"] = export_saved_model(pair, str(root / "pair"), pair=True)
    dirs["regression"] = export_saved_model(
        regression, root / "regression", sequence_length=8
    )
    inputs = {
        "single": {"sentence": SENTENCES},
        "pair": {"sentence1": FIRSTS, "sentence2": SECONDS},
        "regression": {"sentence": SENTENCES},
    }
    names = list(dirs)
    loader = start_loader(
        [{"dir": str(dirs[n]), "inputs": inputs[n]} for n in names], str(root)
    )
    # The reference predictions, while both subprocesses run.
    regression.preprocessor.sequence_length = 8
    expected = {
        "single": softmax(single.predict(SENTENCES, verbose=0)),
        "pair": pair.predict((FIRSTS, SECONDS), verbose=0),
        "regression": regression.predict(SENTENCES, verbose=0)[:, 0],
    }
    regression.preprocessor.sequence_length = 12
    served = finish_loader(loader)
    return {
        "cli": finish(cli, check=False),
        "dirs": dirs,
        "expected": expected,
        "served": dict(zip(names, served["results"])),
        "modules": served["modules"],
        "single": single,
        "regression": regression,
    }


def test_single_sentence_export_serves_raw_strings(exports):
    served = exports["served"]["single"]
    expected = exports["expected"]["single"]
    # The multi-task SavedModel's names, and the earlier names beside them.
    assert set(served) == {
        "probabilities",
        "label_id",
        "label",
        "score",
        "label_ids",
        "labels",
    }
    dtype, probabilities, _ = served["probabilities"]
    assert dtype == "float32"
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert served["label_id"][:2] == ["int32", expected.argmax(-1).tolist()]
    assert served["label"][1] == [LABELS[i] for i in expected.argmax(-1)]
    np.testing.assert_allclose(served["score"][1], expected.max(-1), atol=1e-5)
    assert served["label_ids"] == served["label_id"]
    assert served["labels"] == served["label"]
    # The fitted head gives sentence i class i % 3.
    assert served["label_id"][1] == [0, 1, 2, 0, 1]


def test_pair_export_serves_sentence_pairs(exports):
    served = exports["served"]["pair"]
    expected = exports["expected"]["pair"]
    # Softmax activation: the outputs are served as they are.
    assert set(served) == {"probabilities", "label_id", "score", "label_ids"}
    np.testing.assert_allclose(served["probabilities"][1], expected, atol=1e-5)
    assert served["label_id"][1] == expected.argmax(-1).tolist()
    assert served["label_ids"] == served["label_id"]
    assert served["label_id"][1] == [0, 1, 0]


def test_regression_export_serves_scores(exports):
    served = exports["served"]["regression"]
    assert set(served) == {"score", "scores"}
    assert served["scores"] == served["score"]
    dtype, scores, _ = served["score"]
    assert dtype == "float32"
    # Predicted with the preprocessor at the export's sequence length (8);
    # the export left the preprocessor at its own 12.
    np.testing.assert_allclose(
        scores, exports["expected"]["regression"], atol=1e-5
    )
    assert exports["regression"].preprocessor.sequence_length == 12
    # The head was fitted at length 12 to these targets: only the long
    # sentence (index 2) is cut at 8 tokens, so only its score moves.
    targets = np.linspace(-1.0, 2.0, len(SENTENCES))
    short = [0, 1, 3, 4]
    np.testing.assert_allclose(
        np.array(scores)[short], targets[short], atol=1e-3
    )
    assert abs(scores[2] - targets[2]) > 1e-2


def test_loading_imports_neither_keras_hub_nor_keras_adapters(exports):
    assert exports["modules"] == []


def test_savedmodel_holds_the_weights(exports):
    reader = tf.train.load_checkpoint(
        os.path.join(exports["dirs"]["single"], "variables", "variables")
    )
    saved = [
        reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH"
    ]
    weights = [w.numpy() for w in exports["single"].weights]
    # Exactly the model's variables: no optimizer or seed state.
    assert len(saved) == len(weights)
    for weight in weights:
        assert any(
            s.shape == weight.shape and np.array_equal(s, weight) for s in saved
        )


def test_saved_model_cli_run_gives_the_same_outputs(exports):
    # Run by the fixture: `SAVED_MODEL_CLI + ["run", "--dir", ...,
    # "--input_exprs", 'sentence=[...]']` on the single-sentence export.
    returncode, stdout, stderr = exports["cli"]
    assert returncode == 0, stderr[-3000:]
    sentences = SENTENCES
    header = r"Result for output key (\w+):\n"
    sections = dict(
        re.findall(
            header + r"(.*?)(?=\nResult for output key|\Z)", stdout, re.S
        )
    )
    assert set(sections) == {
        "probabilities",
        "label_id",
        "label",
        "score",
        "label_ids",
        "labels",
    }
    number = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
    probabilities = np.array(
        re.findall(number, sections["probabilities"]), float
    ).reshape(len(sentences), len(LABELS))
    expected = exports["expected"]["single"]
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    label_ids = [int(x) for x in re.findall(number, sections["label_ids"])]
    assert label_ids == expected.argmax(-1).tolist()
    labels = re.findall(r"b'([^']*)'", sections["labels"])
    assert labels == [LABELS[i] for i in label_ids]


def test_bad_arguments_are_clear_errors(tmp_path, tiny_backbone):
    export_dir = str(tmp_path / "never")
    bare = AdapterBertTextClassifier(tiny_backbone, num_classes=2)
    with pytest.raises(
        ValueError, match="export needs the model's preprocessor"
    ):
        export_saved_model(bare, export_dir)
    classifier = tiny_classifier(4, num_classes=3)
    with pytest.raises(ValueError, match="must name each of the 3 classes"):
        export_saved_model(classifier, export_dir, labels=["neg", "pos"])
    with pytest.raises(ValueError, match="must name each of the 3 classes"):
        export_saved_model(classifier, export_dir, labels="abc")
    for bad_length in (1000, 1, 8.5, "8"):
        with pytest.raises(ValueError, match="`sequence_length` must be"):
            export_saved_model(
                classifier, export_dir, sequence_length=bad_length
            )
    with pytest.raises(ValueError, match="`pair` must be True or False"):
        export_saved_model(classifier, export_dir, pair="yes")
    regression = tiny_classifier(5, regression=True)
    with pytest.raises(ValueError, match="drop `labels`"):
        export_saved_model(regression, export_dir, labels=["score"])
    with pytest.raises(ValueError, match="`task_signatures` is for a Multi"):
        export_saved_model(classifier, export_dir, task_signatures=False)
    assert not os.path.exists(export_dir)


@pytest.mark.parametrize("export", ["classifier", "question_answerer"])
def test_other_backends_are_a_one_line_error(
    export, tmp_path, monkeypatch, tiny_backbone
):
    model = AdapterBertTextClassifier(tiny_backbone, num_classes=2)
    monkeypatch.setattr(keras.config, "backend", lambda: "torch")
    function = {
        "classifier": export_saved_model,
        "question_answerer": export_question_answerer,
    }[export]
    with pytest.raises(KerasAdaptersError) as error:
        function(model, str(tmp_path / "never"))
    assert str(error.value) == (
        "SavedModel export needs the TensorFlow or JAX backend; got "
        "KERAS_BACKEND='torch'."
    )
    assert not os.path.exists(tmp_path / "never")


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="runs tests/test_export_jax.py from the TensorFlow backend",
)
def test_jax_backend_exports_pass_in_a_jax_process(request, tmp_path):
    """Runs tests/test_export_jax.py under KERAS_BACKEND=jax (with this
    run's `-m`), so that the default TensorFlow run checks the exports
    from JAX too."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip('pip install "jax[cpu]" for the JAX export tests')
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if request.config.option.markexpr:
        command += ["-m", request.config.option.markexpr]
    command.append(os.path.join(REPO_ROOT, "tests", "test_export_jax.py"))
    started = start(command, str(tmp_path), "jax", env={"KERAS_BACKEND": "jax"})
    returncode, stdout, stderr = finish(started, check=False, timeout=900)
    assert returncode == 0, stdout[-6000:] + stderr[-3000:]
    summary = stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed.*", summary), summary
    # Only the MiniLM test may skip, where MiniLM is not installed.
    skipped = re.search(r"(\d+) skipped", summary)
    allowed = 0 if _minilm_path() else 1
    assert (int(skipped[1]) if skipped else 0) <= allowed, stdout[-3000:]


def minilm_classifier(minilm_path):
    """The real MiniLM classifier at sequence length 64, with a head whose
    random weights give the two classes distinct probabilities."""
    classifier = AdapterBertTextClassifier.from_preset(
        minilm_path, num_classes=2
    )
    classifier.preprocessor.sequence_length = 64
    rng = np.random.default_rng(0)
    kernel = classifier.get_layer("logits").kernel
    kernel.assign(rng.normal(0.0, 1.0, kernel.shape))
    return classifier


@pytest.mark.integration
def test_minilm_export_serves_the_same_predictions(minilm_path, tmp_path):
    classifier = minilm_classifier(minilm_path)
    sentences = [
        "A gripping, beautifully acted film.",
        "A dull, lifeless mess that overstays its welcome.",
        "Naïve but charming — I'd watch it again!",
    ]
    export_dir = export_saved_model(
        classifier, str(tmp_path / "minilm"), labels=["neg", "pos"]
    )
    loader = start_loader(
        [{"dir": export_dir, "inputs": {"sentence": sentences}}],
        str(tmp_path),
    )
    expected = softmax(classifier.predict(sentences, verbose=0))
    served = finish_loader(loader)
    assert served["modules"] == []
    outputs = served["results"][0]
    np.testing.assert_allclose(outputs["probabilities"][1], expected, atol=1e-5)
    assert outputs["label_ids"][1] == expected.argmax(-1).tolist()
    assert outputs["labels"][1] == [
        ["neg", "pos"][i] for i in expected.argmax(-1)
    ]


def tiny_question_answerer():
    """A tiny question answerer with wide random weights (48-token windows,
    stride 16, queries cut at 8 tokens)."""
    keras.utils.set_random_seed(1234)
    config = dict(TINY_CONFIG, vocabulary_size=len(QA_VOCAB))
    config["max_sequence_length"] = 48
    backbone = AdapterBertBackbone(**config, adapter_size=4, dropout=0.0)
    preprocessor = AdapterBertQuestionAnswererPreprocessor(
        BertTokenizer(vocabulary=QA_VOCAB, lowercase=True),
        sequence_length=48,
        doc_stride=16,
        max_query_length=8,
    )
    model = AdapterBertQuestionAnswerer(backbone, preprocessor=preprocessor)
    rng = np.random.default_rng(3)
    for weight in model.weights:
        if len(weight.shape) >= 2:
            weight.assign(rng.normal(0.0, 0.5, weight.shape))
    return model


@pytest.fixture(scope="module")
def question_answerer(tmp_path_factory):
    """`tiny_question_answerer()` and its export, loaded back with
    `tf.saved_model.load`."""
    model = tiny_question_answerer()
    export_dir = export_question_answerer(
        model, str(tmp_path_factory.mktemp("qa") / "export")
    )
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    return model, serve


def answer(serve, questions, contexts):
    """The export's outputs on raw strings, as NumPy."""
    outputs = serve(
        question=tf.constant(questions, tf.string),
        context=tf.constant(contexts, tf.string),
    )
    return {key: value.numpy() for key, value in outputs.items()}


def nbest_top1(model, questions, contexts):
    """`(text, score)` of each question's best n-best answer (Keras model
    on full-width windows, NumPy decoding)."""
    examples = [
        SquadExample(str(i), question, context, [])
        for i, (question, context) in enumerate(zip(questions, contexts))
    ]
    features = convert_examples_to_features(
        examples, model.preprocessor, with_answers=False
    )
    width = features.token_ids.shape[1]
    logits = model.predict(
        {
            "token_ids": features.token_ids,
            "segment_ids": features.segment_ids,
            "padding_mask": np.arange(width) < features.lengths[:, None],
        },
        verbose=0,
    )
    nbest = decode_answers(examples, features, logits).nbest
    return [
        (
            nbest[e.qas_id][0]["text"],
            nbest[e.qas_id][0]["start_logit"] + nbest[e.qas_id][0]["end_logit"],
        )
        for e in examples
    ]


def test_question_answerer_export_answers_the_readme_example(
    question_answerer,
):
    model, serve = question_answerer
    served = answer(serve, [README_QUESTION], [README_CONTEXT])
    [(text, score)] = nbest_top1(model, [README_QUESTION], [README_CONTEXT])
    assert text and text in README_CONTEXT
    assert served["answer"].astype(str).tolist() == [text]
    start = int(served["answer_start"][0])
    assert README_CONTEXT[start : start + len(text)] == text
    assert served["score"][0] == pytest.approx(score, abs=1e-4)


def test_question_answerer_export_answers_an_empty_batch(question_answerer):
    _, serve = question_answerer
    served = answer(serve, [], [])
    assert {key: (v.shape, v.dtype) for key, v in served.items()} == {
        "answer": ((0,), object),
        "answer_start": ((0,), np.int32),
        "score": ((0,), np.float32),
        "null_score_diff": ((0,), np.float32),
    }


def test_question_answerer_export_answers_a_mixed_length_batch(
    question_answerer,
):
    model, serve = question_answerer
    contexts = [
        README_CONTEXT,
        LONG_CONTEXTS[0],
        "Ann wrote it.",
        LONG_CONTEXTS[1],
    ]
    questions = [
        README_QUESTION,
        "who wrote the film ?",
        "Who?",
        "the best music ?",
    ]
    served = answer(serve, questions, contexts)
    assert served["answer"].astype(str).tolist() == [
        text for text, _ in nbest_top1(model, questions, contexts)
    ]
    for row, (question, context) in enumerate(zip(questions, contexts)):
        alone = answer(serve, [question], [context])
        assert served["answer"][row] == alone["answer"][0]
        assert served["answer_start"][row] == alone["answer_start"][0]
        for key in ("score", "null_score_diff"):
            assert served[key][row] == pytest.approx(alone[key][0], abs=1e-4)
