"""One frozen BERT serving many tasks: routing, artifacts and SavedModel."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.models import BertBackbone
from keras_hub.models import BertTokenizer

import keras_adapters
from keras_adapters import ArtifactError
from keras_adapters import KerasAdaptersError
from keras_adapters import MultiTaskClassifier
from keras_adapters.models import AdapterBertTextClassifier
from tests.conftest import REPO_ROOT
from tests.conftest import SHARED_DATA
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB
from tests.test_export import finish_loader
from tests.test_export import quiet_env
from tests.test_export import start_loader

# A mixed batch: every task, single sentences and pairs, an example longer
# than any task's sequence length.
TASKS = ["cola", "mnli", "stsb", "rte", "sst2", "mnli"]
FIRSTS = [
    "the film is good .",
    "i loved the music",
    "a dull movie",
    "the plot was slow",
    "we really loved the film and the music but the acting was so slow "
    "and too long",
    "it was fun",
]
SECONDS = ["", "it was great", "a boring film", "not fun", "", "the best"]


def save_preset(path):
    keras.utils.set_random_seed(3)
    BertBackbone(**TINY_CONFIG).save_to_preset(path)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(path)
    return path


def save_task(
    preset,
    folder,
    sequence_length,
    labels=None,
    pair=False,
    train=False,
    seed=0,
    **kwargs,
):
    """Saves an artifact of a tiny classifier: trained for a few steps, or
    with random changes standing in for training."""
    model = AdapterBertTextClassifier.from_preset(preset, **kwargs)
    model.preprocessor = AdapterBertTextClassifier.preset_preprocessor(
        preset, sequence_length=sequence_length
    )
    if train:
        rng = np.random.default_rng(seed)
        x = [" ".join(rng.choice(TINY_VOCAB[5:], 6)) for _ in range(16)]
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        model.fit(x, rng.integers(0, 2, 16), batch_size=8, epochs=2, verbose=0)
    else:
        rng = np.random.default_rng(seed)
        for variable in model.trainable_weights:
            variable.assign(
                variable.numpy() + rng.normal(0, 0.2, variable.shape)
            )
    inputs = ["sentence1", "sentence2"] if pair else ["sentence"]
    keras_adapters.save_adapters(model, folder, labels=labels, inputs=inputs)
    return folder


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return save_preset(str(tmp_path_factory.mktemp("preset")))


@pytest.fixture(scope="module")
def artifacts(preset, tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    return {
        "cola": save_task(
            preset,
            str(root / "cola"),
            12,
            labels=["bad", "good"],
            num_classes=2,
            adapter_size=4,
            train=True,
        ),
        "mnli": save_task(
            preset,
            str(root / "mnli"),
            16,
            pair=True,
            labels=["contradiction", "entailment", "neutral"],
            num_classes=3,
            adapter_size=8,
            seed=1,
        ),
        "stsb": save_task(
            preset,
            str(root / "stsb"),
            12,
            pair=True,
            regression=True,
            adapter_size=4,
            seed=2,
        ),
        # AdapterDrop: adapters in the top block only, nothing below it
        # trained (its LayerNorms stay the base's).
        "sst2": save_task(
            preset,
            str(root / "sst2"),
            12,
            labels=["negative", "positive"],
            num_classes=2,
            adapter_size=4,
            adapter_layers=1,
            freeze_below_adapters=True,
            seed=4,
        ),
        # No adapters at all: LayerNorms and head only.
        "rte": save_task(
            preset,
            str(root / "rte"),
            12,
            pair=True,
            labels=["entailment", "not_entailment"],
            num_classes=2,
            adapter_size=0,
            tuning_mode="layer_norm",
            seed=3,
        ),
    }


@pytest.fixture(scope="module")
def model(preset, artifacts):
    return MultiTaskClassifier.from_artifacts(preset, artifacts)


def single_task_outputs(preset, folder, first, second, pair):
    """What the task's own model, loaded by `load_adapters`, gives."""
    single = keras_adapters.load_adapters(folder, preset)
    inputs = ([first], [second]) if pair else [first]
    features = single.preprocessor(inputs, y=None)
    return keras.ops.convert_to_numpy(single(features))[0]


