"""The GLUE job under `tf.distribute` strategies, on CPU.

Every run is a fresh Python process (`distributed_worker.py` or
`run_classifier.py`): logical devices and `MultiWorkerMirroredStrategy`
must be configured before TensorFlow initializes its runtime.

The job is tiny: 64 CoLA-layout training examples, batch 8, one epoch
(8 steps), max_seq_length 16, 21 dev examples (eval batches of 8, 8 and a
partial 5). The model is a tiny adapter BERT saved as a keras-hub preset
*with its head* and `dropout=0.0` in the classifier config, so
`AdapterBertTextClassifier.from_preset` in `build_classifier` keeps the
head dropout off without patching anything. With the default head dropout
of 0.1 a MirroredStrategy run is not comparable to a one-device run: Keras
draws the masks per replica, for half batches (and both replicas draw the
same masks: measured; cf. the SeedGenerator fix proposed in
keras-team/keras PR #20612). Measured on this job with dropout
0.1: trained weights differ by 5.8e-2, per-step losses by 5.8e-4, dev
probabilities by 2.1e-4.

Without dropout the runs differ only in float32 summation order (two
half-batch partial sums all-reduced instead of one full-batch sum).
Measured on CPU, for MirroredStrategy and MultiWorkerMirroredStrategy
alike: 1.2e-7 on any trained weight, 6e-8 on losses and dev probabilities,
i.e. one or two float32 ulps, while training moves the weights by 0.18.
`ATOL = 1e-5` leaves ~80x headroom over that noise and is thousands of
times smaller than the effect of dropout, another batch split or another
data order.
"""

import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import safetensors.numpy
from keras_hub.models import BertTokenizer

from keras_adapters.artifacts import save_adapters
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertQuestionAnswerer
from keras_adapters.models import AdapterBertQuestionAnswererPreprocessor
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.models import AdapterBertTextClassifierPreprocessor
from keras_adapters.models.artifact import WEIGHTS_FILE
from keras_adapters.training.callbacks import read_step_log
from keras_adapters.training.checkpoints import CheckpointFolder
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB
from tests.training.once import once

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "distributed_worker.py")
RUN_CLASSIFIER = os.path.join(REPO_ROOT, "run_classifier.py")

TRAIN_EXAMPLES = 64
DEV_EXAMPLES = 21
BATCH = 8
NUM_STEPS = TRAIN_EXAMPLES // BATCH  # One epoch.
ADAPTER_SIZE = 4
# Float32 summation-order noise only; see the module docstring.
ATOL = 1e-5
TIMEOUT = 240  # Seconds per process (a run takes 10-40 s on 2 cores).


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A tiny adapter-classifier preset (head dropout 0) and CoLA files,
    the same for every xdist worker.

    Returns:
        A dict: `root`, `config` (the `ClassifierRunConfig` fields, without
        `output_dir`), and `initial` (the initial trained variables).
    """
    root, config = once(tmp_path_factory, "distributed_job", _write_job)
    return dict(
        root=str(root),
        config=config,
        initial=safetensors.numpy.load_file(
            os.path.join(root, "initial", WEIGHTS_FILE)
        ),
    )


def _write_job(root):
    """Writes the files of `job` into `root`; returns the config."""
    root = str(root)
    keras.utils.set_random_seed(7)
    classifier = AdapterBertTextClassifier(
        backbone=AdapterBertBackbone(
            **TINY_CONFIG, adapter_size=ADAPTER_SIZE, dropout=0.0
        ),
        preprocessor=AdapterBertTextClassifierPreprocessor(
            tokenizer=BertTokenizer(vocabulary=TINY_VOCAB)
        ),
        num_classes=2,
        dropout=0.0,
    )
    preset = os.path.join(root, "preset")
    classifier.save_to_preset(preset)
    initial = os.path.join(root, "initial")
    save_adapters(classifier, initial)

    rng = np.random.default_rng(0)
    words = TINY_VOCAB[5:]
    data_dir = os.path.join(root, "CoLA")
    os.makedirs(data_dir)
    for split, count in (("train", TRAIN_EXAMPLES), ("dev", DEV_EXAMPLES)):
        with open(os.path.join(data_dir, f"{split}.tsv"), "w") as handle:
            for _ in range(count):
                words_ = rng.choice(words, rng.integers(3, 13))
                label = int(bool({"good", "great", "fine"} & set(words_)))
                # CoLA: no header; source, label, mark, sentence.
                handle.write(f"gj04\t{label}\t\t{' '.join(words_)}\n")
    config = dict(
        task_name="CoLA",
        data_dir=data_dir,
        preset=preset,
        max_seq_length=16,
        train_batch_size=BATCH,
        eval_batch_size=BATCH,
        num_train_epochs=1.0,
        learning_rate=1e-2,
        adapter_size=ADAPTER_SIZE,
        do_train=True,
        do_eval=True,
        verbose=0,
        mixed_precision="fp32",  # Float32 on any CPU; see ATOL.
    )
    return config


def _env(tf_config=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    env.pop("GLUE_DIR", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    )
    return env


def _tail(path, chars=4000):
    with open(path, errors="replace") as handle:
        return handle.read()[-chars:]


class Process:
    """A started subprocess whose stdout and stderr go to files."""

    def __init__(self, command, log_prefix, env):
        self.command = command
        self.stdout = log_prefix + ".out"
        self.stderr = log_prefix + ".err"
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            self.popen = subprocess.Popen(
                command, stdout=out, stderr=err, env=env, cwd=REPO_ROOT
            )

    def wait(self, timeout):
        """Waits; on timeout kills this process and fails with its stderr."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(
                f"{os.path.basename(self.command[1])} did not finish within "
                f"{timeout} s.\n--- stderr tail ---\n{_tail(self.stderr)}"
            )

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def describe(self):
        return (
            f"{' '.join(self.command[:2])} exited {self.popen.returncode}."
            f"\n--- stderr tail ---\n{_tail(self.stderr)}"
        )


