"""The same model computes the same numbers on every Keras backend.

The test process runs on the backend pytest was started with (e.g.
`KERAS_BACKEND=jax python -m pytest`); each other installed backend runs
in a fresh interpreter started as `python -m tests.test_backends FOLDER`,
because Keras reads `KERAS_BACKEND` once, when it is first imported. Both
sides run `compute()` on the same request: a tiny BERT classifier's
weights, a batch, gradients, a base preset and an adapter artifact saved
by the test process. They exchange arrays through `.npz` files.

Tolerances (absolute): logits within 1e-5, variables after one
`AdamWeightDecay` step within 1e-6, while the step moves every trained
variable by more than 1e-4 (3.1e-4 here). Measured between TensorFlow,
JAX and torch on CPU: logits differ by at most 2.7e-7, variables after
a training step by 1.2e-7 and after applying given gradients by 4e-9,
i.e. float32 rounding. Adam's first step, `0.1 g / (0.0316 |g| + eps)`
times the learning rate, amplifies the rounding of a gradient close to
zero by up to `0.1 * learning_rate / eps`: at 1e-3 one LayerNorm value
differed by 1.4e-6, so the step here runs at 1e-4.
"""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras_hub.models import BertBackbone

from keras_adapters import load_adapters
from keras_adapters import save_adapters
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.optimization import WarmupLinearDecay
from keras_adapters.weight_transfer import assign_by_path
from tests.conftest import REPO_ROOT
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs
from tests.training.once import once

BACKEND = keras.backend.backend()
# The backends compared; each is also the name of its Python module.
BACKENDS = ("jax", "tensorflow", "torch")
NUM_CLASSES = 3
LEARNING_RATE = 1e-4
LOGITS_ATOL = 1e-5
VARIABLES_ATOL = 1e-6
# One step must move some value of every trained variable by more than
# this, far more than the tolerance, and leave every other one as it was.
MIN_STEP = 1e-4


def make_request(folder):
    """Writes what both backends compute on into `folder`.

    `folder` receives a plain BERT preset (`base/`), the artifact of a
    classifier trained on it (`artifact/`) and `request.npz`: that
    classifier's weights (`weight/<path>`), a batch (`input/<name>`,
    `labels`) and one gradient per trained variable (`gradient/<path>`),
    large enough for `AdamWeightDecay`'s global-norm clipping to act.
    Every value comes from NumPy's generator or a constant initializer,
    so the request is the same whichever backend writes it.
    """
    rng = np.random.default_rng(0)
    base = BertBackbone(**TINY_CONFIG, dropout=0.0)
    # A random BERT at std 0.02 maps every input to almost the same
    # output; wider weights make differences between backends visible.
    for variable in base.weights:
        if "kernel" in variable.path or "embeddings" in variable.path:
            variable.assign(rng.normal(scale=0.3, size=variable.shape))
    base.save_to_preset(os.path.join(folder, "base"))
    model = classifier(folder)
    for variable in model.trainable_weights:  # Stand-in for training.
        center = 1.0 if variable.path.endswith("gamma") else 0.0
        variable.assign(rng.normal(center, 0.1, size=variable.shape))
    save_adapters(model, os.path.join(folder, "artifact"))
    inputs = tiny_inputs(batch_size=4, length=12)
    arrays = {f"input/{name}": value for name, value in inputs.items()}
    arrays["labels"] = np.arange(4) % NUM_CLASSES
    for variable in model.weights:
        arrays[f"weight/{variable.path}"] = variable.numpy()
    for variable in model.trainable_weights:
        arrays[f"gradient/{variable.path}"] = rng.normal(
            scale=0.5, size=variable.shape
        ).astype("float32")
    np.savez(os.path.join(folder, "request.npz"), **arrays)


def classifier(folder):
    """The adapter classifier on the preset `base/`, without dropout."""
    return AdapterBertTextClassifier.from_preset(
        os.path.join(folder, "base"),
        num_classes=NUM_CLASSES,
        adapter_size=4,
        preprocessor=None,
        dropout=0.0,
    )


def by_prefix(arrays, prefix):
    """`{rest: array}` for the keys of `arrays` that start with `prefix`."""
    return {
        key[len(prefix) :]: value
        for key, value in arrays.items()
        if key.startswith(prefix)
    }