def test_each_example_of_a_mixed_batch_equals_its_own_task(
    model, preset, artifacts
):
    logits = keras.ops.convert_to_numpy(
        model(model.preprocessor(TASKS, FIRSTS, SECONDS))
    )
    assert logits.shape == (len(TASKS), 3)
    for row, task in enumerate(TASKS):
        info = model.tasks[task]
        expected = single_task_outputs(
            preset, artifacts[task], FIRSTS[row], SECONDS[row], info.pair
        )
        np.testing.assert_allclose(
            logits[row, : info.num_outputs], expected, atol=1e-5
        )
        assert np.all(logits[row, info.num_outputs :] == -np.inf)


def test_tasks_list_names_labels_and_inputs(model):
    assert list(model.tasks) == ["cola", "mnli", "stsb", "sst2", "rte"]
    cola, mnli, stsb, sst2, rte = model.tasks.values()
    assert cola.labels == ("bad", "good") and not cola.pair
    assert mnli.labels == ("contradiction", "entailment", "neutral")
    assert mnli.pair and mnli.sequence_length == 16
    assert stsb.regression and stsb.labels is None and stsb.num_outputs == 1
    assert cola.adapter_blocks == (0, 1)
    assert sst2.adapter_blocks == (1,) and not sst2.pair
    assert rte.pair and rte.adapter_blocks == ()


def test_task_parameters_are_stacked_once_per_parameter(model):
    """One variable per routed parameter, a row per task, the adapters as
    wide as the widest task's."""
    hidden = model.backbone.hidden_dim
    block = model.adapters[0]["self_attention"]
    assert block.adapter_sizes == [[4], [8], [4], [], []]
    assert tuple(block.down_kernel.shape) == (5, hidden, 8)
    assert tuple(model.head_layers[-1].kernel.shape) == (5, hidden, 3)
    assert tuple(model.layer_norms[0].task_gamma.shape) == (5, hidden)
    paths = [variable.path for variable in model.weights]
    assert len(paths) == len(set(paths))
    # Pretrained weights, then per routed parameter one variable: per block
    # 2 LayerNorms, and 2 adapters of 4 parameters and 6 fusion ones.
    per_block = 2 * 2 + 2 * (4 + 6)
    assert len(paths) == len(model._base_weights) + 2 + 2 * per_block + 2


def test_adding_and_removing_tasks_leaves_the_others_unchanged(
    preset, artifacts
):
    model = MultiTaskClassifier.from_artifacts(
        preset, {"cola": artifacts["cola"], "mnli": artifacts["mnli"]}
    )
    backbone = model.backbone

    def outputs(tasks):
        seconds = ["the plot", SECONDS[1]]
        return keras.ops.convert_to_numpy(
            model(model.preprocessor(tasks, FIRSTS[:2], seconds))
        )

    before = outputs(["cola", "mnli"])
    model.add_task("stsb", artifacts["stsb"])
    assert model.backbone is backbone
    np.testing.assert_allclose(outputs(["cola", "mnli"]), before, atol=1e-6)
    model.remove_task("cola")
    assert list(model.tasks) == ["mnli", "stsb"]
    np.testing.assert_allclose(
        outputs(["stsb", "mnli"])[1], before[1], atol=1e-6
    )
    with pytest.raises(KerasAdaptersError, match="No task 'cola'.*mnli"):
        model.remove_task("cola")
    with pytest.raises(KerasAdaptersError, match="'mnli' is already"):
        model.add_task("mnli", artifacts["mnli"])


def test_predict_retraces_after_the_tasks_change(preset, artifacts):
    model = MultiTaskClassifier.from_artifacts(
        preset, {"cola": artifacts["cola"]}
    )
    features = model.preprocessor(["cola"], FIRSTS[:1])
    first = model.predict(features, verbose=0)
    model.add_task("mnli", artifacts["mnli"])
    features = model.preprocessor(["cola", "mnli"], FIRSTS[:2], SECONDS[:2])
    both = model.predict(features, verbose=0)
    assert both.shape == (2, 3)
    np.testing.assert_allclose(both[0, :2], first[0], atol=1e-5)


