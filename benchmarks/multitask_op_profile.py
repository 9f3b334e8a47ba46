"""Where the multi-task SavedModel's serving time goes, by op, per version.

The companion of `multitask_versions.py`: the same four-task SavedModel
written by each commit (its cached exports), the same mixed batch, but
each version's `serving_default` is run in a TensorFlow 1 session with
full tracing (`RunMetadata` step stats), so every executed op's time is
known (functions are inlined there). Per version, in a fresh process:
`--warmup` untimed calls, then `--steps` traced ones; reports the op
count, the sum of op times and the op types that differ most from the
first version's. Profiling adds its own cost per op, so the times are for
comparison between versions, not throughput.

    python benchmarks/multitask_serving.py --prepare_only --quick
    python benchmarks/multitask_op_profile.py \
        --version before_routing=711463d~1 --version current=HEAD

Writes benchmarks/results/multitask_op_profile.json and .md.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import multitask_serving  # noqa: E402
import multitask_versions  # noqa: E402

PROFILE = r"""
import collections, json, sys, time
import tensorflow as tf
import tensorflow_text  # noqa: F401
sys.path.insert(0, sys.argv[5])
import _common

path, batches_file, warmup, steps = sys.argv[1:5]
tf.compat.v1.disable_eager_execution()
mixed = json.load(open(batches_file))["mixed"]
config = tf.compat.v1.ConfigProto(
    intra_op_parallelism_threads=2, inter_op_parallelism_threads=2
)
with tf.compat.v1.Session(config=config) as session:
    graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    signature = graph.signature_def["serving_default"]
    feed = {signature.inputs[k].name: v for k, v in mixed.items()}
    fetch = {k: v.name for k, v in signature.outputs.items()}
    for _ in range(int(warmup)):
        session.run(fetch, feed)
    seconds, calls = collections.Counter(), collections.Counter()
    options = tf.compat.v1.RunOptions(trace_level=3)
    start = time.perf_counter()
    for _ in range(int(steps)):
        metadata = tf.compat.v1.RunMetadata()
        session.run(fetch, feed, options=options, run_metadata=metadata)
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                # "name = OpType(inputs)"; the node name when no "=".
                label = node.timeline_label.split("=")[-1]
                op = label.split("(")[0].strip() or node.node_name
                op = _common.graph_op_type(op)
                duration = node.op_end_rel_micros - node.op_start_rel_micros
                seconds[op] += duration / 1e6
                calls[op] += 1
    wall = time.perf_counter() - start
_common.emit(_common.profile_summary(seconds, calls, int(steps), wall, top=40))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    multitask_versions.add_version_flags(parser)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out_dir", default=_common.RESULTS_DIR)
    args = parser.parse_args()
    args.preset = args.preset or _common.minilm_folder()
    versions = dict(value.split("=", 1) for value in args.version)
    batches = os.path.join(args.work_dir, "batches.json")
    profiles = {}
    for name, commit in versions.items():
        path = multitask_versions.export_version(args, commit)
        argv = [sys.executable, "-c", PROFILE, path, batches]
        argv += [str(args.warmup), str(args.steps), _common.HERE]
        profiles[name] = _common.run_child(argv)
        if "error" in profiles[name]:
            sys.exit(profiles[name]["error"])
    result = {
        "machine": _common.machine(),
        "command": _common.command_line(),
        "versions": versions,
        "batch": len(
            multitask_serving.load_batches(args.work_dir)["mixed"]["task"]
        ),
        "profiles": profiles,
    }
    _common.write_results(args.out_dir, "multitask_op_profile", result, render)


def render(result):
    """The Markdown report: totals per version, then the op types whose
    time differs most from the first version's."""
    names = list(result["versions"])
    profiles = [result["profiles"][name] for name in names]
    lines = [
        "# Multi-task SavedModel: serving time by op, per code version",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`.",
        "",
        "One mixed batch through `serving_default` in a TensorFlow 1 "
        "session with full tracing, per call, the versions one after the "
        "other. Profiling slows every op, and machine noise shows in the "
        "ops every version runs alike (MatMul: the feed-forward layers).",
        "",
        "| version | commit | ops per call | sum of op times (ms) | wall "
        "(ms, traced) |",
        "|---|---|---|---|---|",
    ]
    for name, profile in zip(names, profiles):
        lines.append(
            f"| {name} | {result['versions'][name]} | "
            f"{profile['op_calls_per_step']:.0f} | "
            f"{1000 * profile['op_seconds_per_step']:.1f} | "
            f"{1000 * profile['wall_seconds_per_step']:.1f} |"
        )
    tables = [
        {op: (seconds, calls) for op, seconds, calls in p["top_ops"]}
        for p in profiles
    ]
    ops = set().union(*tables)

    def spread(op):
        times = [table.get(op, (0.0, 0))[0] for table in tables]
        return max(times) - min(times)

    lines += [
        "",
        "Op types by how much their time differs between versions "
        "(ms per call, calls per call):",
        "",
        "| op | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for op in sorted(ops, key=spread, reverse=True)[:15]:
        cells = [
            f"{1000 * seconds:.2f} ({calls:.0f})"
            for seconds, calls in (t.get(op, (0.0, 0)) for t in tables)
        ]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