def compute(folder):
    """What each backend computes on the request in `folder`.

    Returns:
        A dict of NumPy arrays: `logits` of the request's weights on its
        batch; `train_on_batch/<path>`, every variable after one training
        step on the batch (`AdamWeightDecay` with a `WarmupLinearDecay`
        schedule); `apply_gradients/<path>`, every variable after
        `AdamWeightDecay` applied the request's gradients; and
        `artifact_logits`, the logits of the artifact loaded onto the base
        preset.
    """
    with np.load(os.path.join(folder, "request.npz")) as request:
        arrays = dict(request)
    weights = by_prefix(arrays, "weight/")
    inputs = by_prefix(arrays, "input/")
    results = {}

    model = classifier(folder)
    assign_by_path(model, weights)
    results["logits"] = model.predict(inputs, verbose=0)
    model.compile(
        optimizer=AdamWeightDecay(
            WarmupLinearDecay(LEARNING_RATE, 10, num_warmup_steps=0)
        )
    )
    model.train_on_batch(inputs, arrays["labels"])
    for variable in model.weights:
        results[f"train_on_batch/{variable.path}"] = variable.numpy()

    assign_by_path(model, weights)
    gradients = by_prefix(arrays, "gradient/")
    AdamWeightDecay(LEARNING_RATE).apply_gradients(
        [
            (keras.ops.convert_to_tensor(gradients[v.path]), v)
            for v in model.trainable_weights
        ]
    )
    for variable in model.weights:
        results[f"apply_gradients/{variable.path}"] = variable.numpy()

    artifact = load_adapters(
        os.path.join(folder, "artifact"),
        os.path.join(folder, "base"),
        preprocessor=None,
    )
    results["artifact_logits"] = artifact.predict(inputs, verbose=0)
    return results


def run_on(backend, folder):
    """Runs `compute(folder)` under `backend` in a fresh interpreter; it
    writes `<backend>.npz` into `folder`."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.run(
        [sys.executable, "-m", "tests.test_backends", folder],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, (
        f"compute() failed on {backend}:\n{process.stderr[-3000:]}"
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The request, written once for all xdist workers."""
    return str(once(tmp_path_factory, "backends_request", make_request)[0])


@pytest.fixture(scope="module")
def request_arrays(folder):
    """The arrays of `request.npz`."""
    with np.load(os.path.join(folder, "request.npz")) as request:
        return dict(request)


@pytest.fixture(scope="module")
def here(folder):
    """`compute()` on the backend of the test process."""
    return compute(folder)


@pytest.fixture(
    scope="module",
    params=[backend for backend in BACKENDS if backend != BACKEND],
)
def there(request, folder, tmp_path_factory):
    """`compute()` on another backend, in a subprocess run once for all
    xdist workers."""
    backend = request.param
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"backend '{backend}' is not installed")
    once(
        tmp_path_factory,
        f"backends_{backend}",
        lambda unused_folder: run_on(backend, folder),
    )
    with np.load(os.path.join(folder, f"{backend}.npz")) as results:
        return dict(results)


def test_same_weights_give_the_same_logits(here, there):
    np.testing.assert_allclose(
        there["logits"], here["logits"], atol=LOGITS_ATOL, rtol=0
    )


@pytest.mark.parametrize("step", ["train_on_batch", "apply_gradients"])
def test_one_optimizer_step_gives_the_same_variables(
    request_arrays, here, there, step
):
    weights = by_prefix(request_arrays, "weight/")
    trained = by_prefix(request_arrays, "gradient/")
    for path, value in by_prefix(here, f"{step}/").items():
        np.testing.assert_allclose(
            there[f"{step}/{path}"],
            value,
            atol=VARIABLES_ATOL,
            rtol=0,
            err_msg=path,
        )
        moved = np.abs(value - weights[path]).max() > MIN_STEP
        assert moved == (path in trained), path


def test_artifact_loads_with_the_same_logits(here, there):
    np.testing.assert_allclose(
        there["artifact_logits"], here["logits"], atol=LOGITS_ATOL, rtol=0
    )
    np.testing.assert_array_equal(here["artifact_logits"], here["logits"])


if __name__ == "__main__":
    np.savez(
        os.path.join(sys.argv[1], f"{BACKEND}.npz"), **compute(sys.argv[1])
    )
