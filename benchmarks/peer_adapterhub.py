"""One measurement of the PyTorch peer, AdapterHub `adapters`, in this process.

Runs with `.peer_venv/bin/python` (made by `benchmarks/peer_env.py`):
torch 2.13.0 CPU, adapters 1.3.0, transformers 4.57.6. The counterpart of
`ours_keras.py`: same flags, same `RESULT {json}` fields.

    .peer_venv/bin/python benchmarks/peer_adapterhub.py --measure=train_step \
        --adapter_size=64 --seq=128 --batch=32 --steps=20 --warmup=3

The model is the same MiniLM folder, loaded as AdapterHub's
`BertAdapterModel` with a Houlsby adapter, `DoubleSeqBnConfig(
reduction_factor=hidden/adapter_size, non_linearity="gelu")` (after the
attention block and after the feedforward, as ours), and a head like ours
(pooler + one dense layer: `layers=1, use_pooler=True`). `train_adapter`
freezes the rest; the pooler stays frozen as in ours. `--adapter_size=0`
adds no adapter (the plain backbone); `--mode=full` trains everything.
Optimizer: `torch.optim.AdamW(lr=1e-3, weight_decay=0.01)`.

Measures:
  train_step  forward, backward and optimizer step on one synthetic
              full-length batch (the batch of `ours_keras.py`).
  epoch       one CoLA epoch: shuffled batches padded to their longest
              example (`DataCollatorWithPadding`), no length grouping.
  inference   forward of the synthetic batch under `torch.inference_mode`.
  profile     self time per ATen op of --steps training steps after
              --warmup, from `torch.profiler`.
  matmul      float32 `torch.matmul` rate.
  serve       CoLA dev sentences, tokenizer (padding to the batch's
              longest) plus forward, in file order.
"""

import argparse
import os
import sys
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
            "serve",
            "profile",
        ),
    )
    parser.add_argument(
        "--mode", default="adapters", choices=("adapters", "full")
    )
    parser.add_argument("--adapter_size", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--max_examples", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--matmul_n", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


ARGS = parse_args()
_common.set_thread_env(ARGS.threads)

import adapters  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peer_model import adapter_classifier  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(ARGS.threads)

# Libraries imported, nothing built yet: the runtime's own share of the RSS.
RSS_AFTER_IMPORT_MB = _common.current_rss_mb()


def versions():
    return {
        "torch": torch.__version__,
        "adapters": adapters.__version__,
        "transformers": transformers.__version__,
    }


def build_model(args):
    preset = args.preset or _common.minilm_folder()
    model = adapter_classifier(
        preset,
        args.adapter_size,
        args.seed,
        train_adapter=args.mode == "adapters",
    )
    hidden = model.config.hidden_size
    trained = [p for p in model.parameters() if p.requires_grad]
    info = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained_parameters": sum(p.numel() for p in trained),
        "attention": model.config._attn_implementation,
        "adapter_config": f"DoubleSeqBnConfig(reduction_factor="
        f"{hidden // args.adapter_size}, non_linearity="
        f"'gelu')"
        if args.adapter_size
        else None,
    }
    return model, trained, info


def synthetic_batch(args):
    rows, labels = _common.random_batch(args.batch, args.seq, args.seed)
    ids = torch.tensor(rows, dtype=torch.long)
    return {
        "input_ids": ids,
        "token_type_ids": torch.zeros_like(ids),
        "attention_mask": torch.ones_like(ids),
        "labels": torch.tensor(labels, dtype=torch.long),
    }


def train_step(model, optimizer, batch):
    optimizer.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    return loss


def optimizer_for(trained):
    return torch.optim.AdamW(trained, lr=1e-3, weight_decay=0.01)


def measure_train_step(args):
    model, trained, info = build_model(args)
    model.train()
    optimizer = optimizer_for(trained)
    batch = synthetic_batch(args)
    seconds = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        train_step(model, optimizer, batch)
        if step >= args.warmup:
            seconds.append(time.perf_counter() - start)
    result = _common.step_stats(seconds, args.batch)
    mode = args.mode if args.adapter_size else "full"
    flops = _common.training_flops(
        args.batch, args.seq, mode, args.adapter_size
    )
    result["flops_per_step"] = flops
    result["achieved_gflops_per_second"] = round(
        flops["total"] / result["step_seconds_median"] / 1e9, 2
    )
    return {**info, **result}


