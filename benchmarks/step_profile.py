"""Where the training step's time goes: keras_adapters vs AdapterHub, by op.

Profiles `--steps` adapter training steps (m = 64, batch 32, after
`--warmup` untimed ones) on each side in a fresh process: ours with the
TensorFlow profiler, with XLA (kinds of XLA instruction: dots, fusions,
copies) and without (TensorFlow op types), theirs with `torch.profiler` (ATen
ops). Each sums the self time of every op type and splits it into matrix
products, PyTorch's fused attention kernel and everything else (element-wise
work, reductions, copies, the optimizer). The profilers add their own cost
per op, so the per-step wall time here is above the unprofiled one of
`compare_adapterhub.py`.

    python benchmarks/step_profile.py [--seq 128,64]

Creates `.peer_venv` when needed (`peer_env.py`). Writes
benchmarks/results/step_profile.json and .md.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import peer_env  # noqa: E402

SIDES = {
    "keras_adapters, XLA": (
        sys.executable,
        "ours_keras.py",
        {"jit_compile": True},
    ),
    "keras_adapters, no XLA": (sys.executable, "ours_keras.py", {}),
    "adapterhub": (_common.PEER_PYTHON, "peer_adapterhub.py", {}),
}
CATEGORIES = ("matrix products", "fused attention", "other")


def profile_side(side, seq, args):
    python, script, options = SIDES[side]
    argv = [python, os.path.join(_common.HERE, script)] + _common.child_flags(
        {
            "measure": "profile",
            "seq": seq,
            "batch": args.batch,
            "steps": args.steps,
            "warmup": args.warmup,
            "threads": args.threads,
            "preset": args.preset,
            "adapter_size": 64,
            **options,
        }
    )
    print(f"-> {side}: seq {seq}", flush=True)
    result = _common.run_child(argv)
    if "error" in result:
        sys.exit(f"step_profile: {result['error']}")
    return result


def table(results):
    """Markdown: per-step seconds by category, both sides, each sequence."""
    lines = [
        "| seq | side | wall s/step (profiled) | op s/step | "
        + " | ".join(CATEGORIES)
        + " | op calls/step |",
        "|---|---|---|---|" + "---|" * len(CATEGORIES) + "---|",
    ]
    for seq, sides in results.items():
        for side, result in sides.items():
            shares = [
                result["by_category"].get(name, 0.0) for name in CATEGORIES
            ]
            lines.append(
                f"| {seq} | {side} | {result['wall_seconds_per_step']:.3f} | "
                f"{result['op_seconds_per_step']:.3f} | "
                + " | ".join(f"{value:.3f}" for value in shares)
                + f" | {result['op_calls_per_step']:.0f} |"
            )
    for seq, sides in results.items():
        for side, result in sides.items():
            lines += [
                "",
                f"Slowest ops, {side}, seq {seq} (s/step, calls/step): "
                + ", ".join(
                    f"`{op}` {sec:.3f} ({calls:.0f})"
                    for op, sec, calls in result["top_ops"][:8]
                ),
            ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    _common.add_common_flags(parser, steps=5, warmup=3)
    args = _common.apply_quick(parser.parse_args())
    args.preset = args.preset or _common.minilm_folder()
    peer_env.ensure()
    results = {}
    for seq in _common.int_list(args.seq):
        results[seq] = {side: profile_side(side, seq, args) for side in SIDES}
    markdown = table(results)
    print(markdown)
    _common.write_json(
        _common.results_path(args.out_dir, "step_profile.json"),
        {
            "benchmark": "training-step profile by op, adapters m=64",
            "results": results,
            "machine": _common.machine(),
            "command": _common.command_line(),
        },
    )
    path = _common.results_path(args.out_dir, "step_profile.md")
    with open(path, "w") as handle:
        handle.write(markdown)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
