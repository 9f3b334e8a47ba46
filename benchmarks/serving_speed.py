"""Serving throughput on CoLA dev sentences, and the adapters' inference cost.

Sentences per second over the CoLA dev set (file order, batches of
`--batch`), each variant in its own process, for adapter size 64 and for
the plain backbone (adapter_size 0):

- `savedmodel`: our raw-string SavedModel
  (`keras_adapters.export.export_saved_model`), `serving_default(sentence=
  tf.constant([...]))`; tokenizer in the graph, each batch cut to its
  longest input.
- `predict_strings`: Keras `classifier.predict` on the raw strings
  (preprocessor in `tf.data`, padded to `--seq`).
- `predict_tokens`: Keras `predict` on pre-tokenized batches cut to their
  longest example (rounded up to 16), as `run_classifier.py` evaluates.
- `adapterhub`: the PyTorch peer, tokenizer (padding to the batch's
  longest) plus forward (`peer_adapterhub.py --measure=serve`; skipped
  with `--no_peer`).

The adapter inference overhead is, per variant, the plain backbone's
throughput over the adapter model's, minus 1 (target: at most 5 %).
Each process makes one untimed pass first (our variants trace every batch
shape there). Rounds alternate the variants and sizes; medians over rounds
are reported. `--steps` and `--warmup` are not used here.

    python benchmarks/serving_speed.py
    python benchmarks/serving_speed.py --variants savedmodel --rounds 3 \
        --out_dir DIR

Writes benchmarks/results/serving_speed.json (`--quick`: a smoke test on 64
sentences, results under /tmp/keras_adapters_bench).
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import peer_env  # noqa: E402

VARIANTS = ("savedmodel", "adapterhub", "predict_tokens", "predict_strings")
SIZES = (64, 0)


def run(args, variant, size, export_dirs, measure="serve"):
    options = {
        "measure": measure,
        "seq": args.seq,
        "batch": args.batch,
        "threads": args.threads,
        "preset": args.preset,
        "adapter_size": size,
        "repeats": args.repeats,
        "max_examples": args.max_examples,
    }
    if variant == "adapterhub":
        argv = [
            _common.PEER_PYTHON,
            os.path.join(_common.HERE, "peer_adapterhub.py"),
        ]
    else:
        argv = [sys.executable, os.path.join(_common.HERE, "ours_keras.py")]
        options.update(
            variant=variant,
            export_dir=export_dirs[size],
            mode="adapters" if size else "layer_norm",
        )
    print(f"-> {measure} {variant} adapter_size={size}", flush=True)
    result = _common.run_child(argv + _common.child_flags(options))
    if "error" in result:
        print(f"   ERROR {result['error']}", flush=True)
    elif measure == "serve":
        print(
            f"   {result['sentences_per_second']} sentences/s, "
            f"{result['peak_rss_mb']} MiB",
            flush=True,
        )
    result.update(name=variant, adapter_size=size)
    return result


def summarize(runs, variants):
    table = {}
    for variant in variants:
        row = {}
        for size in SIZES:
            rates = [
                r["sentences_per_second"]
                for r in runs
                if r["name"] == variant
                and r["adapter_size"] == size
                and "error" not in r
            ]
            rss = [
                r["peak_rss_mb"]
                for r in runs
                if r["name"] == variant
                and r["adapter_size"] == size
                and "error" not in r
            ]
            if rates:
                row[f"sentences_per_second_m{size}"] = statistics.median(rates)
                row[f"peak_rss_mb_m{size}"] = statistics.median(rss)
        if len(row) == 2 * len(SIZES):
            overhead = (
                row["sentences_per_second_m0"] / row["sentences_per_second_m64"]
                - 1
            )
            row["adapter_overhead"] = round(overhead, 4)
            row["adapter_overhead_target_met"] = overhead <= 0.05
        table[variant] = row
    peer = table.get("adapterhub", {}).get("sentences_per_second_m64")
    if peer:
        for variant, row in table.items():
            if "sentences_per_second_m64" in row and variant != "adapterhub":
                row["speedup_over_adapterhub_m64"] = round(
                    row["sentences_per_second_m64"] / peer, 3
                )
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    _common.add_common_flags(parser)
    parser.set_defaults(seq="128")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="timed passes over the sentences per process",
    )
    parser.add_argument(
        "--max_examples",
        type=int,
        default=None,
        help="dev sentences (default all 1,043)",
    )
    parser.add_argument("--no_peer", action="store_true")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated subset of " + ", ".join(VARIANTS),
    )
    parser.add_argument(
        "--export_root",
        default=None,
        help="where the SavedModels go (default a temp dir)",
    )
    args = _common.apply_quick(parser.parse_args())
    if args.quick:
        args.rounds, args.repeats = 1, 1
        args.max_examples = args.max_examples or 64
    args.seq = _common.int_list(args.seq)[0]
    args.preset = args.preset or _common.minilm_folder()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        sys.exit(
            f"serving_speed: unknown --variants {', '.join(unknown)}; "
            f"choose from {', '.join(VARIANTS)}."
        )
    if args.no_peer:
        variants = [v for v in variants if v != "adapterhub"]
    if "adapterhub" in variants:
        peer_env.ensure()
    root = args.export_root or tempfile.mkdtemp(prefix="serving_speed_")
    export_dirs = {size: os.path.join(root, f"m{size}") for size in SIZES}
    exports = [
        run(args, "savedmodel", size, export_dirs, measure="export")
        for size in SIZES
        if "savedmodel" in variants
    ]
    runs = []
    for _ in range(args.rounds):
        for size in SIZES:
            for variant in variants:
                runs.append(run(args, variant, size, export_dirs))
    versions = {}
    for result in runs + exports:
        versions.update(result.pop("versions", {}))
    result = {
        "benchmark": "serving CoLA dev sentences, MiniLM-L6, adapters m=64 "
        "vs the plain backbone (adapter_size 0)",
        "command": _common.command_line(),
        "machine": _common.machine(),
        "versions": versions,
        "settings": {
            "batch": args.batch,
            "seq": args.seq,
            "threads": args.threads,
            "rounds": args.rounds,
            "timed_passes_per_process": args.repeats,
            "untimed_passes_per_process": 1,
            "sentences": args.max_examples or "all CoLA dev",
            "weights": "pretrained MiniLM, adapters and head as initialized "
            "(throughput does not depend on training)",
        },
        "summary": summarize(runs, variants),
        "exports": exports,
        "runs": runs,
    }
    _common.write_json(
        _common.results_path(args.out_dir, "serving_speed.json"), result
    )
    for variant, row in result["summary"].items():
        print(variant, row)


if __name__ == "__main__":
    main()
