"""AdapterHub serving four adapter tasks from one model (the peer side of
`multitask_serving.py`).

Runs with `.peer_venv/bin/python` (torch 2.13.0 CPU, adapters 1.3.0,
transformers 4.57.6) and prints one line `RESULT {json}`:

    .peer_venv/bin/python benchmarks/multitask_peer.py \
        --composition=batchsplit --work_dir=build/multitask_serving

One `BertAdapterModel` from the MiniLM folder with, per task, a Houlsby
adapter as ours (`DoubleSeqBnConfig(reduction_factor=hidden/64,
non_linearity="gelu")`: bottleneck 64 after attention and after the
feedforward) and a head like ours (pooler + one dense layer). Adapter and
head weights are random: this measures speed and memory only.

The batches are `multitask_serving.py`'s (`batches.json` in `--work_dir`),
raw strings in; tokenization (to the batch's longest example, at most
`--seq` tokens) is timed with the forward pass.

- `--composition=batchsplit`: the mixed batch sorted by task, run as
  `BatchSplit(*tasks, batch_sizes=counts)` (each adapter and head on its
  contiguous slice), the probabilities put back in batch order; plus each
  single-task batch with that task's adapter and head active.
- `--composition=parallel`: the mixed batch run as `Parallel(*tasks)`
  (every example through every adapter, the batch replicated per task);
  each example keeps the output of its own task's head.
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
        "--composition", required=True, choices=("batchsplit", "parallel")
    )
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--adapter_size", type=int, default=64)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


ARGS = parse_args()
_common.set_thread_env(ARGS.threads)

import json  # noqa: E402

import adapters  # noqa: E402
import adapters.composition as ac  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from adapters import AutoAdapterModel  # noqa: E402
from adapters import DoubleSeqBnConfig  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(ARGS.threads)
RSS_AFTER_IMPORT_MB = _common.current_rss_mb()


def build_model(args, batches):
    torch.manual_seed(args.seed)
    transformers.logging.set_verbosity_error()
    preset = args.preset or _common.minilm_folder()
    model = AutoAdapterModel.from_pretrained(preset)
    hidden = model.config.hidden_size
    config = DoubleSeqBnConfig(
        reduction_factor=hidden // args.adapter_size, non_linearity="gelu"
    )
    for task in batches["tasks"]:
        model.add_adapter(task, config=config)
        model.add_classification_head(
            task,
            num_labels=batches["num_labels"][task],
            layers=1,
            use_pooler=True,
        )
    model.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(preset)
    return model, tokenizer


class Encoder:
    """Tokenizes a batch mixing single sentences and pairs, padded to its
    longest example."""

    def __init__(self, tokenizer, pair, seq):
        self.tokenizer, self.pair, self.seq = tokenizer, pair, seq

    def __call__(self, tasks, sentences, sentences2):
        rows = [None] * len(tasks)
        for is_pair in (False, True):
            index = [i for i, t in enumerate(tasks) if self.pair[t] == is_pair]
            if not index:
                continue
            first = [sentences[i] for i in index]
            second = [sentences2[i] for i in index] if is_pair else None
            encoded = self.tokenizer(
                first, second, truncation=True, max_length=self.seq
            )
            for j, i in enumerate(index):
                rows[i] = (
                    encoded["input_ids"][j],
                    encoded["token_type_ids"][j],
                )
        width = max(len(ids) for ids, _ in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for i, (row_ids, row_types) in enumerate(rows):
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            types[i, : len(row_types)] = torch.tensor(row_types)
            mask[i, : len(row_ids)] = 1
        return {
            "input_ids": ids,
            "token_type_ids": types,
            "attention_mask": mask,
        }


def serve_batchsplit(model, encode, batch):
    """The mixed batch sorted by task, through `BatchSplit`, unsorted."""
    tasks = batch["task"]
    present = list(dict.fromkeys(sorted(tasks)))
    order = sorted(range(len(tasks)), key=lambda i: present.index(tasks[i]))
    sizes = [tasks.count(task) for task in present]
    inputs = encode(
        [tasks[i] for i in order],
        [batch["sentence"][i] for i in order],
        [batch["sentence2"][i] for i in order],
    )
    model.set_active_adapters(ac.BatchSplit(*present, batch_sizes=sizes))
    with torch.inference_mode():
        outputs = model(**inputs)
        # adapters 1.3.0 hands every `use_pooler` head the whole batch's
        # pooled output (`pooled_output` is not sliced per head): each head
        # returns every row; keep its own slice.
        ends = [sum(sizes[: i + 1]) for i in range(len(sizes))]
        probabilities = torch.cat(
            [
                head.logits[end - size : end].softmax(-1)
                for head, size, end in zip(outputs.head_outputs, sizes, ends)
            ]
        )
    restored = torch.empty_like(probabilities)
    restored[torch.tensor(order)] = probabilities
    return restored


def serve_parallel(model, encode, batch, task_index):
    """The mixed batch through `Parallel`: every adapter on every example;
    each example keeps its own task's head."""
    tasks = batch["task"]
    inputs = encode(tasks, batch["sentence"], batch["sentence2"])
    with torch.inference_mode():
        outputs = model(**inputs)
        logits = torch.stack([head.logits for head in outputs.head_outputs])
        own = torch.tensor([task_index[t] for t in tasks])
        return logits[own, torch.arange(len(tasks))].softmax(-1)


