"""Training-step speed and peak memory of keras_adapters by tuning mode.

For every sequence length and mode (adapters at m = 8, 64, 256; `full`
and `layer_norm` on the plain BERT, adapter_size 0), one process of
`ours_keras.py --measure=train_step` trains MiniLM-L6 on a synthetic
full-length batch: median and quartiles of the step time after warm-up,
examples/s, the process's peak RSS, the estimated FLOPs of a step (formula:
`_common.training_flops`) and their rate as a fraction of a float32 matmul
rate measured by TensorFlow, on the same threads, before and after the
configurations. `--levers` adds adapters-64 runs at the first sequence
length with one setting changed each: XLA (`jit_compile`), no dropout,
`steps_per_execution=4`, one inter-op thread.

    python benchmarks/train_step_speed.py --levers

Writes benchmarks/results/train_step_speed.json (`--quick`: a smoke test,
3 timed steps, results under /tmp/keras_adapters_bench).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

OURS = os.path.join(_common.HERE, "ours_keras.py")
MODES = "adapters-8,adapters-64,adapters-256,full,layer_norm"
LEVERS = (
    ("xla", {"jit_compile": True}),
    ("no_dropout", {"no_dropout": True}),
    ("steps_per_execution_4", {"steps_per_execution": 4}),
    ("inter_op_1", {"inter_op": 1}),
)


def parse_mode(text):
    """`adapters-64` -> (`adapters`, 64); `full` -> (`full`, 0)."""
    mode, _, size = text.partition("-")
    if mode not in ("adapters", "full", "layer_norm"):
        sys.exit(
            f"train_step_speed: unknown mode '{text}' in --modes; use "
            f"e.g. {MODES}."
        )
    if mode == "adapters" and not size.isdigit():
        sys.exit(
            f"train_step_speed: '{text}': give the adapter size as "
            "adapters-M, e.g. adapters-64."
        )
    return mode, int(size) if mode == "adapters" else 0


def run_ours(args, options):
    argv = [sys.executable, OURS] + _common.child_flags(
        {
            "batch": args.batch,
            "steps": args.steps,
            "warmup": args.warmup,
            "threads": args.threads,
            "preset": args.preset,
            **options,
        }
    )
    label = " ".join(a for a in argv[2:] if not a.startswith("--preset"))
    print(f"-> {label}", flush=True)
    result = _common.run_child(argv)
    print(f"   {summary_line(result)}", flush=True)
    return result


def summary_line(result):
    if "error" in result:
        return "ERROR " + result["error"]
    if "square" in result:
        return f"matmul {result['square']['gflops_per_second']} GFLOP/s"
    return (
        f"{result['step_seconds_median']} s/step, "
        f"{result['examples_per_second']} ex/s, "
        f"{result['peak_rss_mb']} MiB"
    )


def reference_rate(before, after):
    """The higher of the two matmul shapes' rates, mean of both runs."""
    means = []
    for shape in ("square", "feedforward"):
        rates = [
            r[shape]["gflops_per_second"] for r in (before, after) if shape in r
        ]
        if rates:
            means.append(sum(rates) / len(rates))
    return max(means) if means else float("nan")


def add_fractions(run, matmul_gflops):
    if "achieved_gflops_per_second" not in run:
        return
    run["fraction_of_matmul_rate"] = round(
        run["achieved_gflops_per_second"] / matmul_gflops, 3
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    _common.add_common_flags(parser)
    parser.add_argument("--modes", default=MODES)
    parser.add_argument(
        "--jit_compile", action="store_true", help="XLA for every configuration"
    )
    parser.add_argument(
        "--levers",
        action="store_true",
        help="also measure XLA, dropout, steps_per_execution "
        "and thread settings on adapters-64",
    )
    args = _common.apply_quick(parser.parse_args())
    args.preset = args.preset or _common.minilm_folder()
    seqs = _common.int_list(args.seq)
    matmul_n = 512 if args.quick else 2048
    before = run_ours(
        args, {"measure": "matmul", "matmul_n": matmul_n, "seq": seqs[0]}
    )
    runs = []
    for seq in seqs:
        for text in args.modes.split(","):
            mode, size = parse_mode(text)
            options = {
                "measure": "train_step",
                "seq": seq,
                "mode": mode,
                "adapter_size": size,
                "jit_compile": args.jit_compile,
            }
            runs.append({"name": text, **run_ours(args, options)})
    if args.levers:
        for name, lever in LEVERS:
            options = {
                "measure": "train_step",
                "seq": seqs[0],
                "mode": "adapters",
                "adapter_size": 64,
                **lever,
            }
            runs.append(
                {"name": f"adapters-64 {name}", **run_ours(args, options)}
            )
    after = run_ours(
        args, {"measure": "matmul", "matmul_n": matmul_n, "seq": seqs[0]}
    )
    matmul_gflops = reference_rate(before, after)
    versions = next((r["versions"] for r in runs if "versions" in r), None)
    for run in runs + [before, after]:
        run.pop("versions", None)
        add_fractions(run, matmul_gflops)
    result = {
        "benchmark": "training step of MiniLM-L6 (BERT, 6 layers, hidden "
        "384), synthetic full-length batch, by tuning mode",
        "command": _common.command_line(),
        "machine": _common.machine(),
        "versions": versions,
        "settings": {
            "batch": args.batch,
            "seq": seqs,
            "timed_steps": args.steps,
            "warmup_steps": args.warmup,
            "threads": args.threads,
            "optimizer": "AdamWeightDecay(1e-3)",
            "full and layer_norm": "plain BERT (adapter_size 0)",
            "peak_rss": "ru_maxrss of the configuration's own process "
            "(model load, tracing and training)",
        },
        "flop_model": " ".join(_common.training_flops.__doc__.split()),
        "matmul_rate": {
            "before": before,
            "after": after,
            "reference_gflops_per_second": round(matmul_gflops, 2),
            "note": "reference = the higher of the square and the "
            "feedforward-shaped float32 matmul rates, each the mean "
            "of the runs before and after; fraction_of_matmul_rate "
            "= a step's estimated FLOPs / its median time / it",
        },
        "runs": runs,
        "adapter_to_full_step_time": ratios_to_full(runs, seqs),
        "lever_speedups": lever_speedups(runs, seqs[0]),
    }
    path = _common.results_path(args.out_dir, "train_step_speed.json")
    _common.write_json(path, result)


def ratios_to_full(runs, seqs):
    """Step time of each adapters-m run over `full` at the same length
    (target for adapters-64: <= 0.70)."""
    ratios = {}
    for seq in seqs:
        plain = [
            r for r in runs if "error" not in r and r["config"]["seq"] == seq
        ]
        full = next((r for r in plain if r["name"] == "full"), None)
        if full is None:
            continue
        for run in plain:
            if run["name"].startswith("adapters-") and " " not in run["name"]:
                ratios[f"{run['name']} seq {seq}"] = round(
                    run["step_seconds_median"] / full["step_seconds_median"],
                    3,
                )
    return ratios


def lever_speedups(runs, seq):
    """adapters-64 step time / the step time with one lever changed."""
    ok = [r for r in runs if "error" not in r and r["config"]["seq"] == seq]
    base = next((r for r in ok if r["name"] == "adapters-64"), None)
    if base is None:
        return {}
    return {
        r["name"].split(" ", 1)[1]: round(
            base["step_seconds_median"] / r["step_seconds_median"], 3
        )
        for r in ok
        if r["name"].startswith("adapters-64 ")
    }


if __name__ == "__main__":
    main()
