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

`--backends tensorflow,jax` (the default when JAX is installed, else
`tensorflow`) adds our side on Keras' JAX backend as a column of the same
run: `ours_keras.py` with `KERAS_BACKEND=jax` and `--jit_compile` (XLA;
JAX's eager mode is not a training path), pinned to `--threads` CPUs. The
order per round is then ours on TensorFlow, ours on JAX, theirs. The
TensorFlow side keeps the name `keras_adapters` and the `ours_*` fields;
the JAX side is `keras_adapters_jax` with `jax_*` fields.

    python benchmarks/compare_adapterhub.py

Creates `.peer_venv` when needed (`peer_env.py`). Writes
benchmarks/results/adapterhub_comparison.json and .md (`--quick`: a smoke
test, results under /tmp/keras_adapters_bench).
"""

import argparse
import importlib.util
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import peer_env  # noqa: E402

# side -> (interpreter, script, environment, extra flags)
SIDES = {
    "keras_adapters": (
        sys.executable,
        "ours_keras.py",
        {"KERAS_BACKEND": "tensorflow"},
        {},
    ),
    "keras_adapters_jax": (
        sys.executable,
        "ours_keras.py",
        {"KERAS_BACKEND": "jax"},
        {"jit_compile": True},
    ),
    "adapterhub": (_common.PEER_PYTHON, "peer_adapterhub.py", {}, {}),
}
BACKENDS = {"tensorflow": "keras_adapters", "jax": "keras_adapters_jax"}
# Our side -> the prefix of its fields in a summary row.
PREFIXES = {"keras_adapters": "ours", "keras_adapters_jax": "jax"}
PEER = "adapterhub"
# (name, key of the time compared, target ratio theirs/ours or None)
TARGETS = {"train_step": 1.25, "epoch": 2.0, "inference": None}


def default_backends():
    if importlib.util.find_spec("jax") is None:
        return "tensorflow"
    return "tensorflow,jax"


def sides_of(backends):
    """Our sides for `--backends`, then the peer."""
    names = [b.strip() for b in backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or not names:
        sys.stderr.write(
            f"compare_adapterhub: --backends takes {','.join(BACKENDS)}, "
            f"not {backends!r}.\n"
        )
        sys.exit(2)
    return [BACKENDS[b] for b in BACKENDS if b in names] + [PEER]


def run_side(side, args, options):
    python, script, env, flags = SIDES[side]
    argv = [python, os.path.join(_common.HERE, script)] + _common.child_flags(
        {
            "batch": args.batch,
            "threads": args.threads,
            "preset": args.preset,
            "adapter_size": args.adapter_size,
            **options,
            **flags,
        }
    )
    print(
        f"-> {side}: " + " ".join(f"{k}={v}" for k, v in options.items()),
        flush=True,
    )
    result = _common.run_child(argv, env={**os.environ, **env})
    result["side"] = side
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


def compare(name, runs, sides):
    """Median over rounds per side, and each of our sides' ratios."""
    medians = {}
    for side in sides:
        ok = [r for r in runs if r.get("side") == side and "error" not in r]
        if not ok:
            return {"name": name, "error": f"{side} failed in every round"}
        medians[side] = {
            "seconds": statistics.median(seconds_of(r) for r in ok),
            "peak_rss_mb": round(
                statistics.median(r["peak_rss_mb"] for r in ok), 1
            ),
            "rss_after_import_mb": ok[0].get("rss_after_import_mb"),
        }
    theirs = medians[PEER]
    measure = next(
        (r["measure"] for r in runs if "measure" in r), name.split()[0]
    )
    target = TARGETS.get(measure)
    row = {
        "name": name,
        "theirs_seconds": round(theirs["seconds"], 4),
        "speed_target": target,
        "theirs_peak_rss_mb": theirs["peak_rss_mb"],
        "theirs_rss_after_import_mb": theirs["rss_after_import_mb"],
    }
    for side in sides[:-1]:
        # The TensorFlow side keeps the field names it always had (`ours_`).
        ours, prefix = medians[side], PREFIXES[side]
        speedup = theirs["seconds"] / ours["seconds"]
        memory = ours["peak_rss_mb"] / theirs["peak_rss_mb"]
        row.update(
            {
                f"{prefix}_seconds": round(ours["seconds"], 4),
                f"speedup_theirs_over_{prefix}": round(speedup, 3),
                f"{prefix}_peak_rss_mb": ours["peak_rss_mb"],
                f"memory_{prefix}_over_theirs": round(memory, 3),
                f"{prefix}_rss_after_import_mb": ours["rss_after_import_mb"],
            }
        )
        met = None if target is None else speedup >= target
        if prefix == "ours":
            row["speed_target_met"] = met
            row["memory_target_met"] = memory <= 1.0
        else:
            row[f"{prefix}_speed_target_met"] = met
            row[f"{prefix}_memory_target_met"] = memory <= 1.0
    return row


def backend_fields(row, side):
    """`(seconds, speed-up, speed met, RSS, memory ratio, memory met)` of
    one of our sides in a summary row."""
    prefix = PREFIXES[side]
    met = (
        "speed_target_met" if prefix == "ours" else f"{prefix}_speed_target_met"
    )
    memory_met = (
        "memory_target_met"
        if prefix == "ours"
        else f"{prefix}_memory_target_met"
    )
    return (
        row[f"{prefix}_seconds"],
        row[f"speedup_theirs_over_{prefix}"],
        row[met],
        row[f"{prefix}_peak_rss_mb"],
        row[f"memory_{prefix}_over_theirs"],
        row[memory_met],
    )


def markdown(result):
    sides = result["settings"].get("sides", ["keras_adapters", PEER])
    ours_sides = [side for side in sides if side in PREFIXES]
    backend_names = {v: k for k, v in BACKENDS.items()}
    lines = [
        "# keras_adapters vs AdapterHub adapters 1.3.0 (MiniLM-L6, m=64)",
        "",
        f"Machine: {result['machine']['cpu']} "
        f"({_common.describe_features(result['machine'])}), "
        f"{result['machine']['cores']} cores; {result['settings']['threads']}"
        f" threads, batch {result['settings']['batch']}. Command: "
        f"`{result['command']}`.",
        "Speed-up = their time / ours (above 1: ours faster); memory = our "
        "peak RSS / theirs (at most 1: ours uses no more). Medians over "
        f"{result['settings']['rounds']} alternating rounds. Our backends: "
        + ", ".join(
            f"{backend_names[side]}"
            + (" (XLA, jit_compile)" if side == BACKENDS["jax"] else "")
            for side in ours_sides
        )
        + ".",
        "",
        "| measurement | our backend | ours (s) | theirs (s) | speed-up | "
        "target | ours RSS (MiB) | theirs RSS (MiB) | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        if "error" in row:
            lines.append(
                f"| {row['name']} | | error: {row['error']} | | | | | | |"
            )
            continue
        target = row["speed_target"]
        for side in ours_sides:
            seconds, speedup, speed_met, rss, ratio, memory_met = (
                backend_fields(row, side)
            )
            verdict = "met" if speed_met else "NOT met"
            met = "" if target is None else f">= {target}: {verdict}"
            memory = "met" if memory_met else "NOT met"
            lines.append(
                f"| {row['name']} | {backend_names[side]} | {seconds} | "
                f"{row['theirs_seconds']} | {speedup} | {met} | {rss} | "
                f"{row['theirs_peak_rss_mb']} | {ratio} (<= 1: {memory}) |"
            )
    rates = result["matmul_gflops_per_second"]
    imports = next((row for row in result["summary"] if "error" not in row), {})
    after_import = ", ".join(
        f"ours on {backend_names[side]} "
        f"{imports.get(PREFIXES[side] + '_rss_after_import_mb')}"
        for side in ours_sides
    )
    ours_rates = ", ".join(
        f"ours on {backend_names[side]} {rates.get(side)}"
        for side in ours_sides
    )
    lines += [
        "",
        "RSS right after the imports, before any model is built "
        f"(MiB): {after_import}, "
        f"theirs {imports.get('theirs_rss_after_import_mb')}.",
        "float32 matmul rate (GFLOP/s, square / feedforward "
        f"shape): {ours_rates}, theirs {rates.get(PEER)}.",
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
    parser.add_argument(
        "--backends",
        default=default_backends(),
        help="our Keras backends, comma separated: tensorflow,jax (default "
        "both when JAX is installed)",
    )
    args = _common.apply_quick(parser.parse_args())
    sides = sides_of(args.backends)
    if args.quick:
        args.rounds = min(args.rounds, 1)
        args.max_examples = args.max_examples or 128
    args.preset = args.preset or _common.minilm_folder()
    peer_env.ensure()
    matmul = {}
    for side in sides:
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
            for side in sides:
                result = run_side(side, args, options)
                result["name"] = name
                config_runs.append(result)
        runs += config_runs
        summary.append(compare(name, config_runs, sides))
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
            "sides": sides,
            "backends": [b for b, side in BACKENDS.items() if side in sides],
            "order": ", ".join(sides) + ", per round",
            "peer_adapter": "DoubleSeqBnConfig(reduction_factor=hidden/m, "
            "non_linearity='gelu'), head: pooler + dense, "
            "AdamW(1e-3, weight_decay=0.01)",
            "ours": "AdapterBertTextClassifier adapters mode, "
            "AdamWeightDecay(1e-3); on JAX with jit_compile=True",
        },
        "matmul_gflops_per_second": matmul,
        "summary": summary,
        "runs": runs,
    }
    _common.write_results(
        args.out_dir, "adapterhub_comparison", result, markdown
    )


if __name__ == "__main__":
    main()
