"""One measurement of keras_adapters (Keras 3 / TensorFlow) in this process.

With `KERAS_BACKEND=jax` the same measurements run on JAX (TensorFlow is
still imported: the input pipeline is tf.data); `compare_adapterhub.py`
runs it so for its JAX column, with `--jit_compile` (JAX's eager path is
not a training path). The process is pinned to `--threads` CPUs there (XLA's
CPU thread pool takes no thread count), training steps are timed once
their outputs exist (JAX dispatches ahead), and `matmul` is `jnp.matmul`.

The building block of `train_step_speed.py`, `compare_adapterhub.py` and
`serving_speed.py`, which run it once per configuration in a fresh process
so that its peak RSS belongs to that configuration alone. It prints one line
`RESULT {json}`; `peer_adapterhub.py` is its PyTorch counterpart, with the
same flags and the same result fields.

    python benchmarks/ours_keras.py --measure=train_step --mode=adapters \
        --adapter_size=64 --seq=128 --batch=32 --steps=20 --warmup=3

Measures:
  train_step  `fit` on one synthetic full-length batch repeated; per-step
              times from a callback (per execution / steps_per_execution).
  epoch       one CoLA training epoch, length-bucketed batches cut to their
              longest example (the `run_classifier.py` pipeline).
  inference   `predict_on_batch` on one synthetic full-length batch.
  profile     time per op type of --steps training steps after --warmup,
              from the TensorFlow profiler's trace (with --jit_compile:
              per kind of XLA instruction, fusions and dots).
  matmul      float32 `tf.matmul` rate (n x n x n, and the feedforward
              shape of the configuration).
  export      writes the raw-string SavedModel to --export_dir.
  serve       CoLA dev sentences through --variant: `savedmodel` (the
              exported raw-string signature), `predict_strings` (Keras
              `predict` on raw strings) or `predict_tokens` (Keras `predict`
              on pre-tokenized batches cut to their longest example).
"""

import argparse
import collections
import glob
import importlib
import math
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--measure",
        required=True,
        choices=(
            "train_step",
            "epoch",
            "inference",
            "matmul",
            "export",
            "serve",
            "profile",
        ),
    )
    parser.add_argument(
        "--mode", default="adapters", choices=("adapters", "full", "layer_norm")
    )
    parser.add_argument("--adapter_size", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--inter_op",
        type=int,
        default=None,
        help="inter-op threads (default: --threads)",
    )
    parser.add_argument("--jit_compile", action="store_true")
    parser.add_argument(
        "--no_dropout", action="store_true", help="set every Dropout rate to 0"
    )
    parser.add_argument("--steps_per_execution", type=int, default=1)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--max_examples", type=int, default=None)
    parser.add_argument(
        "--variant",
        default="savedmodel",
        choices=("savedmodel", "predict_strings", "predict_tokens"),
    )
    parser.add_argument("--export_dir", default=None)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed passes over the sentences (serve)",
    )
    parser.add_argument("--matmul_n", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


ARGS = parse_args()
_common.set_thread_env(ARGS.threads, ARGS.inter_op)
JAX = os.environ.get("KERAS_BACKEND") == "jax"
if JAX and ARGS.threads < len(os.sched_getaffinity(0)):
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: ARGS.threads])

# Every library is imported before RSS_AFTER_IMPORT_MB is read.
import keras  # noqa: E402
import keras_hub  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_adapters  # noqa: E402,F401

tf.config.threading.set_intra_op_parallelism_threads(ARGS.threads)
tf.config.threading.set_inter_op_parallelism_threads(
    ARGS.inter_op or ARGS.threads
)

from keras_adapters.data.encoding import encode_examples  # noqa: E402
from keras_adapters.data.glue import read_examples  # noqa: E402
from keras_adapters.models import AdapterBertTextClassifier  # noqa: E402
from keras_adapters.optimization import AdamWeightDecay  # noqa: E402
from keras_adapters.training import pipeline  # noqa: E402

