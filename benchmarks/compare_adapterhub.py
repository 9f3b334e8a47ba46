"""keras_adapters versus AdapterHub `adapters` (PyTorch), side by side.

The same MiniLM-L6 folder, Houlsby adapters of the same size (m = 64,
GELU, after attention and after the feedforward), the same batch, sequence
lengths and threads. Each measurement runs in a fresh process per side
(`ours_keras.py`, `peer_adapterhub.py` with `.peer_venv/bin/python`), the
two sides alternating: ours, theirs, ours, theirs, for `--rounds` rounds
per configuration. Measured:

- train step on a synthetic full-length batch, at each `--seq`;
- one CoLA training epoch: ours length-bucketed (the `run_classifier.py`
  pipeline), theirs shuffled and padded to each batch's longest example
  (`DataCollatorWithPadding`);
- inference (forward only) on the synthetic batch, at each `--seq`;
- peak RSS of every process; each library's float32 matmul rate.

Ratios are theirs / ours for times (above 1: ours is faster) and ours /
theirs for memory (at most 1: ours uses no more), from the median over
rounds.

    python benchmarks/compare_adapterhub.py

Creates `.peer_venv` when needed (`peer_env.py`). Writes
benchmarks/results/adapterhub_comparison.json and .md (`--quick`: a smoke
test, results under /tmp/keras_adapters_bench).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import peer_env  # noqa: E402

SIDES = {
    "keras_adapters": (sys.executable, "ours_keras.py"),
    "adapterhub": (_common.PEER_PYTHON, "peer_adapterhub.py"),
}
# (name, key of the time compared, target ratio theirs/ours or None)
TARGETS = {"train_step": 1.25, "epoch": 2.0, "inference": None}


def run_side(side, args, options):
    python, script = SIDES[side]
    argv = [python, os.path.join(_common.HERE, script)] + _common.child_flags(
        {
            "batch": args.batch,
            "threads": args.threads,
            "preset": args.preset,
            "adapter_size": args.adapter_size,
            **options,
        }
    )
    print(
        f"-> {side}: " + " ".join(f"{k}={v}" for k, v in options.items()),
        flush=True,
    )
    result = _common.run_child(argv)
    if "error" in result:
        print(f"   ERROR {result['error']}", flush=True)
    else:
        print(
            f"   {seconds_of(result):.4g} s, {result['peak_rss_mb']} MiB",
            flush=True,
        )
    return result


def seconds_of(result):
    """The time a measurement is compared by."""
    if result["measure"] == "epoch":
        return result["epoch_seconds"]
    if result["measure"] == "matmul":
        return result["square"]["seconds_median"]
    return result["step_seconds_median"]


def configurations(args):
    seqs = _common.int_list(args.seq)
    timing = {"steps": args.steps, "warmup": args.warmup}
    configs = [
        (
            f"train_step seq {seq}",
            {"measure": "train_step", "seq": seq, **timing},
        )
        for seq in seqs
    ]
    epoch = {"measure": "epoch", "seq": max(seqs)}
    if args.max_examples:
        epoch["max_examples"] = args.max_examples
    if not args.no_epoch:
        configs.append(("CoLA epoch", epoch))
    configs += [
        (f"inference seq {seq}", {"measure": "inference", "seq": seq, **timing})
        for seq in seqs
    ]
    return configs


def compare(name, runs):
    """Median over rounds per side, and the ratios."""
    sides = {}
    for side in SIDES:
        ok = [r for r in runs if r.get("side") == side]
        if not ok:
            return {"name": name, "error": "a side failed in every round"}
        sides[side] = {
            "seconds": statistics.median(seconds_of(r) for r in ok),
            "peak_rss_mb": round(
                statistics.median(r["peak_rss_mb"] for r in ok), 1
            ),
            "rss_after_import_mb": ok[0].get("rss_after_import_mb"),
        }
    ours, theirs = sides["keras_adapters"], sides["adapterhub"]
    measure = runs[0].get("measure") or name.split()[0]
    target = TARGETS.get(measure)
    speedup = theirs["seconds"] / ours["seconds"]
    memory = ours["peak_rss_mb"] / theirs["peak_rss_mb"]
    return {
        "name": name,
        "ours_seconds": round(ours["seconds"], 4),
        "theirs_seconds": round(theirs["seconds"], 4),
        "speedup_theirs_over_ours": round(speedup, 3),
        "speed_target": target,
        "speed_target_met": None if target is None else speedup >= target,
        "ours_peak_rss_mb": ours["peak_rss_mb"],
        "theirs_peak_rss_mb": theirs["peak_rss_mb"],
        "memory_ours_over_theirs": round(memory, 3),
        "ours_rss_after_import_mb": ours["rss_after_import_mb"],
        "theirs_rss_after_import_mb": theirs["rss_after_import_mb"],
        "memory_target_met": memory <= 1.0,
    }


def markdown(result):
    lines = [
        "# keras_adapters vs AdapterHub adapters 1.3.0 (MiniLM-L6, m=64)",
        "",
        f"Machine: {result['machine']['cpu']}, "
        f"{result['machine']['cores']} cores; {result['settings']['threads']}"
        f" threads, batch {result['settings']['batch']}. Command: "
        f"`{result['command']}`.",
        "Speed-up = their time / ours (above 1: ours faster); memory = our "
        "peak RSS / theirs (at most 1: ours uses no more). Medians over "
        f"{result['settings']['rounds']} alternating rounds.",
        "",
        "| measurement | ours (s) | theirs (s) | speed-up | target | "
        "ours RSS (MiB) | theirs RSS (MiB) | memory ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        if "error" in row:
            lines.append(
                f"| {row['name']} | error: {row['error']} | | | | | | |"
            )
            continue
        target = row["speed_target"]
        verdict = "met" if row["speed_target_met"] else "NOT met"
        met = "" if target is None else f">= {target}: {verdict}"
        memory = "met" if row["memory_target_met"] else "NOT met"
        lines.append(
            f"| {row['name']} | {row['ours_seconds']} | "
            f"{row['theirs_seconds']} | {row['speedup_theirs_over_ours']} | "
            f"{met} | {row['ours_peak_rss_mb']} | "
            f"{row['theirs_peak_rss_mb']} | "
            f"{row['memory_ours_over_theirs']} (<= 1: {memory}) |"
        )
    rates = result["matmul_gflops_per_second"]
    imports = next((row for row in result["summary"] if "error" not in row), {})
    lines += [
        "",
        "RSS right after the imports, before any model is built "
        f"(MiB): ours {imports.get('ours_rss_after_import_mb')}, "
        f"theirs {imports.get('theirs_rss_after_import_mb')}.",
        "float32 matmul rate (GFLOP/s, square / feedforward "
        f"shape): ours {rates.get('keras_adapters')}, theirs "
        f"{rates.get('adapterhub')}.",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    _common.add_common_flags(parser)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternating rounds per configuration",
    )
    parser.add_argument("--adapter_size", type=int, default=64)
    parser.add_argument(
        "--max_examples",
        type=int,
        default=None,
        help="CoLA training examples for the epoch (default all)",
    )
    parser.add_argument("--no_epoch", action="store_true")
    args = _common.apply_quick(parser.parse_args())
    if args.quick:
        args.rounds = min(args.rounds, 1)
        args.max_examples = args.max_examples or 128
    args.preset = args.preset or _common.minilm_folder()
    peer_env.ensure()
    matmul = {}
    for side in SIDES:
        run = run_side(
            side,
            args,
            {"measure": "matmul", "matmul_n": 512 if args.quick else 2048},
        )
        matmul[side] = [
            run.get(k, {}).get("gflops_per_second")
            for k in ("square", "feedforward")
        ]
    runs, summary = [], []
    for name, options in configurations(args):
        config_runs = []
        for _ in range(args.rounds):
            for side in SIDES:
                result = run_side(side, args, options)
                result["name"] = name
                config_runs.append(result)
        runs += config_runs
        summary.append(
            compare(name, [r for r in config_runs if "error" not in r])
        )
    versions = {}
    for run in runs:
        versions.update(run.pop("versions", {}))
    result = {
        "benchmark": "keras_adapters vs AdapterHub adapters (PyTorch), "
        "MiniLM-L6, Houlsby adapters",
        "command": _common.command_line(),
        "machine": _common.machine(),
        "versions": versions,
        "settings": {
            "batch": args.batch,
            "seq": _common.int_list(args.seq),
            "adapter_size": args.adapter_size,
            "threads": args.threads,
            "timed_steps": args.steps,
            "warmup_steps": args.warmup,
            "rounds": args.rounds,
            "order": "ours, theirs, per round",
            "peer_adapter": "DoubleSeqBnConfig(reduction_factor=hidden/m, "
            "non_linearity='gelu'), head: pooler + dense, "
            "AdamW(1e-3, weight_decay=0.01)",
            "ours": "AdapterBertTextClassifier adapters mode, "
            "AdamWeightDecay(1e-3)",
        },
        "matmul_gflops_per_second": matmul,
        "summary": summary,
        "runs": runs,
    }
    path = _common.results_path(args.out_dir, "adapterhub_comparison.json")
    _common.write_json(path, result)
    md_path = path[: -len(".json")] + ".md"
    with open(md_path, "w") as f:
        f.write(markdown(result))
    print(f"wrote {md_path}")
    print(markdown(result))


if __name__ == "__main__":
    main()