def serve_single(model, encode, task, batch):
    size = len(batch["sentence"])
    inputs = encode([task] * size, batch["sentence"], batch["sentence2"])
    model.set_active_adapters(task)
    with torch.inference_mode():
        return model(**inputs).logits.softmax(-1)


def main(args):
    with open(os.path.join(args.work_dir, "batches.json")) as handle:
        batches = json.load(handle)
    start = time.perf_counter()
    model, tokenizer = build_model(args, batches)
    load_seconds = time.perf_counter() - start
    rss_after_load = _common.current_rss_mb()
    encode = Encoder(tokenizer, batches["pair"], args.seq)
    mixed = batches["mixed"]
    calls = {}
    if args.composition == "batchsplit":
        calls["mixed"] = (
            lambda: serve_batchsplit(model, encode, mixed),
            len(mixed["task"]),
        )
        for task, batch in batches["single"].items():
            calls[f"{task}:signature"] = (
                lambda t=task, b=batch: serve_single(model, encode, t, b),
                len(batch["sentence"]),
            )
    else:
        task_index = {task: i for i, task in enumerate(batches["tasks"])}
        model.set_active_adapters(ac.Parallel(*batches["tasks"]))
        calls["mixed"] = (
            lambda: serve_parallel(model, encode, mixed, task_index),
            len(mixed["task"]),
        )
    timings = _common.time_batches(calls, args.warmup, args.repeats)
    # The padded width of each batch (untimed; the same tokenizer).
    timings["mixed"]["padded_width"] = encode(
        mixed["task"], mixed["sentence"], mixed["sentence2"]
    )["input_ids"].shape[1]
    for task, batch in batches["single"].items():
        if f"{task}:signature" in timings:
            size = len(batch["sentence"])
            timings[f"{task}:signature"]["padded_width"] = encode(
                [task] * size, batch["sentence"], batch["sentence2"]
            )["input_ids"].shape[1]
    _common.emit(
        {
            "variant": f"adapterhub_{args.composition}",
            "batches": timings,
            "load_seconds": round(load_seconds, 2),
            "rss_after_import_mb": RSS_AFTER_IMPORT_MB,
            "rss_after_load_mb": rss_after_load,
            "adapter_config": f"DoubleSeqBnConfig(reduction_factor="
            f"{model.config.hidden_size // args.adapter_size}, "
            "non_linearity='gelu')",
            "weights": "pretrained MiniLM, random adapters and heads",
            "versions": {
                "torch": torch.__version__,
                "adapters": adapters.__version__,
                "transformers": transformers.__version__,
            },
        }
    )


if __name__ == "__main__":
    main(ARGS)
