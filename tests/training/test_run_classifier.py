"""run_classifier.py end to end on small GLUE-layout files with a tiny model."""

import dataclasses
import json
import os
import sys
from unittest import mock

import numpy as np
import pytest
from keras_hub.models import BertBackbone
from keras_hub.models import BertTokenizer

import keras_adapters
from keras_adapters import run_classifier
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training import run_config
from keras_adapters.training.callbacks import StepCheckpoint
from keras_adapters.training.callbacks import read_step_log
from keras_adapters.training.checkpoints import CheckpointFolder
from keras_adapters.training.classifier_run import ClassifierRun
from keras_adapters.training.classifier_run import ClassifierRunConfig
from tests.conftest import SHARED_DATA
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

WORDS = TINY_VOCAB[5:-1]


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny_preset"))
    BertBackbone(**TINY_CONFIG).save_to_preset(path)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(path)
    return path


def sentences(rng, count):
    return [
        " ".join(rng.choice(WORDS, rng.integers(2, 9))) for _ in range(count)
    ]


def write(path, lines, bom=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(("\ufeff" if bom else "") + "\n".join(lines) + "\n")


def make_cola(folder, rng, train=48, dev=20, test=9):
    for split, count in (("train", train), ("dev", dev)):
        rows = [
            f"src\t{rng.integers(0, 2)}\t\t{s}" for s in sentences(rng, count)
        ]
        write(os.path.join(folder, f"{split}.tsv"), rows)
    write(
        os.path.join(folder, "test.tsv"),
        ["index\tsentence"]
        + [f"{i}\t{s}" for i, s in enumerate(sentences(rng, test))],
    )


def make_mrpc(folder, rng, train=48, dev=20, test=9):
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
    for split, count in (("train", train), ("dev", dev)):
        a, b = sentences(rng, count), sentences(rng, count)
        rows = [
            f"{rng.integers(0, 2)}\t{i}\t{i + 1}\t{x}\t{y}"
            for i, (x, y) in enumerate(zip(a, b))
        ]
        write(os.path.join(folder, f"{split}.tsv"), [header] + rows, bom=True)
    a, b = sentences(rng, test), sentences(rng, test)
    write(
        os.path.join(folder, "test.tsv"),
        ["index\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        + [f"{i}\t1\t2\t{x}\t{y}" for i, (x, y) in enumerate(zip(a, b))],
        bom=True,
    )


def make_stsb(folder, rng, train=48, dev=20, test=9):
    for split, count in (("train", train), ("dev", dev)):
        a, b = sentences(rng, count), sentences(rng, count)
        rows = [
            f"{i}\t{x}\t{y}\t{rng.uniform(0, 5):.3f}"
            for i, (x, y) in enumerate(zip(a, b))
        ]
        write(
            os.path.join(folder, f"{split}.tsv"),
            ["index\tsentence1\tsentence2\tscore"] + rows,
        )
    a, b = sentences(rng, test), sentences(rng, test)
    write(
        os.path.join(folder, "test.tsv"),
        ["index\tsentence1\tsentence2"]
        + [f"{i}\t{x}\t{y}" for i, (x, y) in enumerate(zip(a, b))],
    )


MNLI_LABELS = ("contradiction", "entailment", "neutral")


def make_mnli(folder, rng, train=48, dev=20, test=9):
    parses = "\t".join(["p"] * 4)

    def rows(count, extra_labels, with_label=True):
        a, b = sentences(rng, count), sentences(rng, count)
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            label = MNLI_LABELS[rng.integers(0, 3)]
            tail = (
                "\t".join([label] * extra_labels + [label])
                if with_label
                else ""
            )
            out.append(
                f"{i}\t{i}\t{i}e\tfiction\t{parses}\t{x}\t{y}"
                + (f"\t{tail}" if with_label else "")
            )
        return out

    base = "\t".join(
        ["index", "promptID", "pairID", "genre"]
        + [f"sentence{i}_binary_parse" for i in (1, 2)]
        + [f"sentence{i}_parse" for i in (1, 2)]
        + ["sentence1", "sentence2"]
    )
    write(
        os.path.join(folder, "train.tsv"),
        [base + "\tlabel1\tgold_label"] + rows(train, 1),
    )
    for split in ("dev_matched", "dev_mismatched"):
        header = (
            base
            + "\t"
            + "\t".join(f"label{i}" for i in range(1, 6))
            + "\tgold_label"
        )
        write(os.path.join(folder, f"{split}.tsv"), [header] + rows(dev, 5))
    for split in ("test_matched", "test_mismatched"):
        write(
            os.path.join(folder, f"{split}.tsv"),
            [base] + rows(test, 0, with_label=False),
        )
    # GLUE's diagnostic set (AX) next to it, predicted with the MNLI model.
    a, b = sentences(rng, 7), sentences(rng, 7)
    diagnostic = os.path.join(
        os.path.dirname(folder), "diagnostic", "diagnostic.tsv"
    )
    write(
        diagnostic,
        ["index\tsentence1\tsentence2"]
        + [f"{i}\t{x}\t{y}" for i, (x, y) in enumerate(zip(a, b))],
    )


def read_results(output_dir):
    with open(os.path.join(output_dir, "eval_results.txt")) as handle:
        text = dict(line.strip().split(" = ") for line in handle)
    with open(os.path.join(output_dir, "eval_results.json")) as handle:
        data = json.load(handle)
    assert {k: float(v) for k, v in text.items()} == pytest.approx(
        {k: float(v) for k, v in data.items()}
    )
    return data


def independent_metrics(task, labels, outputs):
    if task.is_regression:
        scores = outputs[:, 0]

        def ranks(x):
            return np.argsort(np.argsort(x))

        return {
            "pearson": np.corrcoef(labels, scores)[0, 1],
            "spearman": np.corrcoef(ranks(labels), ranks(scores))[0, 1],
        }
    predictions = outputs.argmax(1)
    metrics = {"accuracy": float(np.mean(predictions == labels))}
    if task.name in ("CoLA",):
        tp = np.sum((predictions == 1) & (labels == 1))
        tn = np.sum((predictions == 0) & (labels == 0))
        fp = np.sum((predictions == 1) & (labels == 0))
        fn = np.sum((predictions == 0) & (labels == 1))
        denominator = np.sqrt(
            float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        )
        metrics = {
            "mcc": 0.0
            if denominator == 0
            else (tp * tn - fp * fn) / denominator
        }
    return metrics


@pytest.mark.parametrize(
    "task_name, make, prefixes, overrides",
    [
        ("CoLA", make_cola, ["eval"], {}),
        # --adam_epsilon reaches the optimizer (the original's 1e-6 else).
        ("MRPC", make_mrpc, ["eval"], {"adam_epsilon": 1e-8}),
        ("STS-B", make_stsb, ["eval"], {}),
        ("MNLI", make_mnli, ["eval_matched", "eval_mismatched"], {}),
    ],
)
def test_train_eval_predict_export(
    tmp_path, tiny_preset, task_name, make, prefixes, overrides
):
    data_dir, output_dir = str(tmp_path / "data"), str(tmp_path / "out")
    make(data_dir, np.random.default_rng(0))
    config = ClassifierRunConfig(
        task_name=task_name.lower(),
        data_dir=data_dir,
        output_dir=output_dir,
        preset=tiny_preset,
        max_seq_length=16,
        train_batch_size=8,
        num_train_epochs=2,
        learning_rate=1e-3,
        do_train=True,
        do_eval=True,
        do_predict=True,
        verbose=0,
        adapter_size=4,
        **overrides,
    )
    run = ClassifierRun(config)
    run.run()
    assert run.model.optimizer.epsilon == overrides.get("adam_epsilon", 1e-6)
    task = config.task
    results = read_results(output_dir)
    assert results["global_step"] == int(48 / 8 * 2)
    # Metrics recomputed independently from the reloaded adapter artifact.
    model = keras_adapters.load_adapters(
        os.path.join(output_dir, "adapters"), tiny_preset
    )
    model.preprocessor.sequence_length = 16
    for prefix, split in zip(prefixes, task.eval_splits):
        examples = keras_adapters.data.glue.read_examples(task, data_dir, split)
        texts = [e.text_a for e in examples]
        inputs = (
            (np.array(texts), np.array([e.text_b for e in examples]))
            if task.is_pair
            else np.array(texts)
        )
        outputs = model.predict(inputs, verbose=0)
        if task.is_regression:
            labels = np.array([e.label for e in examples], np.float64)
        else:
            labels = np.array([task.labels.index(e.label) for e in examples])
            exp = np.exp(outputs - outputs.max(1, keepdims=True))
            outputs = exp / exp.sum(1, keepdims=True)
        # The tiny regressor's scores barely spread, so float32 noise of
        # ~4e-9 between two predict() calls moves its correlations ~1e-4.
        tolerance = 1e-3 if task.is_regression else 1e-6
        for key, value in independent_metrics(task, labels, outputs).items():
            assert results[f"{prefix}_{key}"] == pytest.approx(
                value, abs=tolerance
            ), key
    # Prediction files parse back.
    for split in task.test_splits:
        suffix = "" if split in ("test", "test_matched") else "_mismatched"
        with open(
            os.path.join(output_dir, f"test_results{suffix}.tsv")
        ) as handle:
            header, *lines = handle.read().splitlines()
        # A header row: the class names, or `score` for regression.
        assert header.split("\t") == (
            ["score"] if task.is_regression else list(task.labels)
        )
        rows = [list(map(float, line.split("\t"))) for line in lines]
        assert len(rows) == 9
        if not task.is_regression:
            assert all(
                len(r) == len(task.labels) and abs(sum(r) - 1) < 1e-5
                for r in rows
            )
        with open(
            os.path.join(output_dir, task.submission_files[split])
        ) as handle:
            lines = handle.read().splitlines()
        assert lines[0] == "index\tprediction" and len(lines) == 10
        assert [line.split("\t")[0] for line in lines[1:]] == [
            str(i) for i in range(9)
        ]
        if not task.is_regression:
            assert {line.split("\t")[1] for line in lines[1:]} <= set(
                task.labels
            )
    assert os.path.isfile(os.path.join(output_dir, "export", "saved_model.pb"))
    assert os.path.isfile(os.path.join(output_dir, "train_log.tsv"))
    if task.name == "MNLI":
        with open(os.path.join(output_dir, "AX.tsv")) as handle:
            lines = handle.read().splitlines()
        assert lines[0] == "index\tprediction" and len(lines) == 8
        assert {line.split("\t")[1] for line in lines[1:]} <= set(MNLI_LABELS)
        with open(os.path.join(output_dir, "test_results_ax.tsv")) as handle:
            header, *rows = handle.read().splitlines()
        assert header == "\t".join(MNLI_LABELS) and len(rows) == 7
    # Evaluating again without --do_train restores what was trained.
    fields = {
        f.name: getattr(config, f.name) for f in dataclasses.fields(config)
    }
    fields.update(do_train=False, do_predict=False)
    assert ClassifierRun(ClassifierRunConfig(**fields)).run() == pytest.approx(
        results
    )


def checkpoint_step(output_dir):
    """The step of the newest usable checkpoint of a run (None: none)."""
    state, _ = CheckpointFolder(
        os.path.join(output_dir, "checkpoint"), {}
    ).latest()
    return state and state.step


def test_killed_run_resumes_where_it_stopped(tmp_path, tiny_preset, capsys):
    data_dir = str(tmp_path / "data")
    make_cola(data_dir, np.random.default_rng(1), train=64)

    def config(name):
        return ClassifierRunConfig(
            task_name="cola",
            data_dir=data_dir,
            output_dir=str(tmp_path / name),
            preset=tiny_preset,
            max_seq_length=16,
            train_batch_size=8,
            num_train_epochs=2,
            save_checkpoints_steps=5,
            do_train=True,
            do_export=False,
            verbose=0,
            adapter_size=4,
        )

    class Killed(Exception):
        pass

    original_save = StepCheckpoint.save

    def save_then_die(self, step):
        original_save(self, step)
        raise Killed(step)

    with mock.patch.object(StepCheckpoint, "save", save_then_die):
        with pytest.raises(Killed):
            ClassifierRun(config("resumed")).run()
    assert checkpoint_step(tmp_path / "resumed") == 5
    capsys.readouterr()
    resumed = ClassifierRun(config("resumed"))
    resumed.run()
    assert "Resuming at step 5 of 16." in capsys.readouterr().out
    # 64 rows, batch 8, 2 epochs: the 16 steps of an uninterrupted run.
    assert int(resumed.model.optimizer.iterations.numpy()) == 16
    steps, _ = read_step_log(tmp_path / "resumed" / "train_log.tsv")
    assert steps == list(range(1, 17))  # 1-5 before the kill, 6-16 after.
    # A finished run restarted does nothing more.
    again = ClassifierRun(config("resumed"))
    again.run()
    assert int(again.model.optimizer.iterations.numpy()) == 16


def test_jit_compile_flag_trains_with_xla(tmp_path, tiny_preset):
    data_dir = str(tmp_path / "data")
    make_cola(data_dir, np.random.default_rng(3), train=32)
    runs = {}
    for jit in ("false", "true"):
        runs[jit] = ClassifierRun(
            ClassifierRunConfig(
                task_name="cola",
                data_dir=data_dir,
                output_dir=str(tmp_path / jit),
                preset=tiny_preset,
                max_seq_length=16,
                train_batch_size=8,
                num_train_epochs=1,
                do_train=True,
                do_export=False,
                verbose=0,
                adapter_size=4,
                jit_compile=jit,
            )
        )
        runs[jit].run()
    assert (
        runs["true"].model.jit_compile is True
        and runs["false"].model.jit_compile is False
    )
    assert runs["true"].model.optimizer.epsilon == 1e-6  # The original's.
    losses = {
        jit: read_step_log(tmp_path / jit / "train_log.tsv")[1] for jit in runs
    }
    assert len(losses["true"]) == 4
    # Same data, init and schedule; only the dropout draws differ under XLA.
    np.testing.assert_allclose(losses["true"], losses["false"], atol=2e-3)
    with pytest.raises(
        KerasAdaptersError,
        match="`jit_compile` must be one of auto, true, false, got 'yes'",
    ):
        ClassifierRunConfig(
            task_name="cola", output_dir=str(tmp_path), jit_compile="yes"
        )


def run_script(argv, capsys):
    run_classifier.FLAGS.unparse_flags()
    with mock.patch.object(sys, "argv", ["run_classifier.py"] + argv):
        with pytest.raises(SystemExit) as info:
            run_classifier.run()
    return info.value.code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    "setup, flags, message",
    [
        (None, ["--task=nope"], "Unknown task 'nope'"),
        (
            None,
            ["--task=cola", "--adam_epsilon=0"],
            "--adam_epsilon must be positive, got 0.0",
        ),
        (
            None,
            ["--task=cola", "--jit_compile=yes"],
            "--jit_compile=yes: value should be one of <auto|true|false>",
        ),
        (
            None,
            [
                "--task=cola",
                "--preset=x",
                "--bert_config_file=c.json",
                "--vocab_file=v",
            ],
            "not both",
        ),
        ("missing", ["--task=cola", "--do_train"], "CoLA train: no file"),
        (
            "short_row",
            ["--task=cola", "--do_train"],
            "train.tsv line 3: expected 4 tab-separated columns, found 3",
        ),
        (
            "bad_label",
            ["--task=cola", "--do_train"],
            "train.tsv line 2: label '7' is not one of 0, 1",
        ),
        (
            "ok",
            ["--task=cola", "--do_train", "--max_seq_length=64"],
            "--max_seq_length=64 is longer than the model's 24 position "
            "embeddings",
        ),
    ],
)
def test_bad_inputs_exit_2_with_one_line(
    tmp_path, tiny_preset, capsys, setup, flags, message
):
    data_dir = str(tmp_path / "CoLA")
    if setup not in (None, "missing"):
        make_cola(data_dir, np.random.default_rng(0))
        lines = open(os.path.join(data_dir, "train.tsv")).read().splitlines()
        if setup == "short_row":
            lines[2] = "src\t1\tonly three"
        if setup == "bad_label":
            lines[1] = "src\t7\t\tthe film"
        write(os.path.join(data_dir, "train.tsv"), lines)
    argv = flags + [
        f"--data_dir={data_dir}",
        f"--output_dir={tmp_path / 'out'}",
    ]
    if "--preset=x" not in flags:
        argv.append(f"--preset={tiny_preset}")
    code, err = run_script(argv, capsys)
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err


def test_defaults_of_the_short_command(monkeypatch, tmp_path):
    monkeypatch.setenv("GLUE_DIR", str(tmp_path))
    config = ClassifierRunConfig(task_name="cola")
    assert config.data_dir == os.path.join(str(tmp_path), "CoLA")
    assert config.output_dir == os.path.join("output", "CoLA")
    assert config.do_train and config.do_eval and not config.do_predict
    assert config.preset == run_config.DEFAULT_PRESET == "bert_base_en_uncased"
    assert config.export_dir == os.path.join("output", "CoLA", "export")
    monkeypatch.delenv("GLUE_DIR")
    assert ClassifierRunConfig(task_name="sst2").data_dir is None  # TFDS.


@pytest.mark.integration
def test_real_cola_with_minilm(tmp_path, minilm_path):
    real = os.path.join(SHARED_DATA, "glue", "CoLA")
    if not os.path.isdir(real):
        pytest.skip("../shared/data/glue/CoLA is absent")
    # The real training file, and the first 128 of the 1,043 real dev rows:
    # evaluating MiniLM on all of them took most of this test's time.
    data_dir = tmp_path / "CoLA"
    data_dir.mkdir()
    os.symlink(os.path.join(real, "train.tsv"), data_dir / "train.tsv")
    with open(os.path.join(real, "dev.tsv"), encoding="utf-8") as handle:
        write(str(data_dir / "dev.tsv"), handle.read().splitlines()[:128])
    config = ClassifierRunConfig(
        task_name="CoLA",
        data_dir=str(data_dir),
        output_dir=str(tmp_path / "out"),
        preset=minilm_path,
        max_seq_length=64,
        max_train_examples=320,
        num_train_epochs=1,
        learning_rate=1e-3,
        do_train=True,
        do_eval=True,
        do_export=False,
        verbose=0,
    )
    results = ClassifierRun(config).run()
    assert results["global_step"] == 10
    assert -1 <= results["eval_mcc"] <= 1 and 0 < results["eval_loss"] < 2
    assert read_results(str(tmp_path / "out")) == pytest.approx(results)
