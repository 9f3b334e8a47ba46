"""AdapterFusion tasks served beside their adapters in one multi-task pass
(AdapterHub's adapters: Pfeiffer and Houlsby placements)."""

import keras
import numpy as np
import pytest

import keras_adapters
from keras_adapters import ArtifactError
from keras_adapters import MultiTaskClassifier
from keras_adapters.models import AdapterHubTextClassifier
from tests.test_multi_task import FIRSTS
from tests.test_multi_task import SECONDS
from tests.test_multi_task import run_script
from tests.test_multi_task import save_preset
from tests.test_multi_task import save_task
from tests.test_multi_task import serve

RNG = np.random.default_rng(7)


def adapterhub_task(preset, folder, adapter_config, num_classes, pair, seed):
    """An AdapterHub-style adapter artifact (its LayerNorms frozen), random
    changes standing in for training."""
    model = AdapterHubTextClassifier.from_preset(
        preset,
        num_classes=num_classes,
        adapter_config=adapter_config,
        adapter_size=4,
    )
    model.preprocessor.sequence_length = 16
    rng = np.random.default_rng(seed)
    for variable in model.trainable_weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.3, variable.shape))
    inputs = ["sentence1", "sentence2"] if pair else ["sentence"]
    keras_adapters.save_adapters(model, folder, inputs=inputs)
    return folder


def fusion_task(preset, folder, adapters, **fusion):
    """A fusion of `adapters` (a pair task, 3 classes) with random weights
    standing in for training."""
    model = keras_adapters.fuse_adapters(
        preset, adapters, num_classes=3, labels=["a", "b", "c"], **fusion
    )
    for variable in model.trainable_weights:
        variable.assign(variable.numpy() + RNG.normal(0, 0.3, variable.shape))
    return keras_adapters.save_fusion(
        model, folder, inputs=["sentence1", "sentence2"]
    )


@pytest.fixture(scope="module", params=["pfeiffer", "houlsby"])
def setup(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    preset = save_preset(str(root / "preset"))
    adapters = {
        "cola": adapterhub_task(
            preset, str(root / "cola"), request.param, 2, False, 1
        ),
        "rte": adapterhub_task(
            preset, str(root / "rte"), request.param, 2, True, 2
        ),
    }
    fusions = {
        "mnli_fusion": fusion_task(preset, str(root / "mnli"), adapters),
        # A static fusion: no key projection, temperature 2.
        "qnli_fusion": fusion_task(
            preset,
            str(root / "qnli"),
            {"rte": adapters["rte"], "cola": adapters["cola"]},
            key=False,
            temperature=2.0,
        ),
    }
    model = MultiTaskClassifier.from_artifacts(preset, {**adapters, **fusions})
    return preset, adapters, fusions, model


def logits(model, features):
    return keras.ops.convert_to_numpy(model(features))


def test_fusion_and_single_adapters_run_in_one_pass(setup):
    """Each example of a batch mixing the adapters and two fusions of them
    equals its own model: `load_adapters` for an adapter, `load_fusion`
    (with the adapters it names) for a fusion."""
    preset, adapters, fusions, model = setup
    tasks = ["mnli_fusion", "cola", "qnli_fusion", "rte", "mnli_fusion"]
    pair = {"cola": False, "rte": True, "mnli_fusion": True}
    pair["qnli_fusion"] = True
    seconds = [SECONDS[1] if pair[t] else "" for t in tasks]
    mixed = logits(
        model,
        model.preprocessor(task=tasks, sentence=FIRSTS[:5], sentence2=seconds),
    )
    order = {"mnli_fusion": ["cola", "rte"], "qnli_fusion": ["rte", "cola"]}
    for row, task in enumerate(tasks):
        if task in fusions:
            single = keras_adapters.load_fusion(
                fusions[task],
                preset,
                {name: adapters[name] for name in order[task]},
            )
        else:
            single = keras_adapters.load_adapters(adapters[task], preset)
        single.preprocessor.sequence_length = model.tasks[task].sequence_length
        inputs = (
            ([FIRSTS[row]], [seconds[row]]) if pair[task] else [FIRSTS[row]]
        )
        expected = logits(single, single.preprocessor(inputs, y=None))[0]
        np.testing.assert_allclose(
            mixed[row, : expected.shape[0]], expected, atol=1e-5
        )
    info = model.tasks["mnli_fusion"]
    assert info.pair and info.labels == ("a", "b", "c")
    assert info.adapter_blocks == (0, 1)


def test_the_export_command_serves_fusion_tasks_by_name(setup, tmp_path):
    """`export_multitask.py` takes a fusion folder as a task; its
    signature gives the model's probabilities."""
    preset, adapters, fusions, model = setup
    export_dir = str(tmp_path / "served")
    result = run_script(
        f"--base={preset}",
        *(f"--task={name}={folder}" for name, folder in adapters.items()),
        *(f"--task={name}={folder}" for name, folder in fusions.items()),
        f"--export_dir={export_dir}",
        "--task_signatures",
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "qnli_fusion: ('a', 'b', 'c'), sentence pairs" in result.stdout
    features = model.preprocessor(
        task=["qnli_fusion", "cola"],
        sentence=FIRSTS[:2],
        sentence2=[SECONDS[1], ""],
    )
    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(model(features), axis=-1)
    )
    served = serve(
        export_dir,
        tmp_path,
        [
            {
                "signature": "qnli_fusion",
                "inputs": {
                    "sentence1": [FIRSTS[0]],
                    "sentence2": [SECONDS[1]],
                },
            }
        ],
    )
    # Each served output is [dtype, values, shape].
    np.testing.assert_allclose(
        served[0]["probabilities"][1][0], expected[0], atol=1e-5
    )
    assert served[0]["label"][1] == [["a", "b", "c"][expected[0].argmax()]]


def test_fusions_of_adapters_the_model_lacks_are_refused(setup, tmp_path):
    preset, adapters, fusions, _ = setup
    only_cola = MultiTaskClassifier.from_artifacts(
        preset, {"cola": adapters["cola"]}
    )
    with pytest.raises(
        ArtifactError,
        match="Task 'fusion': it fuses adapter 'rte' .*not a task of this "
        "model; add that adapter's artifact as a task before the fusion",
    ) as raised:
        only_cola.add_task("fusion", fusions["mnli_fusion"])
    assert "\n" not in str(raised.value)
    assert list(only_cola.tasks) == ["cola"]
    with pytest.raises(ArtifactError, match="Every task is an AdapterFusion"):
        MultiTaskClassifier.from_artifacts(
            preset, {"fusion": fusions["mnli_fusion"]}
        )
    # adapter-bert's adapters and AdapterHub's are not served together.
    bert = save_task(
        preset, str(tmp_path / "bert"), 12, num_classes=2, adapter_size=4
    )
    with pytest.raises(
        ArtifactError, match="Task 'bert': its adapters are 'adapter-bert'"
    ):
        MultiTaskClassifier.from_artifacts(
            preset, {"cola": adapters["cola"], "bert": bert}
        )
