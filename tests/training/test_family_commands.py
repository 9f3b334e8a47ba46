"""The commands on the tiny Hugging Face folders of other families.

`run_classifier.py` on RoBERTa (byte-pair tokens, no segment ids), killed
in a subprocess and resumed in this one, and on DistilBERT on Keras' JAX
backend; `run_squad.py` on XLM-RoBERTa (SentencePiece) in this process.
"""

import json
import os

import numpy as np
import tensorflow as tf

import keras_adapters
from keras_adapters.training.callbacks import read_step_log
from keras_adapters.training.squad_run import SquadRun
from keras_adapters.training.squad_run import SquadRunConfig
from tests.test_fault_injection import assert_killed
from tests.test_fault_injection import run
from tests.test_fault_injection import run_here
from tests.training.test_jax_backend import run_script
from tests.training.test_run_classifier import make_mrpc

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "families")


def mrpc_run_flags(family, tmp_path, output_dir, train):
    """run_classifier.py's flags for one epoch of training and evaluation
    on a generated MRPC folder (`train` rows) with a family's folder."""
    data_dir = tmp_path / "mrpc"
    make_mrpc(str(data_dir), np.random.default_rng(0), train=train, dev=8)
    return [
        "--task=MRPC",
        f"--preset={os.path.join(DATA, family)}",
        "--adapter_size=8",
        f"--data_dir={data_dir}",
        f"--output_dir={output_dir}",
        "--max_seq_length=32",
        "--train_batch_size=8",
        "--num_train_epochs=1",
        "--do_train",
        "--do_eval",
    ]


def test_run_classifier_trains_a_roberta_folder_and_resumes_after_a_kill(
    tmp_path, capsys
):
    output_dir = tmp_path / "out"
    flags = [
        *mrpc_run_flags("roberta", tmp_path, output_dir, train=48),
        "--save_checkpoints_steps=3",
        "--do_predict",
        "--mixed_precision=fp32",
    ]
    # Killed after step 5 of 6, by a real SIGKILL.
    assert_killed(run("run_classifier.py", flags, kill_at="training"))
    # The same command again, in this process (no second start-up).
    code, printed, err = run_here(flags, capsys)
    assert code is None, err[-3000:]
    assert "Resuming at step 3 of 6." in printed
    assert read_step_log(output_dir / "train_log.tsv")[0] == list(range(1, 7))
    with open(output_dir / "eval_results.json") as handle:
        assert json.load(handle)["global_step"] == 6
    with open(output_dir / "MRPC.tsv") as handle:
        assert len(handle.read().splitlines()) == 10  # Header and 9 rows.
    classifier = assert_serves_as_the_adapters(output_dir, "roberta")
    assert type(classifier).__name__ == "AdapterRobertaTextClassifier"


def assert_serves_as_the_adapters(output_dir, family):
    """The run's SavedModel gives the probabilities of its reloaded
    adapters (on this process's backend) on a raw string pair."""
    classifier = keras_adapters.load_adapters(
        str(output_dir / "adapters"), os.path.join(DATA, family)
    )
    first, second = ["The cat sat on the mat."], ["A cat was on the mat."]
    expected = classifier.predict(
        classifier.preprocessor((first, second), y=None)
    )
    serve = tf.saved_model.load(str(output_dir / "export")).signatures[
        "serving_default"
    ]
    served = serve(sentence1=tf.constant(first), sentence2=tf.constant(second))
    np.testing.assert_allclose(
        served["probabilities"].numpy(),
        tf.nn.softmax(expected).numpy(),
        rtol=0,
        atol=1e-5,
    )
    return classifier


def test_run_classifier_on_jax_trains_and_exports_a_distilbert_folder(
    tmp_path,
):
    output_dir = tmp_path / "out"
    result = run_script(
        "run_classifier.py",
        *mrpc_run_flags("distilbert", tmp_path, output_dir, train=24),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Keras backend jax" in result.stdout
    with open(output_dir / "eval_results.json") as handle:
        assert json.load(handle)["global_step"] == 3
    # Exported through jax2tf, served by TensorFlow as the adapters
    # reloaded on TensorFlow compute.
    classifier = assert_serves_as_the_adapters(output_dir, "distilbert")
    assert type(classifier).__name__ == "AdapterDistilBertTextClassifier"


def squad_file(path, articles):
    """A SQuAD v1.1 file of `(context, [(question, answer), ...])`."""
    paragraphs = [
        {
            "context": context,
            "qas": [
                {
                    "id": f"{i}-{j}",
                    "question": question,
                    "answers": [
                        {"text": answer, "answer_start": context.index(answer)}
                    ],
                }
                for j, (question, answer) in enumerate(qas)
            ],
        }
        for i, (context, qas) in enumerate(articles)
    ]
    with open(path, "w") as handle:
        json.dump(
            {"version": "1.1", "data": [{"paragraphs": paragraphs}]}, handle
        )
    return str(path)


def test_run_squad_trains_predicts_and_exports_an_xlm_roberta_folder(
    tmp_path,
):
    articles = [
        (
            "Ann wrote the book in Paris. The old dog slept in the sun.",
            [("Who wrote the book?", "Ann"), ("Where was the book?", "Paris")],
        ),
        (
            "She is taller than her brother. He gave her the ball.",
            [("Who is taller?", "She"), ("What did he give?", "the ball")],
        ),
    ]
    train = squad_file(tmp_path / "train.json", articles * 4)
    predict = squad_file(tmp_path / "predict.json", articles)
    config = SquadRunConfig(
        preset=os.path.join(DATA, "xlm_roberta"),
        adapter_size=4,
        output_dir=str(tmp_path / "out"),
        do_train=True,
        train_file=train,
        do_predict=True,
        predict_file=predict,
        train_batch_size=8,
        num_train_epochs=1,
        learning_rate=1e-2,
        max_seq_length=32,
        max_query_length=8,
        doc_stride=8,
        verbose=0,
    )
    run_ = SquadRun(config)
    run_.run()
    assert type(run_.model).__name__ == "AdapterXLMRobertaQuestionAnswerer"
    with open(tmp_path / "out" / "predictions.json") as handle:
        predictions = json.load(handle)
    assert set(predictions) == {"0-0", "0-1", "1-0", "1-1"}
    contexts = {
        f"{i}-{j}": c for i, (c, qas) in enumerate(articles) for j in (0, 1)
    }
    # Every answer is a span of its context.
    assert all(text in contexts[key] for key, text in predictions.items())
    assert os.path.isfile(tmp_path / "out" / "export" / "saved_model.pb")