def test_unknown_task_names_and_missing_pairs_are_refused(model):
    with pytest.raises(KerasAdaptersError, match="Unknown task.*nope"):
        model.preprocessor(["cola", "nope"], ["a", "b"], ["", ""])
    with pytest.raises(KerasAdaptersError, match="sentence2 is empty.*mnli"):
        model.preprocessor(["mnli"], ["the film"], [""])


def test_artifacts_that_cannot_share_the_base_are_refused(
    preset, artifacts, tmp_path
):
    other = str(tmp_path / "other")
    keras.utils.set_random_seed(99)
    BertBackbone(**TINY_CONFIG).save_to_preset(other)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(other)
    with pytest.raises(ArtifactError, match="Task 'cola':.*fingerprint"):
        MultiTaskClassifier.from_artifacts(other, {"cola": artifacts["cola"]})
    full = save_task(
        preset,
        str(tmp_path / "full"),
        12,
        num_classes=2,
        adapter_size=4,
        tuning_mode="full",
    )
    pooler = save_task(
        preset,
        str(tmp_path / "pooler"),
        12,
        num_classes=2,
        adapter_size=4,
        tuning_mode="layer_norm",
        train_pooler=True,
    )
    model = MultiTaskClassifier.from_artifacts(
        preset, {"cola": artifacts["cola"]}
    )
    with pytest.raises(ArtifactError, match="Task 'sst2':.*`full` mode"):
        model.add_task("sst2", full)
    with pytest.raises(ArtifactError, match="Task 'sst2':.*pooler"):
        model.add_task("sst2", pooler)
    with pytest.raises(ArtifactError, match="Task 'qnli': No adapter_conf"):
        model.add_task("qnli", str(tmp_path / "missing"))
    with pytest.raises(KerasAdaptersError, match="'CoLA!' must be lower"):
        model.add_task("CoLA!", artifacts["cola"])
    assert list(model.tasks) == ["cola"]


def test_pair_inputs_come_from_the_artifact_or_are_given(preset, tmp_path):
    from keras_adapters.training.multitask_export import pair_tasks_of

    model = AdapterBertTextClassifier.from_preset(
        preset, num_classes=2, adapter_size=4
    )
    folder = str(tmp_path / "old")
    keras_adapters.save_adapters(model, folder)  # Records no inputs.
    with pytest.raises(
        ArtifactError, match="Task 'mrpc':.*pair_tasks=\\['mrpc'\\]"
    ):
        MultiTaskClassifier.from_artifacts(preset, {"mrpc": folder})
    with pytest.raises(KerasAdaptersError, match="`pair_tasks` names mnli"):
        MultiTaskClassifier.from_artifacts(
            preset, {"mrpc": folder}, pair_tasks=["mnli"]
        )
    multi = MultiTaskClassifier.from_artifacts(
        preset, {"mrpc": folder, "sst2": folder}, pair_tasks=["mrpc"]
    )
    assert [info.pair for info in multi.tasks.values()] == [True, False]
    multi.add_task("mine", folder, pair=True)
    assert multi.tasks["mine"].pair
    # The script guesses from GLUE names.
    artifacts = {"mrpc": folder, "sst2": folder}
    assert pair_tasks_of(artifacts) == ["mrpc"]
    with pytest.raises(ArtifactError, match="Task 'mine':.*not a GLUE"):
        pair_tasks_of({"mine": folder})


def serve(export_dir, tmp_path, requests):
    loader = start_loader(
        [dict(request, dir=export_dir) for request in requests],
        str(tmp_path),
    )
    served = finish_loader(loader)
    assert served["modules"] == []
    return served["results"]


