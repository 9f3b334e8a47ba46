"""How a multi-task batch is routed: per-example gather vs grouping by task.

`keras_adapters.MultiTaskClassifier` computes a batch that mixes tasks in
one pass, gathering each example's adapters, LayerNorms and head. The
alternative groups the batch by task and runs each group on its own. Both
are timed here in one process, on the same model and the same 32 mixed
CoLA dev sentences (tokenized once beforehand; the encoder only), against
a single-task `AdapterBertTextClassifier` on the same batch (no routing):

- `single_task`: the single-task model of task 0 on the whole batch;
- `gather`: the multi-task model on the mixed batch (one pass);
- `grouped`: the mixed batch split by task, each group through the
  multi-task model, the outputs put back in batch order.

Tasks are synthetic (MiniLM adapters-64 with random values; speed does not
depend on the values). Each variant is a `tf.function`, traced first;
rounds alternate the variants; medians over rounds of the mean of
`--repeats` calls.

    python benchmarks/multitask_routing.py            # 4 and 16 tasks
    python benchmarks/multitask_routing.py --quick    # smoke test

Writes benchmarks/results/multitask_routing.json and .md.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

VARIANTS = ("single_task", "gather", "grouped")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="4,16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--adapter_size", type=int, default=64)
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--out_dir", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.repeats, args.rounds = "2", 2, 1
        args.out_dir = args.out_dir or "/tmp/keras_adapters_bench"
    args.tasks = _common.int_list(args.tasks)
    return args


def synthetic_artifacts(preset, count, adapter_size, folder):
    """`count` artifacts of MiniLM adapters with random trained values."""
    import numpy as np

    import keras_adapters
    from keras_adapters.models import AdapterBertTextClassifier

    model = AdapterBertTextClassifier.from_preset(
        preset, num_classes=2, adapter_size=adapter_size
    )
    rng = np.random.default_rng(0)
    artifacts = {}
    for index in range(count):
        for variable in model.trainable_weights:
            variable.assign(rng.normal(0, 0.02, variable.shape))
        name = f"task{index}"
        artifacts[name] = os.path.join(folder, name)
        keras_adapters.save_adapters(
            model, artifacts[name], inputs=["sentence"]
        )
    return model, artifacts


def variants(model, single, num_tasks):
    """The three ways to run a batch, as traced functions of features."""
    import tensorflow as tf

    @tf.function
    def gather(features):
        return model(features)

    @tf.function
    def grouped(features):
        task_ids = features["task_ids"]
        groups = tf.dynamic_partition(
            tf.range(tf.size(task_ids)), task_ids, num_tasks
        )
        outputs = [
            model(
                {key: tf.gather(value, rows) for key, value in features.items()}
            )
            for rows in groups
        ]
        return tf.dynamic_stitch(groups, outputs)

    @tf.function
    def single_task(features):
        return single(
            {key: value for key, value in features.items() if key != "task_ids"}
        )

    return {"single_task": single_task, "gather": gather, "grouped": grouped}


def measure(args, num_tasks, sentences, folder):
    import keras
    import numpy as np

    import keras_adapters

    preset = _common.minilm_folder()
    single, artifacts = synthetic_artifacts(
        preset, num_tasks, args.adapter_size, folder
    )
    model = keras_adapters.MultiTaskClassifier.from_artifacts(preset, artifacts)
    tasks = [f"task{i % num_tasks}" for i in range(len(sentences))]
    features = model.preprocessor(tasks, sentences)
    functions = variants(model, single, num_tasks)
    reference = functions["gather"](features)
    grouped = functions["grouped"](features)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(grouped),
        keras.ops.convert_to_numpy(reference),
        atol=1e-5,
    )
    seconds = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name in VARIANTS:
            call = functions[name]
            call(features)
            start = time.perf_counter()
            for _ in range(args.repeats):
                keras.ops.convert_to_numpy(call(features))
            seconds[name].append((time.perf_counter() - start) / args.repeats)
    medians = {name: statistics.median(seconds[name]) for name in VARIANTS}
    return {
        "tasks": num_tasks,
        "batch": len(sentences),
        "width": int(features["token_ids"].shape[1]),
        "median_seconds": {k: round(v, 4) for k, v in medians.items()},
        "examples_per_second": {
            k: round(len(sentences) / v, 1) for k, v in medians.items()
        },
        "gather_vs_single_task": round(
            medians["single_task"] / medians["gather"], 3
        ),
        "gather_vs_grouped": round(medians["grouped"] / medians["gather"], 3),
        "all_seconds": seconds,
    }


def markdown(result):
    lines = [
        "# Multi-task routing: per-example gather vs grouping by task",
        "",
        f"Machine: {result['machine']['cpu']} "
        f"({_common.describe_features(result['machine'])}), "
        f"{result['threads']} threads. Command: `{result['command']}`.",
        "",
        "| tasks | batch (width) | single-task model | gather | grouped "
        "| gather / single-task throughput | gather speed-up over grouped |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        rate = row["examples_per_second"]
        lines.append(
            f"| {row['tasks']} | {row['batch']} ({row['width']}) "
            f"| {rate['single_task']}/s | {rate['gather']}/s "
            f"| {rate['grouped']}/s | {row['gather_vs_single_task']}x "
            f"| {row['gather_vs_grouped']}x |"
        )
    lines.append("")
    return "\n".join(lines)


def main():
    args = parse_args()
    _common.set_thread_env(args.threads)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sentences, _ = _common.read_cola(args.glue_dir, "dev", limit=args.batch)
    rows = []
    for num_tasks in args.tasks:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(measure(args, num_tasks, sentences, folder))
    result = {
        "benchmark": "multitask_routing",
        "machine": _common.machine(),
        "versions": _common.keras_versions(),
        "command": _common.command_line(),
        "threads": args.threads,
        "rows": rows,
    }
    _common.write_results(args.out_dir, "multitask_routing", result, markdown)


if __name__ == "__main__":
    main()
