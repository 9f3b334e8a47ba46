"""keras-adapters-classifier with AdapterHub's adapters: training houlsby
and pfeiffer adapters with AdapterHub's head, writing AdapterHub folders,
scoring an AdapterHub folder on a GLUE task, and the one-line refusals."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_adapters
from keras_adapters.data.glue import get_task
from keras_adapters.data.glue import read_examples
from keras_adapters.models import AdapterHubTextClassifier
from keras_adapters.training.classifier_run import ClassifierRunConfig
from tests.test_fault_injection import run_here
from tests.training.test_run_classifier import REPO_ROOT
from tests.training.test_run_classifier import make_cola

FIXTURES = os.path.join(REPO_ROOT, "tests", "data", "adapterhub")
# The tiny Hugging Face BERT the AdapterHub fixtures were trained on.
BASE = os.path.join(FIXTURES, "base")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("glue") / "CoLA")
    make_cola(path, np.random.default_rng(11), train=32, dev=12, test=5)
    return path


def flags(data_dir, output_dir, *extra):
    return [
        "--task=cola",
        f"--data_dir={data_dir}",
        f"--preset={BASE}",
        f"--output_dir={output_dir}",
        "--max_seq_length=16",
        "--train_batch_size=8",
        "--num_train_epochs=1",
        "--learning_rate=1e-3",
        "--mixed_precision=fp32",
        *extra,
    ]


def dev_sentences(data_dir):
    task = get_task("CoLA")
    return [example.text_a for example in read_examples(task, data_dir, "dev")]


def served(export_dir, sentences):
    signature = tf.saved_model.load(str(export_dir)).signatures[
        "serving_default"
    ]
    return signature(sentence=tf.constant(sentences))["probabilities"].numpy()


@pytest.mark.parametrize("adapter_config", ["houlsby", "pfeiffer"])
def test_adapterhub_adapters_train_and_are_written_as_adapterhub_folders(
    tmp_path, data_dir, capsys, adapter_config
):
    out = tmp_path / "run"
    code, printed, err = run_here(
        flags(
            data_dir,
            out,
            f"--adapter_config={adapter_config}",
            "--adapter_format=adapterhub",
        ),
        capsys,
    )
    assert code is None, err
    # AdapterHub trains the adapters and its head; the LayerNorms stay.
    assert "layer_norms" in printed
    with open(out / "adapters" / "adapter_config.json") as handle:
        written = json.load(handle)
    assert written["config"]["reduction_factor"] == 16
    assert written["model_type"] == "bert"
    assert os.path.isfile(out / "adapters" / "head_config.json")
    # The folder reads back as the model the SavedModel serves.
    reloaded = keras_adapters.load_adapters(str(out / "adapters"), BASE)
    assert isinstance(reloaded, AdapterHubTextClassifier)
    assert reloaded.labels == ["0", "1"]
    sentences = dev_sentences(data_dir)
    reloaded.preprocessor.sequence_length = 16
    logits = reloaded.predict(sentences, verbose=0)
    expected = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(
        served(out / "export", sentences), expected, atol=1e-5
    )


def test_an_adapterhub_folder_is_scored_on_a_glue_task(
    tmp_path, data_dir, capsys
):
    folder = os.path.join(FIXTURES, "houlsby_safetensors")
    out = tmp_path / "scored"
    code, printed, err = run_here(
        flags(data_dir, out, f"--load_adapters={folder}", "--do_eval"),
        capsys,
    )
    assert code is None, err
    with open(out / "eval_results.json") as handle:
        results = json.load(handle)
    # The loaded adapters as they are: the library's own logits give the
    # same loss.
    model = keras_adapters.load_adapters(folder, BASE)
    model.preprocessor.sequence_length = 16
    task = get_task("CoLA")
    examples = read_examples(task, data_dir, "dev")
    logits = model.predict([e.text_a for e in examples], verbose=0)
    labels = np.array([int(e.label) for e in examples])
    loss = tf.reduce_mean(
        tf.keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
    ).numpy()
    assert results["eval_loss"] == pytest.approx(float(loss), abs=1e-5)
    assert "these results are those of the adapters of" in printed
    assert results["note"] == f"the adapters of {folder}"


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--adapter_format=adapterhub"],
            "--adapter_format=adapterhub writes AdapterHub's houlsby or "
            "pfeiffer adapters",
        ),
        (
            ["--adapter_config=houlsby", "--cache_frozen_prefix"],
            "--cache_frozen_prefix does not split AdapterHub's",
        ),
        (
            [
                f"--load_adapters={os.path.join(FIXTURES, 'houlsby_bin')}",
                "--adapter_size=8",
            ],
            "drop --adapter_size.",
        ),
    ],
)
def test_wrong_combinations_are_one_line(
    tmp_path, data_dir, capsys, extra, message
):
    code, _, err = run_here(flags(data_dir, tmp_path / "run", *extra), capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert message in err
    assert not os.path.exists(tmp_path / "run")


def test_the_original_checkpoint_format_is_adapter_bert_only():
    with pytest.raises(
        keras_adapters.KerasAdaptersError,
        match="holds adapter-bert's adapters only; `adapter_config`=pfeiffer",
    ):
        ClassifierRunConfig(
            task_name="cola",
            bert_config_file="bert_config.json",
            vocab_file="vocab.txt",
            adapter_config="pfeiffer",
        )