def _run_worker(job, name, mode="default", extra=(), export=False):
    """One `distributed_worker.py` process; returns its summary. It writes
    a SavedModel only with `export`."""
    output_dir = os.path.join(job["root"], name)
    summary = output_dir + ".summary.json"
    config = dict(job["config"], output_dir=output_dir, do_export=export)
    process = Process(
        [
            sys.executable,
            WORKER,
            f"--mode={mode}",
            f"--config={json.dumps(config)}",
            f"--summary={summary}",
            *extra,
        ],
        output_dir,
        _env(),
    )
    assert process.wait(TIMEOUT) == 0, process.describe()
    with open(summary) as handle:
        return dict(json.load(handle), output_dir=output_dir)


def _adapter_weights(output_dir):
    return safetensors.numpy.load_file(
        os.path.join(output_dir, "adapters", WEIGHTS_FILE)
    )


def _loss_log(output_dir):
    steps, losses = read_step_log(os.path.join(output_dir, "train_log.tsv"))
    return steps, np.array(losses)


def _eval_results(output_dir):
    with open(os.path.join(output_dir, "eval_results.txt")) as handle:
        lines = [line.strip() for line in handle if line.strip()]
    return dict(line.split(" = ") for line in lines)


def _max_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.max(np.abs(a[key] - b[key]))) for key in a)


def _assert_same_training(run, reference, initial):
    """Same trained variables, loss curve and dev outputs, within ATOL."""
    weights = _adapter_weights(run["output_dir"])
    expected = _adapter_weights(reference["output_dir"])
    difference = _max_difference(weights, expected)
    moved = _max_difference(expected, initial)
    assert moved > 100 * ATOL, f"training barely moved the weights ({moved})"
    assert difference <= ATOL, (
        f"trained variables differ by {difference:.3g} (> {ATOL}); "
        f"training moved them by {moved:.3g}"
    )
    steps, losses = _loss_log(run["output_dir"])
    expected_steps, expected_losses = _loss_log(reference["output_dir"])
    assert steps == expected_steps == list(range(1, NUM_STEPS + 1))
    np.testing.assert_allclose(losses, expected_losses, rtol=0, atol=ATOL)
    np.testing.assert_allclose(
        run["dev_probabilities"],
        reference["dev_probabilities"],
        rtol=0,
        atol=ATOL,
    )
    assert run["results"]["global_step"] == NUM_STEPS
    assert run["results"]["eval_loss"] == pytest.approx(
        reference["results"]["eval_loss"], abs=ATOL
    )
    return difference


@pytest.fixture(scope="module")
def reference(job, tmp_path_factory):
    """The one-device (default strategy) run every other run must match
    (run once for all xdist workers)."""
    _, run = once(
        tmp_path_factory,
        "distributed_reference",
        lambda unused_folder: _run_worker(job, "default"),
    )
    assert run["strategy"] == "_DefaultDistributionStrategy"
    assert run["replicas"] == 1 and run["chief"]
    return run


# ------------------------------------------------------- MirroredStrategy


def test_mirrored_on_two_cpus_matches_the_default_strategy(job, reference):
    mirrored = _run_worker(job, "mirrored", mode="mirrored", export=True)
    assert mirrored["strategy"] == "MirroredStrategy"
    # The export works under the strategy too.
    assert os.path.isfile(
        os.path.join(mirrored["output_dir"], "export", "saved_model.pb")
    )
    assert not mirrored["multi_worker"]
    assert mirrored["replicas"] == 2
    difference = _assert_same_training(mirrored, reference, job["initial"])
    print(
        f"MirroredStrategy vs default: max |weight difference| {difference:.3g}"
    )


