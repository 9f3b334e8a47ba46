"""run_squad.py end to end on a real SQuAD slice with a tiny model."""

import json
import os
import re
import subprocess
import sys

import pytest
from keras_hub.models import BertBackbone
from keras_hub.models import BertTokenizer

import keras_adapters
from keras_adapters.data import read_squad_examples
from keras_adapters.data import split_squad_articles
from keras_adapters.metrics import squad_evaluate
from keras_adapters.training.callbacks import read_step_log
from keras_adapters.training.squad_run import SquadRun
from keras_adapters.training.squad_run import SquadRunConfig
from tests.conftest import SHARED_DATA

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
DEV_FILE = os.path.join(SHARED_DATA, "squad", "v1.1", "dev-v1.1.json")
SMALL = dict(max_seq_length=64, max_query_length=16, doc_stride=24)


def first_paragraphs(path, target, paragraphs, impossible_every=0):
    """Writes the first paragraphs of a SQuAD file (optionally turning every
    n-th question into a SQuAD 2.0 unanswerable one)."""
    with open(path) as handle:
        squad = json.load(handle)
    article = squad["data"][0]
    kept = article["paragraphs"][:paragraphs]
    if impossible_every:
        for paragraph in kept:
            for i, qa in enumerate(paragraph["qas"]):
                if i % impossible_every == 0:
                    qa["is_impossible"] = True
                    qa["answers"] = []
    with open(target, "w") as handle:
        json.dump(
            {"version": "slice", "data": [dict(article, paragraphs=kept)]},
            handle,
        )


def slice_vocabulary(*paths):
    words = set()
    for path in paths:
        for example in read_squad_examples(path, is_training=False).examples:
            for text in (example.context, example.question):
                words.update(re.findall(r"\w+|[^\w\s]", text.lower()))
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words)


@pytest.fixture(scope="module")
def squad_slice(tmp_path_factory):
    """Train on the first articles of the real dev file, predict another
    article; a tiny random BERT whose vocabulary covers the slice."""
    if not os.path.isfile(DEV_FILE):
        pytest.skip("../shared/data/squad/v1.1/dev-v1.1.json is absent")
    folder = tmp_path_factory.mktemp("squad")
    train_all, heldout_all = (
        str(folder / "train_all.json"),
        str(folder / "heldout_all.json"),
    )
    split_squad_articles(DEV_FILE, train_all, heldout_all, 38)
    train, predict = str(folder / "train.json"), str(folder / "predict.json")
    first_paragraphs(train_all, train, 4)
    first_paragraphs(heldout_all, predict, 2)
    vocabulary = slice_vocabulary(train, predict)
    preset = str(folder / "preset")
    BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=128,
    ).save_to_preset(preset)
    BertTokenizer(vocabulary=vocabulary).save_to_preset(preset)
    return {
        "folder": folder,
        "train": train,
        "predict": predict,
        "preset": preset,
        "train_all": train_all,
    }


def run_config(squad_slice, output_dir, **overrides):
    fields = dict(
        preset=squad_slice["preset"],
        adapter_size=4,
        output_dir=str(output_dir),
        do_train=True,
        train_file=squad_slice["train"],
        do_predict=True,
        predict_file=squad_slice["predict"],
        train_batch_size=8,
        num_train_epochs=2,
        learning_rate=1e-2,
        verbose=0,
        **SMALL,
    )
    fields.update(overrides)
    return SquadRunConfig(**fields)


def read_json(folder, name):
    with open(os.path.join(folder, name)) as handle:
        return json.load(handle)


def test_train_predict_evaluate_export_and_resume(squad_slice, tmp_path):
    output_dir = tmp_path / "out"
    results = SquadRun(run_config(squad_slice, output_dir)).run()
    examples = read_squad_examples(
        squad_slice["predict"], is_training=False
    ).examples
    for name in (
        "predictions.json",
        "nbest_predictions.json",
        "eval_results.json",
        "train_log.tsv",
    ):
        assert (output_dir / name).is_file(), name
    assert not (output_dir / "null_odds.json").exists()
    assert 0 <= results["exact_match"] <= 100 and 0 <= results["f1"] <= 100
    assert results["total"] == len(examples) and results["missing"] == 0
    predictions = read_json(output_dir, "predictions.json")
    assert set(predictions) == {e.qas_id for e in examples}
    # The scores are those of the written predictions.
    assert squad_evaluate(examples, predictions) == pytest.approx(
        {
            k: v
            for k, v in read_json(output_dir, "eval_results.json").items()
            if k != "global_step"
        }
    )
    nbest = read_json(output_dir, "nbest_predictions.json")
    for example in examples:
        entries = nbest[example.qas_id]
        assert entries[0]["text"] == predictions[example.qas_id]
        assert 1 <= len(entries) <= 20
        assert sum(e["probability"] for e in entries) == pytest.approx(
            1.0, abs=1e-6
        )
        assert all(e["text"] in example.context for e in entries)
    steps, _ = read_step_log(output_dir / "train_log.tsv")
    assert steps == list(range(1, results["global_step"] + 1))

    # Prediction alone restores the trained model and gives the same files.
    again = SquadRun(
        run_config(squad_slice, output_dir, do_train=False, train_file=None)
    ).run()
    assert again == pytest.approx(results)
    assert read_json(output_dir, "predictions.json") == predictions

    # The adapter-only artifact reloads onto the base preset.
    model = keras_adapters.load_adapters(
        str(output_dir / "adapters"), squad_slice["preset"]
    )
    assert model.preprocessor.sequence_length == SMALL["max_seq_length"]
    assert model.preprocessor.doc_stride == SMALL["doc_stride"]

    # The SavedModel answers raw strings, in a process without keras_adapters.
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        "serve = "
        "tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "items = json.load(open(sys.argv[2]))\n"
        "out = serve(question=tf.constant([q for q, c in items]), "
        "context=tf.constant([c for q, c in items]))\n"
        "print(json.dumps([[a.decode(), int(s)] for a, s in "
        "zip(out['answer'].numpy(), out['answer_start'].numpy())]))\n"
    )
    items = tmp_path / "items.json"
    items.write_text(json.dumps([[e.question, e.context] for e in examples]))
    served = subprocess.run(
        [sys.executable, "-c", script, str(output_dir / "export"), str(items)],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(tmp_path),
    )
    answers = json.loads(served.stdout.strip().splitlines()[-1])
    for example, (answer, start) in zip(examples, answers):
        assert answer == predictions[example.qas_id]
        assert example.context[start : start + len(answer)] == answer


