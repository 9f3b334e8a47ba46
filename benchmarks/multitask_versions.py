"""Mixed-batch throughput of the multi-task SavedModel across code versions.

Issue #24 asks that the routing-layer rebuild of `MultiTaskClassifier` keep
the mixed-batch throughput of the hand-written forward pass it replaced.
This writes the same four-task multi-task SavedModel with each version of
the code (a `git worktree` per commit, its own `export_multitask.py`, the
same artifacts), then serves the same mixed batch of raw strings with each,
in a fresh process per measurement (TensorFlow and tf-text only), the
versions alternating over `--rounds`; then once more with every version
loaded in one process, `--together_calls` calls each, alternating call by
call.

Uses what `benchmarks/multitask_serving.py --prepare_only` prepared (the
artifacts and `batches.json`, under `--work_dir`):

    python benchmarks/multitask_serving.py --prepare_only --quick
    python benchmarks/multitask_versions.py \
        --version before_routing=711463d~1 --version routing=9e80b85 \
        --version current=HEAD

Writes benchmarks/results/multitask_versions.json and .md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import multitask_serving  # noqa: E402

SERVE = r"""
import json, statistics, sys, time
import tensorflow as tf
import tensorflow_text  # noqa: F401

path, batches_file, threads, warmup, repeats = sys.argv[1:6]
tf.config.threading.set_intra_op_parallelism_threads(int(threads))
tf.config.threading.set_inter_op_parallelism_threads(int(threads))
mixed = json.load(open(batches_file))["mixed"]
serve = tf.saved_model.load(path).signatures["serving_default"]
inputs = {key: tf.constant(value) for key, value in mixed.items()}
for _ in range(int(warmup)):
    serve(**inputs)
times = []
for _ in range(int(repeats)):
    start = time.perf_counter()
    serve(**inputs)["probabilities"].numpy()
    times.append(time.perf_counter() - start)
print("RESULT " + json.dumps({"median_s": statistics.median(times)}))
"""

# Every version loaded in one process, calls alternating between them: the
# processes' own differences (allocation, thread start-up) cancel out.
SERVE_TOGETHER = r"""
import json, statistics, sys, time
import tensorflow as tf
import tensorflow_text  # noqa: F401

batches_file, threads, warmup, repeats, *paths = sys.argv[1:]
tf.config.threading.set_intra_op_parallelism_threads(int(threads))
tf.config.threading.set_inter_op_parallelism_threads(int(threads))
mixed = json.load(open(batches_file))["mixed"]
inputs = {key: tf.constant(value) for key, value in mixed.items()}
models = [tf.saved_model.load(path) for path in paths]  # kept alive
serves = [model.signatures["serving_default"] for model in models]
for serve in serves:
    for _ in range(int(warmup)):
        serve(**inputs)
times = [[] for _ in paths]
for call in range(int(repeats)):
    order = list(range(len(paths)))
    for index in order[:: 1 if call % 2 else -1]:
        start = time.perf_counter()
        serves[index](**inputs)["probabilities"].numpy()
        times[index].append(time.perf_counter() - start)
