"""Memory of the multi-task SavedModel with and without per-task signatures.

Uses what `benchmarks/multitask_serving.py --prepare_only` prepared under
`build/multitask_serving` (four trained MiniLM tasks, twelve synthetic
copies, the batches). Writes the 4- and 16-task SavedModels once more with
`export_multitask.py --notask_signatures` (`serving_default` only, the
default now), then
serves, each in a fresh process with TensorFlow and tf-text only, the
mixed batch and every single-task batch through `serving_default` (the
single-task SavedModel: its own signature) and reports the RSS after
loading and the peak. Memory only: run it alone or beside other work.

    python benchmarks/multitask_serving.py --prepare_only
    python benchmarks/multitask_memory.py

Writes benchmarks/results/multitask_memory.json and .md.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import multitask_serving  # noqa: E402

SERVE = r"""
import json, resource, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401

path, batches_file, kind = sys.argv[1:4]
batches = json.load(open(batches_file))
model = tf.saved_model.load(path)
after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
serve = model.signatures["serving_default"]
for _ in range(3):
    if kind == "single":
        serve(sentence=tf.constant(batches["single"]["cola"]["sentence"]))
        continue
    mixed = batches["mixed16" if kind == "16" else "mixed"]
    serve(**{key: tf.constant(value) for key, value in mixed.items()})
    for task, batch in batches["single"].items():
        serve(
            task=tf.constant([task] * len(batch["sentence"])),
            sentence=tf.constant(batch["sentence"]),
            sentence2=tf.constant(batch["sentence2"]),
        )
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps({"after_load_mb": after_load, "peak_mb": peak}))
"""


def lean_export(args, count):
    """The `count`-task SavedModel without per-task signatures."""
    target = os.path.join(args.work_dir, "export", f"multitask_{count}_lean")
    if not os.path.isfile(os.path.join(target, "saved_model.pb")):
        tasks = multitask_serving.MODEL_TASKS[count]
        subprocess.run(
            [
                sys.executable,
                os.path.join(_common.REPO, "export_multitask.py"),
                f"--base={args.preset}",
                f"--export_dir={target}",
                "--notask_signatures",
            ]
            + [
                f"--task={task}=" + multitask_serving.artifact_dir(args, task)
                for task in tasks
            ],
            check=True,
            cwd=_common.REPO,
        )
    return target


def serve_memory(path, batches_file, kind):
    done = subprocess.run(
        [sys.executable, "-c", SERVE, path, batches_file, kind],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    line = done.stdout.strip().splitlines()[-1]
    return json.loads(line[len("RESULT ") :])


def markdown(result):
    base = result["rows"]["single"]["peak_mb"]
    lines = [
        "# Multi-task SavedModel memory, with and without task signatures",
        "",
        f"Machine: {result['machine']['cpu']} "
        f"({_common.describe_features(result['machine'])}). "
        f"Command: `{result['command']}`.",
        "",
        "| SavedModel | signatures | RSS after load (MiB) | peak RSS (MiB) "
        "| peak / single-task |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["rows"].items():
        lines.append(
            f"| {name} | {row['signatures']} | {row['after_load_mb']:.0f} "
            f"| {row['peak_mb']:.0f} | {row['peak_mb'] / base:.2f}x |"
        )
    lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--work_dir",
        default=os.path.join(_common.REPO, "build", "multitask_serving"),
    )
    parser.add_argument("--preset", default=None)
    parser.add_argument("--out_dir", default=None)
    args = parser.parse_args()
    args.preset = args.preset or _common.minilm_folder()
    batches_file = os.path.join(args.work_dir, "batches.json")
    if not os.path.isfile(batches_file):
        sys.exit(
            "multitask_memory: run `python benchmarks/multitask_serving.py "
            "--prepare_only` first."
        )
    exports = os.path.join(args.work_dir, "export")
    models = {
        "single": (
            os.path.join(args.work_dir, "train", "cola", "export"),
            "single",
            "serving_default",
        ),
        "multitask_4": (
            os.path.join(exports, "multitask_4"),
            "4",
            "serving_default + 4 tasks",
        ),
        "multitask_4_lean": (lean_export(args, 4), "4", "serving_default"),
        "multitask_16": (
            os.path.join(exports, "multitask_16"),
            "16",
            "serving_default + 16 tasks",
        ),
        "multitask_16_lean": (lean_export(args, 16), "16", "serving_default"),
    }
    rows = {}
    for name, (path, kind, signatures) in models.items():
        rows[name] = dict(
            serve_memory(path, batches_file, kind), signatures=signatures
        )
        print(name, rows[name], flush=True)
    result = {
        "benchmark": "multitask_memory",
        "machine": _common.machine(),
        "versions": _common.keras_versions(),
        "command": _common.command_line(),
        "rows": rows,
    }
    _common.write_results(args.out_dir, "multitask_memory", result, markdown)


if __name__ == "__main__":
    main()