def test_version_2_writes_null_odds_and_split_scores(squad_slice, tmp_path):
    train, predict = (
        str(tmp_path / "train.json"),
        str(tmp_path / "predict.json"),
    )
    first_paragraphs(squad_slice["train_all"], train, 4, impossible_every=3)
    first_paragraphs(squad_slice["train_all"], predict, 1, impossible_every=3)
    output_dir = tmp_path / "out"
    results = SquadRun(
        run_config(
            squad_slice,
            output_dir,
            train_file=train,
            predict_file=predict,
            version_2_with_negative=True,
            num_train_epochs=1,
            do_export=False,
        )
    ).run()
    null_odds = read_json(output_dir, "null_odds.json")
    predictions = read_json(output_dir, "predictions.json")
    assert set(null_odds) == set(predictions)
    for qas_id, odds in null_odds.items():
        assert (predictions[qas_id] == "") == (odds > 0.0)
    assert results["HasAns_total"] + results["NoAns_total"] == results["total"]
    assert all(
        0 <= results[k] <= 100
        for k in ("HasAns_f1", "NoAns_f1", "exact_match", "f1")
    )
    # Without `do_export`: the adapter artifact, no SavedModel.
    assert (output_dir / "adapters" / "adapter_config.json").is_file()
    assert not os.path.exists(output_dir / "export")


def run_script(*argv):
    """Runs run_squad.py as a user would; returns its exit code and stderr
    lines (TensorFlow's start-up logs are the script's to hide)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "run_squad.py"), *argv],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )
    return result.returncode, result.stderr.splitlines()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--do_train"], "--do_train needs --train_file"),
        ([], "At least one of --do_train or --do_predict must be set."),
        (
            ["--do_predict", "--predict_file=x.json", "--max_seq_length=67"],
            "must be larger than --max_query_length + 3 (67)",
        ),
        (
            ["--do_predict", "--predict_file=/nonexistent/dev.json"],
            "/nonexistent/dev.json",
        ),
    ],
)
def test_bad_flags_are_one_line_errors(argv, message):
    code, lines = run_script("--preset=unused", *argv)
    assert code == 2 and len(lines) == 1, lines[-20:]
    assert lines[0].startswith("run_squad.py: error: ") and message in lines[0]


def test_malformed_json_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [ {"title": "x", "paragraphs": [}]}')
    code, lines = run_script(
        "--preset=unused", "--do_predict", f"--predict_file={bad}"
    )
    assert code == 2 and len(lines) == 1, lines[-20:]
    assert "bad.json" in lines[0] and "line 1" in lines[0]


def test_a_train_file_whose_every_answer_was_skipped_says_so(
    squad_slice, tmp_path
):
    squad = read_json(
        os.path.dirname(squad_slice["train"]),
        os.path.basename(squad_slice["train"]),
    )
    for paragraph in squad["data"][0]["paragraphs"]:
        for qa in paragraph["qas"]:
            qa["answers"] = [{"text": "no such words", "answer_start": 0}]
    bad = tmp_path / "misaligned.json"
    bad.write_text(json.dumps(squad))
    code, lines = run_script(
        f"--preset={squad_slice['preset']}",
        "--do_train",
        f"--train_file={bad}",
        f"--output_dir={tmp_path / 'out'}",
    )
    # The reader's warning (how many answers it skipped, which first), then
    # the error.
    assert code == 2 and len(lines) == 2, lines[-20:]
    assert (
        "skipped 106 of 106 training questions whose answer does not match"
        in lines[0]
    )
    assert lines[1] == (
        f"run_squad.py: error: --train_file={bad} has no question to train on "
        "(106 skipped; --verbose_logging lists why)."
    )