medians = [statistics.median(values) for values in times]
print("RESULT " + json.dumps({"median_s": medians}))
"""

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def export_version(args, commit):
    """The four-task SavedModel written by the code at `commit` (cached by
    the commit's hash)."""
    commit = subprocess.run(
        ["git", "-C", REPO_ROOT, "rev-parse", "--short", commit],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = os.path.join(args.work_dir, "versions", commit)
    if os.path.isfile(os.path.join(target, "saved_model.pb")):
        return target
    tree = os.path.join(args.work_dir, "worktrees", commit)
    if not os.path.isdir(tree):
        subprocess.run(
            ["git", "-C", REPO_ROOT, "worktree", "add", "--detach"]
            + [tree, commit],
            check=True,
        )
    tasks = [
        f"--task={task}={multitask_serving.artifact_dir(args, task)}"
        for task in multitask_serving.TASKS
    ]
    subprocess.run(
        [
            sys.executable,
            os.path.join(tree, "export_multitask.py"),
            f"--base={args.preset}",
            *tasks,
            f"--export_dir={target}",
            "--notask_signatures",
        ],
        check=True,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": tree},
    )
    return target


def run_serving_child(script, *argv):
    """The `RESULT` of `python -c script *argv`."""
    output = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def measure_together(args, paths):
    """`{name: median seconds per call}`, every version in one process."""
    medians = run_serving_child(
        SERVE_TOGETHER,
        os.path.join(args.work_dir, "batches.json"),
        str(args.threads),
        str(args.warmup),
        str(args.together_calls),
        *paths.values(),
    )["median_s"]
    return dict(zip(paths, medians))


def measure(args, path):
    return run_serving_child(
        SERVE,
        path,
        os.path.join(args.work_dir, "batches.json"),
        str(args.threads),
        str(args.warmup),
        str(args.repeats),
    )["median_s"]


def add_version_flags(parser):
    """The flags that choose the versions and their exports."""
    parser.add_argument(
        "--version",
        action="append",
        required=True,
        help="NAME=COMMIT, once per version, the first the reference.",
    )
    parser.add_argument(
        "--work_dir",
        default="/tmp/keras_adapters_bench/multitask_serving_quick",
    )
    parser.add_argument("--preset", default=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_version_flags(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--together_calls",
        type=int,
        default=200,
        help="calls per version in the one-process measurement (0: none)",
    )
    parser.add_argument(
        "--out_dir", default=os.path.join(REPO_ROOT, "benchmarks", "results")
    )
    args = parser.parse_args()
    args.preset = args.preset or _common.minilm_folder()
    versions = dict(value.split("=", 1) for value in args.version)
    paths = {
        name: export_version(args, commit) for name, commit in versions.items()
    }
    batch = len(multitask_serving.load_batches(args.work_dir)["mixed"]["task"])
    runs = {name: [] for name in versions}
    for round_index in range(args.rounds):
        order = list(versions)
        if round_index % 2:
            order.reverse()
        for name in order:
            runs[name].append(batch / measure(args, paths[name]))
            print(f"round {round_index + 1} {name}: {runs[name][-1]:.1f} ex/s")
    together = measure_together(args, paths) if args.together_calls else {}
    reference = next(iter(versions))
    medians = {name: statistics.median(rates) for name, rates in runs.items()}
    result = {
        "machine": _common.machine(),
        "versions": versions,
        "batch": batch,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "threads": args.threads,
        "examples_per_second": runs,
        "median_examples_per_second": medians,
        "ratio_to_first": {
            name: medians[name] / medians[reference] for name in versions
        },
        # Each round's ratio to the first version's measurement of that
        # round (the two ran back to back), then their median.
        "median_paired_ratio_to_first": {
            name: statistics.median(
                rate / first for rate, first in zip(runs[name], runs[reference])
            )
            for name in versions
        },
        "together_calls": args.together_calls,
        "together_examples_per_second": {
            name: batch / seconds for name, seconds in together.items()
        },
    }
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, "multitask_versions")
    with open(stem + ".json", "w") as handle:
        json.dump(result, handle, indent=2)
    report = render(result)
    with open(stem + ".md", "w") as handle:
        handle.write(report)
    print(report)


def render(result):
    """The Markdown report of a `main()` result."""
    versions = result["versions"]
    reference = next(iter(versions))
    lines = [
        "# Multi-task mixed-batch throughput across code versions",
        "",
        f"Machine: {result['machine']}. Command: `python "
        "benchmarks/multitask_versions.py "
        + " ".join(f"--version {n}={c}" for n, c in versions.items())
        + f" --rounds {result['rounds']}`.",
        "",
        f"The same four-task SavedModel (`serving_default` only), written "
        f"by each version from the same artifacts; a mixed batch of "
        f"{result['batch']} raw-string examples; median of "
        f"{result['repeats']} calls per process, {result['threads']} "
        "threads, a fresh process per measurement, versions alternating "
        f"over {result['rounds']} rounds. Paired ratio: each round's rate "
        f"over {reference}'s in the same round, median over rounds.",
        "",
        "| version | commit | examples/s per round | median | ratio of "
        f"medians to {reference} | median paired ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, commit in versions.items():
        rates = ", ".join(
            f"{rate:.1f}" for rate in result["examples_per_second"][name]
        )
        lines.append(
            f"| {name} | {commit} | {rates} | "
            f"{result['median_examples_per_second'][name]:.1f} | "
            f"{result['ratio_to_first'][name]:.3f} | "
            f"{result['median_paired_ratio_to_first'][name]:.3f} |"
        )
    together = result.get("together_examples_per_second")
    if together:
        first = together[reference]
        lines += [
            "",
            f"All versions in one process, {result['together_calls']} calls "
            "each, alternating call by call (medians):",
            "",
            f"| version | examples/s | ratio to {reference} |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {rate:.1f} | {rate / first:.3f} |"
            for name, rate in together.items()
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