# -------------------------------------------- MultiWorkerMirroredStrategy


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_all(processes, grace=30):
    """Waits for all; once one fails, the others get `grace` seconds.

    A worker left alone blocks in its collectives until killed.
    """
    deadline = time.time() + TIMEOUT
    while any(process.popen.poll() is None for process in processes):
        failed = [p for p in processes if p.popen.poll() not in (None, 0)]
        if failed:
            deadline = min(deadline, time.time() + grace)
        if time.time() > deadline:
            for process in processes:
                process.kill()
            if not failed:
                pytest.fail(
                    f"The workers did not finish within {TIMEOUT} s.\n"
                    + "\n\n".join(p.describe() for p in processes)
                )
            return
        time.sleep(0.5)


def _run_two_workers(job, name, command):
    """Runs `command(index, output_dir)` as worker 0 and 1 of a cluster.

    Returns:
        (processes, output_dirs): both processes have exited.
    """
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes, output_dirs = [], []
    try:
        for index in range(2):
            # The non-chief gets its own folder: `is_chief()` decides what
            # it may write, and it must write no results.
            output_dir = os.path.join(job["root"], f"{name}_worker{index}")
            output_dirs.append(output_dir)
            processes.append(
                Process(
                    command(index, output_dir),
                    output_dir,
                    _env(
                        {
                            "cluster": cluster,
                            "task": {"type": "worker", "index": index},
                        }
                    ),
                )
            )
        _wait_all(processes)
    finally:
        for process in processes:
            process.kill()
    return processes, output_dirs


def _assert_chief_wrote_everything(chief_dir, worker_dir):
    results = _eval_results(chief_dir)
    assert int(results["global_step"]) == NUM_STEPS, results
    assert "eval_mcc" in results and "eval_loss" in results
    state, damaged = CheckpointFolder(
        os.path.join(chief_dir, "checkpoint"), {}
    ).latest()
    assert state.step == NUM_STEPS and not damaged
    for path in ("adapters", "export"):
        assert os.path.isdir(os.path.join(chief_dir, path)), path
    # One line per step: nothing else appended to the chief's log.
    assert _loss_log(chief_dir)[0] == list(range(1, NUM_STEPS + 1))
    written = []
    if os.path.isdir(worker_dir):
        written = sorted(os.listdir(worker_dir))
    for result in (
        "eval_results.txt",
        "eval_results.json",
        "checkpoint",
        "adapters",
        "export",
    ):
        assert result not in written, (
            f"the non-chief worker wrote {result}: {written}"
        )


def test_two_worker_run_classifier_completes(job):
    """`run_classifier.py` under a two-worker TF_CONFIG, as users run it.

    Expected: both workers exit 0, the chief (worker 0) writes the results
    of all NUM_STEPS steps, the other worker writes no results. Keras 3.15's
    `fit` needs `keras_adapters.training.keras_compat` for this, which
    `strategy_from_flags` applies; without it this test fails.
    """
    config = dict(job["config"])
    del config["verbose"]  # Not a flag of run_classifier.py.

    def command(index, output_dir):
        flags = [f"--{key}={value}" for key, value in config.items()]
        return [
            sys.executable,
            RUN_CLASSIFIER,
            *flags,
            f"--output_dir={output_dir}",
        ]

    processes, (chief_dir, worker_dir) = _run_two_workers(
        job, "run_classifier", command
    )
    codes = [process.popen.returncode for process in processes]
    if codes != [0, 0]:
        pytest.fail("\n\n".join(process.describe() for process in processes))
    _assert_chief_wrote_everything(chief_dir, worker_dir)


def test_two_workers_with_keras_workaround_match_one_device(job, reference):
    """The library's multi-worker behaviour, past the Keras 3 bugs.

    `distributed_worker.py --keras_mwms_workaround` patches the two Keras
    functions in the worker processes only. The global batch of 8 is split
    4 + 4 across the workers, so the result equals the one-device run.
    """

    def command(index, output_dir):
        config = dict(job["config"], output_dir=output_dir)
        return [
            sys.executable,
            WORKER,
            f"--config={json.dumps(config)}",
            f"--summary={output_dir}.summary.json",
            "--keras_mwms_workaround",
        ]

    processes, (chief_dir, worker_dir) = _run_two_workers(
        job, "workaround", command
    )
    for process in processes:
        assert process.popen.returncode == 0, process.describe()
    summaries = []
    for index, output_dir in enumerate((chief_dir, worker_dir)):
        with open(output_dir + ".summary.json") as handle:
            summary = dict(json.load(handle), output_dir=output_dir)
        assert summary["multi_worker"], summary["strategy"]
        assert summary["replicas"] == 2
        assert summary["chief"] == (index == 0)
        summaries.append(summary)
    _assert_chief_wrote_everything(chief_dir, worker_dir)
    difference = _assert_same_training(summaries[0], reference, job["initial"])
    # Both workers computed the same evaluation.
    assert summaries[1]["results"] == summaries[0]["results"]
    print(
        f"MultiWorkerMirroredStrategy vs default: max |weight difference| "
        f"{difference:.3g}"
    )


