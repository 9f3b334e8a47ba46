"""A whole AdapterHub CoLA training run, in this process (issue #17 item 5).

Runs with `.peer_venv/bin/python` (made by `benchmarks/peer_env.py`):
torch 2.13.0 CPU, adapters 1.3.0, transformers 4.57.6. The counterpart of
one `run_classifier.py` command in `train_variants.py`: load MiniLM, add
the adapters, tokenize CoLA, train `--epochs` epochs, score the dev file.

    .peer_venv/bin/python benchmarks/peer_train_run.py --epochs=3 \
        --precision=bf16 --seed=12345 --preset=$MINILM

The model is built as in `peer_adapterhub.py`: `BertAdapterModel` from the
MiniLM folder, `DoubleSeqBnConfig(reduction_factor=hidden/adapter_size,
non_linearity="gelu")` (Houlsby: after attention and after the
feedforward, as ours), a pooler + one dense layer head, `train_adapter`.
Training follows our README recipe where AdapterHub has the same knob:
`AdamW(lr, weight_decay=0.01)`, linear warm-up over the first 10 % of the
steps then linear decay to 0, gradient norm clipped to 1.0, batches of 32
shuffled and padded to their longest example (`DataCollatorWithPadding`,
AdapterHub's / transformers' default; no length grouping), the last
partial batch dropped (as ours: 267 steps per CoLA epoch).
`--precision=bf16` wraps the forward and the loss (training and dev) in
`torch.autocast("cpu", torch.bfloat16)`; `fp32` is AdapterHub's default.
Dev: file order, `--eval_batch` (8, as `run_classifier.py`'s default),
padded to each batch's longest.

Prints one line `RESULT {json}`: the seconds of each phase, the dev
Matthews correlation and accuracy, and `peak_rss_mb` (this process's
`ru_maxrss`). The parent times the whole process itself.
"""

import argparse
import math
import os
import sys
import time

START = time.perf_counter()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--learning_rate", type=float, default=3e-4)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--adapter_size", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--eval_batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument(
        "--max_train_examples", type=int, default=0, help="0: all"
    )
    parser.add_argument("--seed", type=int, default=12345)
    return parser.parse_args(argv)


ARGS = parse_args()
_common.set_thread_env(ARGS.threads)

import adapters  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peer_model import adapter_classifier  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(ARGS.threads)
IMPORT_SECONDS = time.perf_counter() - START


def build_model(args, preset):
    return adapter_classifier(preset, args.adapter_size, args.seed)


def autocast(args):
    if args.precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def matthews(labels, predictions):
    tp = sum(1 for y, p in zip(labels, predictions) if y == 1 and p == 1)
    tn = sum(1 for y, p in zip(labels, predictions) if y == 0 and p == 0)
    fp = sum(1 for y, p in zip(labels, predictions) if y == 0 and p == 1)
    fn = sum(1 for y, p in zip(labels, predictions) if y == 1 and p == 0)
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator else 0.0


def linear_schedule(total_steps, warmup_steps):
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(
            0.0, (total_steps - step) / max(1, total_steps - warmup_steps)
        )

    return factor


def train(args, model, tokenizer):
    sentences, labels = _common.read_cola(
        args.glue_dir, "train", args.max_train_examples or None
    )
    encoded = tokenizer(sentences, truncation=True, max_length=args.seq)
    features = [
        {key: encoded[key][i] for key in encoded} | {"labels": labels[i]}
        for i in range(len(sentences))
    ]
    generator = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(
        features,
        batch_size=args.batch,
        shuffle=True,
        drop_last=True,
        collate_fn=transformers.DataCollatorWithPadding(tokenizer),
        generator=generator,
    )
    steps_per_epoch = len(loader)
    total_steps = max(1, int(steps_per_epoch * args.epochs))
    warmup_steps = max(1, int(total_steps * args.warmup_proportion))
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trained, lr=args.learning_rate, weight_decay=0.01
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(total_steps, warmup_steps)
    )
    model.train()
    step, loss, first_step_done = 0, None, None
    while step < total_steps:
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            with autocast(args):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if first_step_done is None:
                first_step_done = time.perf_counter()
            if step >= total_steps:
                break
    return {
        "train_examples": len(sentences),
        "steps": step,
        "steps_per_epoch": steps_per_epoch,
        "trained_parameters": sum(p.numel() for p in trained),
        "final_loss": round(float(loss.item()), 4),
        "first_step_done": first_step_done,
    }


def evaluate(args, model, tokenizer):
    sentences, labels = _common.read_cola(args.glue_dir, "dev")
    model.eval()
    predictions = []
    with torch.inference_mode():
        for i in range(0, len(sentences), args.eval_batch):
            inputs = tokenizer(
                sentences[i : i + args.eval_batch],
                padding=True,
                truncation=True,
                max_length=args.seq,
                return_tensors="pt",
            )
            with autocast(args):
                logits = model(**inputs).logits
            predictions.extend(logits.argmax(-1).tolist())
    correct = sum(1 for y, p in zip(labels, predictions) if y == p)
    return {
        "dev_examples": len(labels),
        "eval_mcc": matthews(labels, predictions),
        "eval_accuracy": correct / len(labels),
    }


def main(args):
    preset = args.preset or _common.minilm_folder()
    rss_after_import = _common.current_rss_mb()
    mark = time.perf_counter()
    model = build_model(args, preset)
    tokenizer = transformers.AutoTokenizer.from_pretrained(preset)
    built = time.perf_counter()
    trained = train(args, model, tokenizer)
    train_end = time.perf_counter()
    scores = evaluate(args, model, tokenizer)
    end = time.perf_counter()
    first_step = trained.pop("first_step_done") or train_end
    _common.emit(
        {
            "side": "adapterhub",
            "precision": args.precision,
            "autocast": "bfloat16" if args.precision == "bf16" else None,
            "seed": args.seed,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "padding": "shuffled batches padded to their longest example "
            "(DataCollatorWithPadding)",
            **trained,
            **scores,
            "import_seconds": round(IMPORT_SECONDS, 2),
            "build_seconds": round(built - mark, 2),
            "train_seconds": round(train_end - built, 2),
            "to_first_step_seconds": round(first_step - built, 2),
            "steps_seconds": round(train_end - first_step, 2),
            "eval_seconds": round(end - train_end, 2),
            "in_process_seconds": round(end - START, 2),
            "rss_after_import_mb": rss_after_import,
            "versions": {
                "torch": torch.__version__,
                "adapters": adapters.__version__,
                "transformers": transformers.__version__,
            },
        }
    )


if __name__ == "__main__":
    main(ARGS)