def measure_profile(args):
    model, trained, info = build_model(args)
    model.train()
    optimizer = optimizer_for(trained)
    batch = synthetic_batch(args)
    for _ in range(args.warmup):
        train_step(model, optimizer, batch)
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU]
    ) as profile:
        start = time.perf_counter()
        for _ in range(args.steps):
            train_step(model, optimizer, batch)
        wall = time.perf_counter() - start
    seconds, calls = {}, {}
    for op in profile.key_averages():
        seconds[op.key] = op.self_cpu_time_total * 1e-6
        calls[op.key] = op.count
    return {**info, **_common.profile_summary(seconds, calls, args.steps, wall)}


def tokenizer_for(args):
    preset = args.preset or _common.minilm_folder()
    return transformers.AutoTokenizer.from_pretrained(preset)


def measure_epoch(args):
    model, trained, info = build_model(args)
    model.train()
    optimizer = optimizer_for(trained)
    tokenizer = tokenizer_for(args)
    sentences, labels = _common.read_cola(
        args.glue_dir, "train", args.max_examples
    )
    encoded = tokenizer(sentences, truncation=True, max_length=args.seq)
    features = [
        {key: encoded[key][i] for key in encoded} | {"labels": labels[i]}
        for i in range(len(sentences))
    ]
    collator = transformers.DataCollatorWithPadding(tokenizer)
    generator = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(
        features,
        batch_size=args.batch,
        shuffle=True,
        drop_last=True,
        collate_fn=collator,
        generator=generator,
    )
    widths, step_seconds = [], []
    start = time.perf_counter()
    mark = start
    for batch in loader:
        widths.append(batch["input_ids"].shape[1])
        loss = train_step(model, optimizer, batch)
        now = time.perf_counter()
        step_seconds.append(now - mark)
        mark = now
    seconds = time.perf_counter() - start
    steps = len(widths)
    return {
        **info,
        "examples": len(sentences),
        "padding": "shuffled batches padded to their longest example "
        "(DataCollatorWithPadding)",
        "steps": steps,
        "epoch_seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / steps, 4),
        "slowest_step_seconds": round(max(step_seconds), 2),
        "mean_padded_width": round(sum(widths) / steps, 1),
        "mean_tokens": round(
            sum(len(ids) for ids in encoded["input_ids"]) / len(sentences), 1
        ),
        "final_loss": round(loss.item(), 4),
    }


def measure_inference(args):
    model, _, info = build_model(args)
    model.eval()
    batch = synthetic_batch(args)
    del batch["labels"]
    with torch.inference_mode():
        seconds = _common.timed(lambda: model(**batch), args.warmup, args.steps)
    return {**info, **_common.inference_stats(seconds, args)}


def measure_matmul(args):
    def multiply(m, k, n):
        a, b = torch.randn(m, k), torch.randn(k, n)
        return lambda: torch.matmul(a, b)

    return _common.matmul_rates(args, multiply)


def measure_serve(args):
    model, _, info = build_model(args)
    model.eval()
    tokenizer = tokenizer_for(args)
    sentences, _ = _common.read_cola(args.glue_dir, "dev", args.max_examples)
    batches = [
        sentences[i : i + args.batch]
        for i in range(0, len(sentences), args.batch)
    ]

    def run_pass(chunks):
        with torch.inference_mode():
            for chunk in chunks:
                inputs = tokenizer(
                    chunk,
                    padding=True,
                    truncation=True,
                    max_length=args.seq,
                    return_tensors="pt",
                )
                model(**inputs).logits.softmax(-1)

    run_pass(batches)  # untimed, as ours (which traces there)
    seconds = []
    for _ in range(max(args.repeats, 1)):
        start = time.perf_counter()
        run_pass(batches)
        seconds.append(time.perf_counter() - start)
    seconds_sorted = sorted(seconds)
    median = seconds_sorted[len(seconds) // 2]
    return {
        **info,
        "variant": "tokenizer + forward",
        "padding": "each batch padded to its longest example",
        "sentences": len(sentences),
        "untimed_passes": 1,
        "passes": len(seconds),
        "pass_seconds": [round(s, 3) for s in seconds],
        "sentences_per_second": round(len(sentences) / median, 2),
    }


MEASURES = {
    "train_step": measure_train_step,
    "epoch": measure_epoch,
    "inference": measure_inference,
    "matmul": measure_matmul,
    "serve": measure_serve,
    "profile": measure_profile,
}


def main(args):
    config = {
        key: getattr(args, key)
        for key in ("mode", "adapter_size", "seq", "batch", "threads")
    }
    result = {
        "side": "adapterhub",
        "measure": args.measure,
        "config": config,
        **MEASURES[args.measure](args),
        "rss_after_import_mb": RSS_AFTER_IMPORT_MB,
        "versions": versions(),
    }
    _common.emit(result)


if __name__ == "__main__":
    main(ARGS)
