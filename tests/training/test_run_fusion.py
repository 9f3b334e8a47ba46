"""run_classifier.py --fusion: AdapterFusion trained, evaluated, resumed and
exported like any classifier; bad values refused in one line."""

import json
import os

import numpy as np
import pytest

from keras_adapters import ArtifactError
from keras_adapters import KerasAdaptersError
from keras_adapters.training.classifier_run import ClassifierRun
from tests.test_fusion import pfeiffer_artifact
from tests.training.test_run_classifier import checkpoint_step
from tests.training.test_run_classifier import make_cola
from tests.training.test_run_classifier import read_results
from tests.training.test_run_failures import make_config
from tests.training.test_run_failures import save_preset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fusion_run")
    preset = save_preset(str(root / "preset"), seed=1)
    data = str(root / "CoLA")
    make_cola(data, np.random.default_rng(7), train=32)
    adapters = {
        name: pfeiffer_artifact(preset, str(root / name), seed)
        for seed, name in enumerate(("cola", "sst2"))
    }
    return preset, data, adapters, root


def fusion_config(files, output_dir, **overrides):
    preset, data, adapters, _ = files
    fields = dict(
        num_train_epochs=1,
        adapter_size=None,
        fusion=[f"{name}={folder}" for name, folder in adapters.items()],
    )
    fields.update(overrides)
    return make_config(output_dir, preset, data, **fields)


def test_fusion_run_trains_evaluates_resumes_and_exports(files, tmp_path):
    output_dir = tmp_path / "run"
    ClassifierRun(fusion_config(files, output_dir)).run()
    results = read_results(output_dir)
    assert results["global_step"] == 4
    with open(output_dir / "adapters" / "adapter_config.json") as handle:
        artifact = json.load(handle)
    assert artifact["format"] == "keras_adapters.fusion_artifact"
    assert [a["name"] for a in artifact["adapters"]] == ["cola", "sst2"]
    assert os.path.isfile(output_dir / "export" / "saved_model.pb")
    # The same command again resumes from the last checkpoint: nothing
    # trains, the results are the same.
    ClassifierRun(fusion_config(files, output_dir)).run()
    assert checkpoint_step(output_dir) == 4
    assert read_results(output_dir)["eval_accuracy"] == results["eval_accuracy"]


def test_bad_fusion_values_are_one_line_errors(files, tmp_path):
    preset, _, adapters, root = files
    other = save_preset(str(root / "other_preset"), seed=2)
    moved = pfeiffer_artifact(other, str(root / "moved"), 9)
    cases = [
        (["cola=" + adapters["cola"]], KerasAdaptersError, "two or more"),
        (["cola"], KerasAdaptersError, "NAME=ARTIFACT_DIR"),
        (
            ["cola=" + adapters["cola"], f"x={root / 'none'}"],
            KerasAdaptersError,
            "`fusion`: no folder .* for adapter 'x'",
        ),
        (
            ["cola=" + adapters["cola"], f"x={moved}"],
            ArtifactError,
            "Adapter 'x':.*fingerprint",
        ),
    ]
    for index, (fusion, error, message) in enumerate(cases):
        with pytest.raises(error, match=message) as raised:
            ClassifierRun(
                fusion_config(files, tmp_path / f"bad{index}", fusion=fusion)
            ).run()
        assert "\n" not in str(raised.value)
    with pytest.raises(KerasAdaptersError, match="drop `adapter_size`"):
        fusion_config(files, tmp_path / "bad", adapter_size=4)