# Libraries imported, nothing built yet: the runtime's own share of the RSS.
RSS_AFTER_IMPORT_MB = _common.current_rss_mb()


def build_classifier(args, with_preprocessor=False):
    keras.utils.set_random_seed(args.seed)
    preset = args.preset or _common.minilm_folder()
    kwargs = {} if with_preprocessor else {"preprocessor": None}
    model = AdapterBertTextClassifier.from_preset(
        preset,
        num_classes=2,
        adapter_size=args.adapter_size,
        tuning_mode=args.mode,
        **kwargs,
    )
    if with_preprocessor:
        model.preprocessor.sequence_length = args.seq
    dropouts = [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.Dropout)
    ]
    if args.no_dropout:
        for layer in dropouts:
            layer.rate = 0.0
    model.compile(
        optimizer=AdamWeightDecay(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[],
        jit_compile=args.jit_compile,
        steps_per_execution=args.steps_per_execution,
    )
    trained = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    info = {
        "parameters": int(model.count_params()),
        "trained_parameters": trained,
        "dropout_layers": len(dropouts),
        "jit_compile": bool(model.jit_compile),
    }
    return model, info


def synthetic_batch(args):
    rows, labels = _common.random_batch(args.batch, args.seq, args.seed)
    ids = tf.constant(rows, tf.int32)
    features = {
        "token_ids": ids,
        "segment_ids": tf.zeros_like(ids),
        "padding_mask": tf.ones_like(ids),
    }
    return features, tf.constant(labels, tf.int32)


class StepTimer(keras.callbacks.Callback):
    """Times every execution of the train function."""

    def __init__(self):
        super().__init__()
        self.marks = []

    def on_train_batch_begin(self, batch, logs=None):
        if not self.marks:
            self.marks.append(time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        if JAX:  # the step has been dispatched, not run: wait for it
            import jax

            jax.block_until_ready(
                (logs, getattr(self.model, "_jax_state", None))
            )
        self.marks.append(time.perf_counter())


def measure_train_step(args):
    model, info = build_classifier(args)
    spe = args.steps_per_execution
    skipped = math.ceil(args.warmup / spe)
    executions = skipped + math.ceil(args.steps / spe)
    data = tf.data.Dataset.from_tensors(synthetic_batch(args)).repeat()
    timer = StepTimer()
    model.fit(
        data,
        steps_per_epoch=executions * spe,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[timer],
    )
    deltas = np.diff(timer.marks) / spe
    result = _common.step_stats(list(deltas[skipped:]), args.batch)
    result["timed_steps"] = len(deltas[skipped:]) * spe
    result["first_execution_seconds"] = round(float(deltas[0] * spe), 2)
    flops = _common.training_flops(
        args.batch, args.seq, args.mode, args.adapter_size
    )
    result["flops_per_step"] = flops
    result["achieved_gflops_per_second"] = round(
        flops["total"] / result["step_seconds_median"] / 1e9, 2
    )
    return {**info, **result}


# Trace events of graph ops are named "<op name>:<op type>"; an XLA thunk
# "<HLO instruction>.<n>" is followed by an event "end: <same name>".
GRAPH_OP_EVENT = re.compile(r"^[^\s:]+:(_?[A-Z]\w*)$")
FUNCTION_CALL_OPS = ("StatefulPartitionedCall", "PartitionedCall")
XLA_THUNK_END = "end: "
INPUT_PIPELINE_THREADS = "tf_data"


def op_of(name, thunks):
    """The op type of a trace event's name, or None for bookkeeping."""
    if name in thunks:
        return re.sub(
            r"(_\d+)?(\.\d+)?$", "", name
        )  # "MatMul_1.12" -> "MatMul"
    match = GRAPH_OP_EVENT.match(name)
    if match and match.group(1) not in FUNCTION_CALL_OPS:
        return match.group(1)
    return None


def traced_op_times(logdir):
    """Self seconds and calls per op type (graph op type, or XLA instruction
    kind) in the profiler trace under `logdir`, on every thread but the
    input pipeline's (graph ops run on the executor's, XLA's on Eigen's);
    the time of an op nested in another (an XLA `call`) counts only for the
    inner one."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = glob.glob(
        os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")
    )
    space = xplane_pb2.XSpace()
    with open(path, "rb") as handle:
        space.ParseFromString(handle.read())
    seconds, calls = collections.Counter(), collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        thunks = {
            name[len(XLA_THUNK_END) :]
            for name in names.values()
            if name.startswith(XLA_THUNK_END)
        }
        for line in plane.lines:
            if line.name.startswith(INPUT_PIPELINE_THREADS):
                continue
            ops = sorted(
                (event.offset_ps, -event.duration_ps, op)
                for event in line.events
                for op in [op_of(names[event.metadata_id], thunks)]
                if op
            )
            open_ops = []  # [end_ps, op] of the ops enclosing the current one
            for start, minus_duration, op in ops:
                while open_ops and open_ops[-1][0] <= start:
                    open_ops.pop()
                if open_ops:
                    seconds[open_ops[-1][1]] += minus_duration * 1e-12
                seconds[op] -= minus_duration * 1e-12
                calls[op] += 1
                open_ops.append([start - minus_duration, op])
    return seconds, calls


def measure_profile(args):
    model, info = build_classifier(args)
    data = tf.data.Dataset.from_tensors(synthetic_batch(args)).repeat()
    model.fit(data, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory(
        prefix="keras_adapters_profile_"
    ) as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        seconds, calls = traced_op_times(logdir)
    return {**info, **_common.profile_summary(seconds, calls, args.steps, wall)}


def measure_epoch(args):
    model, info = build_classifier(args)
    preset = args.preset or _common.minilm_folder()
    examples = read_examples(
        "CoLA", os.path.join(args.glue_dir, "CoLA"), "train"
    )[: args.max_examples]
    preprocessor = AdapterBertTextClassifier.preset_preprocessor(preset)
    preprocessor.sequence_length = args.seq
    encoded = encode_examples(examples, preprocessor, "CoLA")
    steps = len(encoded) // args.batch
    plan = pipeline.plan_batches(
        encoded.lengths, args.batch, steps, args.seed, bucketed=True
    )
    widths = [
        min(args.seq, -(-int(encoded.lengths[row].max()) // 16) * 16)
        for row in plan
    ]
    timer = StepTimer()
    start = time.perf_counter()
    history = model.fit(
        pipeline.training_dataset(encoded, plan),
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[timer],
    )
    seconds = time.perf_counter() - start
    deltas = np.diff(timer.marks)
    return {
        **info,
        "examples": len(encoded),
        "padding": "length-bucketed, each batch cut to its longest "
        "example rounded up to 16",
        "steps": steps,
        "epoch_seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / steps, 4),
        "slowest_step_seconds": round(float(deltas.max()), 2),
        "mean_padded_width": round(float(np.mean(widths)), 1),
        "mean_tokens": round(float(encoded.lengths.mean()), 1),
        "final_loss": round(float(history.history["loss"][-1]), 4),
    }


def measure_inference(args):
    model, info = build_classifier(args)
    features, _ = synthetic_batch(args)
    seconds = _common.timed(
        lambda: model.predict_on_batch(features), args.warmup, args.steps
    )
    return {**info, **_common.inference_stats(seconds, args)}


def measure_matmul(args):
    if JAX:
        import jax
        import jax.numpy as jnp

        def multiply(m, k, n):
            key_a, key_b = jax.random.split(jax.random.key(args.seed))
            a = jax.random.normal(key_a, (m, k), jnp.float32)
            b = jax.random.normal(key_b, (k, n), jnp.float32)
            product = jax.jit(jnp.matmul)
            return lambda: product(a, b).block_until_ready()

        return _common.matmul_rates(args, multiply)

    def multiply(m, k, n):
        a = tf.random.normal([m, k], dtype=tf.float32)
        b = tf.random.normal([k, n], dtype=tf.float32)
        product = tf.function(tf.matmul)
        return lambda: product(a, b).numpy()

    return _common.matmul_rates(args, multiply)


def measure_export(args):
    from keras_adapters.export import export_saved_model

    model, info = build_classifier(args, with_preprocessor=True)
    start = time.perf_counter()
    export_saved_model(model, args.export_dir, sequence_length=args.seq)
    return {
        **info,
        "export_seconds": round(time.perf_counter() - start, 1),
        "export_dir": args.export_dir,
    }


def dev_sentences(args):
    examples = read_examples(
        "CoLA", os.path.join(args.glue_dir, "CoLA"), "dev"
    )[: args.max_examples]
    return examples


def timed_passes(run_pass, count, args):
    """One untimed pass (tracing every batch shape), then `args.repeats`
    timed passes over the `count` sentences."""
    run_pass()
    seconds = []
    for _ in range(max(args.repeats, 1)):
        start = time.perf_counter()
        run_pass()
        seconds.append(time.perf_counter() - start)
    median = float(np.median(seconds))
    return {
        "sentences": count,
        "untimed_passes": 1,
        "passes": len(seconds),
        "pass_seconds": [round(s, 3) for s in seconds],
        "sentences_per_second": round(count / median, 2),
    }


def serve_savedmodel(args, sentences):
    importlib.import_module("tensorflow_text")  # registers the tokenizer ops

    serve = tf.saved_model.load(args.export_dir).signatures["serving_default"]
    batches = [
        tf.constant(sentences[i : i + args.batch])
        for i in range(0, len(sentences), args.batch)
    ]

    def run_pass():
        for batch in batches:
            serve(sentence=batch)["probabilities"].numpy()

    return {
        "padding": f"static, {args.seq} (the exported preprocessor)",
        **timed_passes(run_pass, len(sentences), args),
    }


def serve_predict(args, examples):
    sentences = [example.text_a for example in examples]
    if args.variant == "predict_strings":
        model, info = build_classifier(args, with_preprocessor=True)
        padding = f"static, {args.seq} (the Keras preprocessor)"

        def run_pass():
            model.predict(sentences, batch_size=args.batch, verbose=0)
    else:
        model, info = build_classifier(args)
        preset = args.preset or _common.minilm_folder()
        preprocessor = AdapterBertTextClassifier.preset_preprocessor(preset)
        preprocessor.sequence_length = args.seq
        encoded = encode_examples(examples, preprocessor, "CoLA")
        dataset = pipeline.evaluation_dataset(encoded, args.batch)
        features = dataset.map(lambda x, y, w: x).cache()
        padding = "each batch cut to its longest example, rounded up to 16"

        def run_pass():
            model.predict(features, verbose=0)

    return {
        **info,
        "padding": padding,
        **timed_passes(run_pass, len(sentences), args),
    }


def measure_serve(args):
    examples = dev_sentences(args)
    if args.variant == "savedmodel":
        return serve_savedmodel(args, [e.text_a for e in examples])
    return serve_predict(args, examples)


MEASURES = {
    "train_step": measure_train_step,
    "epoch": measure_epoch,
    "inference": measure_inference,
    "matmul": measure_matmul,
    "export": measure_export,
    "serve": measure_serve,
    "profile": measure_profile,
}


def main(args):
    config = {
        key: getattr(args, key)
        for key in (
            "mode",
            "adapter_size",
            "seq",
            "batch",
            "threads",
            "jit_compile",
            "no_dropout",
            "steps_per_execution",
        )
    }
    config["inter_op"] = args.inter_op or args.threads
    config["backend"] = keras.config.backend()
    if args.measure == "serve":
        config["variant"] = args.variant
    result = {
        "side": "keras_adapters",
        "measure": args.measure,
        "config": config,
        **MEASURES[args.measure](args),
        "rss_after_import_mb": RSS_AFTER_IMPORT_MB,
        "versions": versions(),
    }
    _common.emit(result)


def versions():
    found = _common.keras_versions()
    if JAX:
        import jax

        found["jax"] = jax.__version__
    return found


if __name__ == "__main__":
    main(ARGS)