# ------------------------------------------------------------ SQuAD job


@pytest.fixture(scope="module")
def squad_job(tmp_path_factory):
    """A tiny adapter question answerer (dropout 0) and SQuAD-layout files
    whose answers are spans of random contexts."""
    root = str(tmp_path_factory.mktemp("distributed_squad"))
    keras.utils.set_random_seed(7)
    model = AdapterBertQuestionAnswerer(
        backbone=AdapterBertBackbone(
            **TINY_CONFIG, adapter_size=ADAPTER_SIZE, dropout=0.0
        ),
        preprocessor=AdapterBertQuestionAnswererPreprocessor(
            tokenizer=BertTokenizer(vocabulary=TINY_VOCAB),
            sequence_length=16,
            doc_stride=4,
            max_query_length=4,
        ),
    )
    # Small hidden states keep every (half-)batch gradient under the clip
    # norm of 1.0: clipping is per replica (as the original's TPU
    # optimizer), so a clipped step would differ between one device and
    # two replicas by design.
    for layer_norm in model.backbone.layer_norm_layers:
        layer_norm.gamma.assign(layer_norm.gamma * 0.05)
    preset = os.path.join(root, "preset")
    model.save_to_preset(preset)
    initial = os.path.join(root, "initial")
    save_adapters(model, initial)
    rng = np.random.default_rng(1)
    words = TINY_VOCAB[5:]

    def squad_file(name, count):
        paragraphs = []
        for i in range(count):
            context_words = list(rng.choice(words, rng.integers(3, 20)))
            first = int(rng.integers(0, len(context_words)))
            last = min(len(context_words), first + int(rng.integers(1, 4)))
            answer = " ".join(context_words[first:last])
            start = len(" ".join(context_words[:first])) + (1 if first else 0)
            paragraphs.append(
                {
                    "context": " ".join(context_words),
                    "qas": [
                        {
                            "id": f"{name}{i}",
                            "question": " ".join(rng.choice(words, 3)),
                            "answers": [
                                {"text": answer, "answer_start": start}
                            ],
                        }
                    ],
                }
            )
        path = os.path.join(root, f"{name}.json")
        with open(path, "w") as handle:
            json.dump(
                {"data": [{"title": name, "paragraphs": paragraphs}]}, handle
            )
        return path

    config = dict(
        preset=preset,
        max_seq_length=16,
        doc_stride=4,
        max_query_length=4,
        train_file=squad_file("train", 40),
        predict_file=squad_file("dev", 9),
        do_train=True,
        do_predict=True,
        train_batch_size=BATCH,
        predict_batch_size=BATCH,
        num_train_epochs=1.0,
        learning_rate=1e-2,
        adapter_size=ADAPTER_SIZE,
        verbose=0,
        mixed_precision="fp32",  # Float32 on any CPU; see ATOL.
    )
    return dict(
        root=root,
        config=config,
        initial=safetensors.numpy.load_file(
            os.path.join(initial, WEIGHTS_FILE)
        ),
    )


def test_squad_mirrored_on_two_cpus_matches_the_default_strategy(squad_job):
    extra = ("--job=squad",)
    reference = _run_worker(squad_job, "squad_default", extra=extra)
    mirrored = _run_worker(
        squad_job, "squad_mirrored", mode="mirrored", extra=extra
    )
    assert (
        mirrored["strategy"] == "MirroredStrategy" and mirrored["replicas"] == 2
    )
    weights = _adapter_weights(mirrored["output_dir"])
    expected = _adapter_weights(reference["output_dir"])
    # Adam divides each gradient by its own running norm, so the float32
    # summation-order noise of the small gradients here reaches ~3e-5 on
    # weights and logits after 9 steps (measured), while training moves the
    # weights by ~0.1: 1e-4 still rejects any real difference (clipping,
    # batch split, data order).
    tolerance = 1e-4
    assert _max_difference(expected, squad_job["initial"]) > 0.05
    assert _max_difference(weights, expected) <= tolerance
    steps, losses = _loss_log(mirrored["output_dir"])
    expected_steps, expected_losses = _loss_log(reference["output_dir"])
    assert (
        steps == expected_steps
        and len(steps) == reference["results"]["global_step"] > 0
    )
    np.testing.assert_allclose(losses, expected_losses, rtol=0, atol=tolerance)
    np.testing.assert_allclose(
        mirrored["dev_probabilities"],
        reference["dev_probabilities"],
        rtol=0,
        atol=tolerance,
    )
    assert mirrored["results"] == pytest.approx(reference["results"])