def test_savedmodel_routes_raw_strings_by_task_name(model, tmp_path):
    export_dir = keras_adapters.export_saved_model(
        model, str(tmp_path / "multi"), task_signatures=True
    )
    logits = keras.ops.convert_to_numpy(
        model(model.preprocessor(TASKS, FIRSTS, SECONDS))
    )
    mixed, cola, mnli, stsb, empty, unknown, unpaired = serve(
        export_dir,
        tmp_path,
        [
            {
                "inputs": {
                    "task": TASKS,
                    "sentence": FIRSTS,
                    "sentence2": SECONDS,
                }
            },
            {"signature": "cola", "inputs": {"sentence": FIRSTS[:1]}},
            {
                "signature": "mnli",
                "inputs": {"sentence1": FIRSTS[1:2], "sentence2": SECONDS[1:2]},
            },
            {
                "signature": "stsb",
                "inputs": {"sentence1": FIRSTS[2:3], "sentence2": SECONDS[2:3]},
            },
            {"inputs": {"task": [], "sentence": [], "sentence2": []}},
            {
                "inputs": {
                    "task": ["qqp"],
                    "sentence": ["a"],
                    "sentence2": ["b"],
                }
            },
            {
                "inputs": {
                    "task": ["mnli"],
                    "sentence": ["a"],
                    "sentence2": [""],
                }
            },
        ],
    )
    probabilities = np.array(mixed["probabilities"][1])
    for row, task in enumerate(TASKS):
        info = model.tasks[task]
        if info.regression:
            assert mixed["label"][1][row] == ""
            assert mixed["label_id"][1][row] == -1
            assert not probabilities[row].any()
            np.testing.assert_allclose(
                mixed["score"][1][row], logits[row, 0], atol=1e-5
            )
            continue
        expected = np.exp(logits[row] - logits[row].max())
        expected /= expected.sum()
        np.testing.assert_allclose(probabilities[row], expected, atol=1e-5)
        assert mixed["label"][1][row] == info.labels[expected.argmax()]
        assert mixed["label_id"][1][row] == expected.argmax()
        np.testing.assert_allclose(
            mixed["score"][1][row], expected.max(), atol=1e-5
        )
    assert cola["probabilities"][2] == [1, 2]
    np.testing.assert_allclose(
        cola["probabilities"][1][0], probabilities[0, :2], atol=1e-5
    )
    assert mnli["label"][1] == [mixed["label"][1][1]]
    assert list(stsb) == ["score"]
    np.testing.assert_allclose(stsb["score"][1], [logits[2, 0]], atol=1e-5)
    assert empty["probabilities"][2] == [0, 3]
    assert "Unknown task name(s)" in unknown["error"]
    assert "qqp" in unknown["error"]
    assert "sentence2 is empty" in unpaired["error"]


def test_the_savedmodel_holds_one_graph_of_the_model(
    model, preset, artifacts, tmp_path
):
    """Each task's signature calls the same traced model: the graph does
    not grow with a copy of the encoder per task."""
    one = MultiTaskClassifier.from_artifacts(
        preset, {"cola": artifacts["cola"]}
    )

    def model_ops(model, name):
        """The matrix-product (or, from JAX, XlaCallModule) ops saved."""
        from tensorflow.core.protobuf import saved_model_pb2

        folder = keras_adapters.export_saved_model(model, str(tmp_path / name))
        saved = saved_model_pb2.SavedModel()
        with open(os.path.join(folder, "saved_model.pb"), "rb") as handle:
            saved.ParseFromString(handle.read())
        graph = saved.meta_graphs[0].graph_def
        nodes = list(graph.node) + [
            node
            for function in graph.library.function
            for node in function.node_def
        ]
        kinds = ("MatMul", "BatchMatMulV2", "Einsum", "XlaCallModule")
        return sum(node.op in kinds for node in nodes)

    assert model_ops(model, "five") == model_ops(one, "one") > 0


def run_script(*args, cwd):
    return subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "export_multitask.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        # The script hides TensorFlow's start-up lines itself.
        env={
            key: value
            for key, value in quiet_env().items()
            if key != "TF_CPP_MIN_LOG_LEVEL"
        },
        timeout=600,
    )


