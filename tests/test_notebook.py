"""The Colab TPU notebook: committed without outputs, and runs top to bottom.

The run executes `examples/colab_tpu_adapters.ipynb` in a fresh Jupyter
kernel on the CPU, as a Colab user would run it, with its parameters set
through `NB_*` environment variables to the real MiniLM and a small CoLA
subset, and its install cell made a no-op.
"""

import json
import os
import re
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.conftest import SHARED_DATA

NOTEBOOK = os.path.join(REPO_ROOT, "examples", "colab_tpu_adapters.ipynb")
GLUE_DIR = os.path.join(SHARED_DATA, "glue")
KERNEL_NAME = "keras-adapters-test"


def _code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_notebook_is_committed_without_outputs():
    with open(NOTEBOOK, encoding="utf-8") as handle:
        notebook = json.load(handle)
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    cells = _code_cells(notebook)
    assert cells
    for cell in cells:
        assert cell["outputs"] == [], cell["id"]
        assert cell["execution_count"] is None, cell["id"]


def _stream_text(notebook):
    return "".join(
        output.get("text", "")
        for cell in _code_cells(notebook)
        for output in cell["outputs"]
        if output["output_type"] == "stream"
    )


def _register_kernel(folder, monkeypatch):
    """A kernelspec running this interpreter, found first on JUPYTER_PATH.

    So the notebook runs where keras_adapters is installed, whatever other
    `python3` kernels the machine has registered.
    """
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "keras_adapters test",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(folder))


@pytest.mark.integration
@pytest.mark.parametrize(
    "backend, placement",
    [
        (None, "Keras backend jax, DataParallel over 1 device(s): cpu:0."),
        (
            "tensorflow",
            "Keras backend tensorflow, DefaultDistributionStrategy over 1 "
            "replica(s).",
        ),
    ],
)
def test_notebook_runs_on_cpu(
    minilm_path, tmp_path, monkeypatch, backend, placement
):
    """Unchanged cells on the default backend (JAX) and on TensorFlow."""
    if backend is None:
        pytest.importorskip("jax")
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
    else:
        monkeypatch.setenv("KERAS_BACKEND", backend)
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if not os.path.isfile(os.path.join(GLUE_DIR, "CoLA", "train.tsv")):
        pytest.skip(f"no CoLA data in {GLUE_DIR}")
    export_dir = tmp_path / "export"
    parameters = {
        "CUDA_VISIBLE_DEVICES": "-1",
        "KERAS_ADAPTERS_NOTEBOOK_TEST": "1",
        "NB_PRESET": minilm_path,
        "NB_TASK": "CoLA",
        "NB_GLUE_DIR": GLUE_DIR,
        "NB_MAX_TRAIN_EXAMPLES": "64",
        "NB_MAX_EVAL_EXAMPLES": "48",
        "NB_EPOCHS": "1",
        "NB_BATCH_SIZE": "16",
        "NB_SEQUENCE_LENGTH": "32",
        "NB_EXPORT_DIR": str(export_dir),
    }
    for name, value in parameters.items():
        monkeypatch.setenv(name, value)  # The kernel inherits them.
    _register_kernel(tmp_path / "jupyter", monkeypatch)

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # Raises CellExecutionError naming a failing cell.

    text = _stream_text(notebook)
    assert "Test run: nothing installed." in text
    assert placement in text
    assert "CoLA: 64 training and 48 dev examples" in text
    assert re.search(r"CoLA dev \(48 examples\): mcc = -?\d\.\d{4}\n", text)
    assert (export_dir / "adapters" / "adapter_config.json").is_file()
    assert (export_dir / "adapters" / "adapter_weights.safetensors").is_file()
    assert (export_dir / "saved_model" / "saved_model.pb").is_file()
    # The SavedModel, rebuilt from the adapter artifact, serves what the
    # trained model computed.
    served = re.search(r"max \|difference\|: (\S+)\n", text)
    assert served and float(served.group(1)) < 1e-4, text[-2000:]