def test_export_multitask_script_writes_a_served_model(
    preset, artifacts, tmp_path
):
    export_dir = str(tmp_path / "server")
    result = run_script(
        f"--base={preset}",
        f"--task=cola={artifacts['cola']}",
        "--task",
        f"stsb={artifacts['stsb']}",
        f"--export_dir={export_dir}",
        "--task_signatures",
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cola: ('bad', 'good'), sentences, 12 tokens" in result.stdout
    assert "stsb: regression, sentence pairs, 12 tokens" in result.stdout
    assert not os.path.exists(export_dir + ".partial")
    lean = str(tmp_path / "lean")
    result = run_script(
        f"--base={preset}",
        f"--task=cola={artifacts['cola']}",
        f"--export_dir={lean}",
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(tf.saved_model.load(lean).signatures) == ["serving_default"]
    (served,) = serve(
        export_dir,
        tmp_path,
        [{"signature": "cola", "inputs": {"sentence": ["the film"]}}],
    )
    assert served["label"][1][0] in ("bad", "good")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task=cola"], "--task takes NAME=ARTIFACT_DIR values, e.g. "),
        ([], "Give at least one --task"),
        (["--task=cola={cola}", "--task=cola={cola}"], "names 'cola' twice"),
        (["--task=cola=/nowhere"], "Task 'cola': No adapter_config.json"),
    ],
)
def test_export_multitask_script_errors_are_one_line(
    preset, artifacts, tmp_path, args, message
):
    args = [arg.format(cola=artifacts["cola"]) for arg in args]
    result = run_script(
        f"--base={preset}",
        f"--export_dir={tmp_path / 'x'}",
        *args,
        cwd=str(tmp_path),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr[-2000:]


def train_minilm_task(minilm_path, task, rows, folder):
    """A few real training steps of MiniLM adapters on real GLUE rows."""
    model = AdapterBertTextClassifier.from_preset(
        minilm_path, num_classes=2, adapter_size=16
    )
    model.preprocessor.sequence_length = 64
    x = rows["sentence"] if task == "cola" else (rows["a"], rows["b"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x=x, y=rows["label"], batch_size=8, epochs=1, verbose=0)
    keras_adapters.save_adapters(
        model,
        folder,
        labels=["0", "1"],
        inputs=["sentence"] if task == "cola" else ["sentence1", "sentence2"],
    )
    return folder


def glue_rows(task, count=16):
    from keras_adapters.data.glue import get_task
    from keras_adapters.data.glue import read_examples

    folder = os.path.join(SHARED_DATA, "glue", task)
    if not os.path.isdir(folder):
        pytest.skip(f"no GLUE {task} files in ../shared/data")
    examples = read_examples(get_task(task), folder, "train")[:count]
    return {
        "sentence": [example.text_a for example in examples],
        "a": [example.text_a for example in examples],
        "b": [example.text_b or "" for example in examples],
        "label": np.array([int(example.label) for example in examples]),
    }


@pytest.mark.integration
def test_minilm_mixed_batch_equals_each_trained_task(minilm_path, tmp_path):
    cola, mrpc = glue_rows("CoLA"), glue_rows("MRPC")
    artifacts = {
        "cola": train_minilm_task(
            minilm_path, "cola", cola, str(tmp_path / "c")
        ),
        "mrpc": train_minilm_task(
            minilm_path, "mrpc", mrpc, str(tmp_path / "m")
        ),
    }
    model = MultiTaskClassifier.from_artifacts(minilm_path, artifacts)
    tasks = ["cola", "mrpc"] * 4
    firsts = [
        (cola if task == "cola" else mrpc)["a"][i]
        for i, task in enumerate(tasks)
    ]
    seconds = [
        "" if task == "cola" else mrpc["b"][i] for i, task in enumerate(tasks)
    ]
    logits = keras.ops.convert_to_numpy(
        model(model.preprocessor(tasks, firsts, seconds))
    )
    for task in ("cola", "mrpc"):
        single = keras_adapters.load_adapters(artifacts[task], minilm_path)
        rows = [i for i, name in enumerate(tasks) if name == task]
        inputs = (
            [firsts[i] for i in rows]
            if task == "cola"
            else ([firsts[i] for i in rows], [seconds[i] for i in rows])
        )
        expected = single.predict(inputs, verbose=0)
        np.testing.assert_allclose(logits[rows], expected, atol=1e-5)
