"""Serving four (and sixteen) adapter tasks from one process (issue #16.5).

Stage 1, prepare (cached under `--work_dir`; a rerun skips what exists):
trains four real GLUE tasks on the real MiniLM with `run_classifier.py`
(adapters mode, adapter_size 64, `--max_seq_length=128`, a short
training: CoLA and MRPC one epoch, SST-2 the first 6,400 rows (200 steps),
QNLI the first 3,000 dev rows (GLUE's QNLI here has no train.tsv: the
remaining 2,463 dev rows become the dev set it is scored on). Each run
writes its adapter artifact, its single-task SavedModel and its dev
metric. Twelve synthetic tasks are then written as copies of the four
artifacts (`<task>_copy1..3`) with every stored value perturbed by
Gaussian noise (1 % of each tensor's standard deviation), so that 16
tasks hold 16 distinct sets of weights (checksum rewritten). Then
`export_multitask.py` writes three multi-task SavedModels: CoLA alone, the
four real tasks, all sixteen.

Stage 2, measure: each variant in its own process (`--threads` for all,
default 2), variants alternating over `--rounds`, medians over rounds. The
batches are real dev rows, raw strings in (tokenization in every timing):
a mixed batch of `--batch` (32) examples, a quarter per task, interleaved
(cola, sst2, mrpc, qnli, cola, ...), and one single-task batch of 32 per
task whose first 8 rows are that task's rows of the mixed batch. The
16-task mixed batch holds the same 32 texts, each 4-task group spread
over the task and its three copies.

- `multitask_N` (N = 1, 4, 16): our multi-task SavedModel,
  `serving_default(task, sentence, sentence2)` on the mixed batch, and on
  each single-task batch both through `serving_default` (one task name
  repeated) and through the task's own signature (`cola(sentence)`,
  `mrpc(sentence1, sentence2)`, ...).
- `single`: one single-task SavedModel (`run_classifier.py`'s export of
  CoLA) on its batch: the memory baseline.
- `separate`: the four single-task SavedModels loaded in one process; the
  mixed batch split by task, each part served by its model, the
  probabilities put back in batch order; and each single-task batch.
- `adapterhub_batchsplit`, `adapterhub_parallel`: AdapterHub 1.3.0
  (`multitask_peer.py`, run by `.peer_venv/bin/python`), one
  `BertAdapterModel` with four Houlsby adapters and four heads, random
  adapter and head weights (speed and memory only).

Every process makes `--warmup` untimed calls of each batch, then
`--repeats` timed rounds over its batches; per batch, the median call time
gives examples/s.

    python benchmarks/multitask_serving.py            # prepare + measure
    python benchmarks/multitask_serving.py --prepare_only
    python benchmarks/multitask_serving.py --quick    # smoke test, /tmp

Writes benchmarks/results/multitask_serving.json and .md.
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import peer_env  # noqa: E402

NAME = "multitask_serving"
# Task name in the multi-task model -> GLUE folder, reader columns, the
# flags of its short training run.
TASKS = {
    "cola": {
        "glue": "CoLA",
        "header": False,
        "columns": (3, None),
        "metric": "eval_mcc",
        "train": {"num_train_epochs": 1, "learning_rate": 3e-4},
    },
    "sst2": {
        "glue": "SST-2",
        "header": True,
        "columns": (0, None),
        "metric": "eval_accuracy",
        "train": {
            "num_train_epochs": 1,
            "max_train_examples": 6400,
            "learning_rate": 1e-3,
        },
    },
    "mrpc": {
        "glue": "MRPC",
        "header": True,
        "columns": (3, 4),
        "metric": "eval_f1",
        "train": {"num_train_epochs": 1, "learning_rate": 3e-4},
    },
    "qnli": {
        "glue": "QNLI",
        "header": True,
        "columns": (1, 2),
        "metric": "eval_accuracy",
        "train": {"num_train_epochs": 1, "learning_rate": 1e-3},
    },
}
# QNLI has no train.tsv here: its first dev rows train, the rest is dev.
QNLI_TRAIN_ROWS = 3000
COPIES = 3  # synthetic copies per real task: 4 x (1 + 3) = 16 tasks
NOISE = 0.01  # of each stored tensor's standard deviation
MODEL_TASKS = {
    1: ["cola"],
    4: list(TASKS),
    16: list(TASKS)
    + [f"{task}_copy{k}" for k in range(1, COPIES + 1) for task in TASKS],
}
OURS = ("multitask_1", "multitask_4", "multitask_16", "single", "separate")
PEER = ("adapterhub_batchsplit", "adapterhub_parallel")
VARIANTS = OURS + PEER
CHILD_OPTIONS = ("threads", "repeats", "warmup", "work_dir", "seq")


# ---------------------------------------------------------------- stage 1


def log(message):
    print(message, flush=True)


def run_step(argv, what):
    """Runs one preparation command; its output goes to a log file."""
    log(f"-> {what}")
    start = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=_common.REPO
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-20:]
        sys.stderr.write("\n".join(tail) + "\n")
        sys.exit(f"multitask_serving: {what} failed (exit {done.returncode}).")
    log(f"   done in {time.perf_counter() - start:.0f} s")
    return done.stdout


def read_rows(path, header):
    """The rows of a GLUE TSV file as lists of strings, and its header."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return (rows[0], rows[1:]) if header else (None, rows)


def write_rows(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in ([header] if header else []) + rows:
            handle.write("\t".join(row) + "\n")


def prepare_data(args):
    """Task folders: QNLI's split of dev rows, or (`--quick`) tiny copies.

    Returns `{task: data_dir}`.
    """
    folders = {}
    for task, spec in TASKS.items():
        source = os.path.join(args.glue_dir, spec["glue"])
        if task != "qnli" and not args.quick:
            folders[task] = source
            continue
        target = os.path.join(args.work_dir, "data", spec["glue"])
        folders[task] = target
        if os.path.isfile(os.path.join(target, "dev.tsv")):
            continue
        if task == "qnli":
            header, rows = read_rows(os.path.join(source, "dev.tsv"), True)
            train, dev = rows[:QNLI_TRAIN_ROWS], rows[QNLI_TRAIN_ROWS:]
        else:
            header, train = read_rows(
                os.path.join(source, "train.tsv"), spec["header"]
            )
            _, dev = read_rows(os.path.join(source, "dev.tsv"), spec["header"])
        if args.quick:
            train, dev = train[: args.quick_rows], dev[: args.quick_rows]
        write_rows(os.path.join(target, "train.tsv"), header, train)
        write_rows(os.path.join(target, "dev.tsv"), header, dev)
    return folders


def train_tasks(args, folders):
    """Trains each task (skipped when its outputs exist); their dev scores."""
    scores = {}
    for task, spec in TASKS.items():
        output_dir = os.path.join(args.work_dir, "train", task)
        results = os.path.join(output_dir, "eval_results.json")
        done = all(
            os.path.exists(path)
            for path in (
                results,
                os.path.join(output_dir, "adapters", "adapter_config.json"),
                os.path.join(output_dir, "export", "saved_model.pb"),
            )
        )
        flags = dict(spec["train"])
        if args.quick:
            flags.pop("max_train_examples", None)
        if not done:
            shutil.rmtree(output_dir, ignore_errors=True)
            argv = [
                sys.executable,
                os.path.join(_common.REPO, "run_classifier.py"),
                f"--task_name={spec['glue']}",
                f"--data_dir={folders[task]}",
                f"--output_dir={output_dir}",
                f"--preset={args.preset}",
                "--tuning=adapters",
                "--adapter_size=64",
                "--max_seq_length=128",
                "--train_batch_size=32",
                # Float32 single-task SavedModels: the multi-task model
                # serves in float32 too.
                "--mixed_precision=fp32",
                "--do_train",
                "--do_eval",
            ] + _common.child_flags(flags)
            run_step(argv, f"train {task}")
        with open(results) as handle:
            evaluation = json.load(handle)
        train_rows = len(
            read_rows(os.path.join(folders[task], "train.tsv"), spec["header"])[
                1
            ]
        )
        scores[task] = {
            "metric": spec["metric"].replace("eval_", ""),
            "dev_score": round(evaluation[spec["metric"]], 4),
            "dev_accuracy": round(evaluation.get("eval_accuracy", 0), 4),
            "global_step": evaluation["global_step"],
            "train_rows": min(
                train_rows, flags.get("max_train_examples") or train_rows
            ),
            "training_flags": flags,
            "data_dir": os.path.relpath(folders[task], _common.REPO),
        }
        log(f"   {task}: {scores[task]}")
    return scores


def artifact_dir(args, task):
    if task in TASKS:
        return os.path.join(args.work_dir, "train", task, "adapters")
    return os.path.join(args.work_dir, "synthetic", task)


def write_synthetic(args):
    """`<task>_copyK`: a real artifact with its stored values perturbed."""
    import numpy as np
    import safetensors.numpy

    from keras_adapters.models.artifact import CONFIG_FILE
    from keras_adapters.models.artifact import file_sha256

    for k in range(1, COPIES + 1):
        for index, task in enumerate(TASKS):
            name = f"{task}_copy{k}"
            target = artifact_dir(args, name)
            if os.path.isfile(os.path.join(target, CONFIG_FILE)):
                continue
            source = artifact_dir(args, task)
            with open(os.path.join(source, CONFIG_FILE)) as handle:
                config = json.load(handle)
            weights_file = config["weights"]["file"]
            weights = safetensors.numpy.load_file(
                os.path.join(source, weights_file)
            )
            rng = np.random.default_rng(1000 * k + index)
            perturbed = {}
            for path, value in weights.items():
                scale = NOISE * (float(value.std()) or 1.0)
                noise = rng.normal(0.0, scale, value.shape)
                perturbed[path] = (value + noise).astype(value.dtype)
            partial = target + ".partial"
            shutil.rmtree(partial, ignore_errors=True)
            os.makedirs(partial)
            safetensors.numpy.save_file(
                perturbed, os.path.join(partial, weights_file)
            )
            config["weights"]["sha256"] = file_sha256(
                os.path.join(partial, weights_file)
            )
            with open(os.path.join(partial, CONFIG_FILE), "w") as handle:
                json.dump(config, handle, indent=2, sort_keys=True)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(partial, target)
    log(f"-> {COPIES * len(TASKS)} synthetic artifacts ready")


def export_dir(args, count):
    return os.path.join(args.work_dir, "export", f"multitask_{count}")


def export_multitask(args):
    for count, tasks in MODEL_TASKS.items():
        target = export_dir(args, count)
        if os.path.isfile(os.path.join(target, "saved_model.pb")):
            continue
        argv = [
            sys.executable,
            os.path.join(_common.REPO, "export_multitask.py"),
            f"--base={args.preset}",
            f"--export_dir={target}",
            # Served through each task's own signature too.
            "--task_signatures",
        ] + [f"--task={task}={artifact_dir(args, task)}" for task in tasks]
        run_step(argv, f"export the {count}-task SavedModel")


def savedmodel_sizes(path):
    """MiB of a SavedModel's graph (`saved_model.pb`, every signature's
    traced function) and of its variables."""
    variables = os.path.join(path, "variables")
    return {
        "graph_mib": round(
            os.path.getsize(os.path.join(path, "saved_model.pb")) / 2**20, 1
        ),
        "variables_mib": round(
            sum(
                os.path.getsize(os.path.join(variables, name))
                for name in os.listdir(variables)
            )
            / 2**20,
            1,
        ),
    }


def export_sizes(args):
    sizes = {
        f"multitask_{count}": savedmodel_sizes(export_dir(args, count))
        for count in MODEL_TASKS
    }
    sizes["single"] = savedmodel_sizes(
        os.path.join(args.work_dir, "train", args.task, "export")
    )
    return sizes


def texts(spec, row):
    first, second = spec["columns"]
    return row[first], (row[second] if second is not None else "")


def write_batches(args, folders):
    """The measured batches, real dev rows, as JSON for every child."""
    per_task = args.batch // len(TASKS)
    single, pair = {}, {}
    for task, spec in TASKS.items():
        _, rows = read_rows(
            os.path.join(folders[task], "dev.tsv"), spec["header"]
        )
        if len(rows) < args.batch:
            sys.exit(f"multitask_serving: {task} has < {args.batch} dev rows.")
        # Every 7th row: a spread of the file, not only its first rows.
        step = max(1, min(7, len(rows) // args.batch))
        chosen = [texts(spec, row) for row in rows[::step][: args.batch]]
        single[task] = {
            "sentence": [a for a, _ in chosen],
            "sentence2": [b for _, b in chosen],
        }
        pair[task] = spec["columns"][1] is not None
    mixed = {"task": [], "sentence": [], "sentence2": []}
    mixed16 = {"task": [], "sentence": [], "sentence2": []}
    for i in range(per_task):
        for task in TASKS:
            copy = i % (COPIES + 1)
            for batch, name in (
                (mixed, task),
                (mixed16, task if not copy else f"{task}_copy{copy}"),
            ):
                batch["task"].append(name)
                batch["sentence"].append(single[task]["sentence"][i])
                batch["sentence2"].append(single[task]["sentence2"][i])
    batches = {
        "tasks": list(TASKS),
        "pair": pair,
        "num_labels": {task: 2 for task in TASKS},
        "single": single,
        "mixed": mixed,
        "mixed16": mixed16,
    }
    path = os.path.join(args.work_dir, "batches.json")
    with open(path, "w") as handle:
        json.dump(batches, handle, indent=1)
    return path


def prepare(args):
    os.makedirs(args.work_dir, exist_ok=True)
    folders = prepare_data(args)
    scores = train_tasks(args, folders)
    write_synthetic(args)
    export_multitask(args)
    write_batches(args, folders)
    return scores


# ---------------------------------------------------------------- stage 2


def load_batches(work_dir):
    with open(os.path.join(work_dir, "batches.json")) as handle:
        return json.load(handle)


def child_ours(args):
    """One of our variants, in this process (TensorFlow + tf-text only)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rss_after_import = _common.current_rss_mb()
    batches = load_batches(args.work_dir)
    single, pair = batches["single"], batches["pair"]
    start = time.perf_counter()
    loaded = []

    def load(path):
        model = tf.saved_model.load(path)
        loaded.append(model)  # signatures need their model alive
        return model.signatures

    def inputs(task, batch):
        if pair[task]:
            return {
                "sentence1": tf.constant(batch["sentence"]),
                "sentence2": tf.constant(batch["sentence2"]),
            }
        return {"sentence": tf.constant(batch["sentence"])}

    def numpy(outputs):
        return {key: value.numpy() for key, value in outputs.items()}

    def serve_grouped(functions, batch):
        """The batch split by task, each part through `functions[task]`,
        the probabilities and labels put back in batch order."""
        import numpy as np

        order = {}
        for i, task in enumerate(batch["task"]):
            order.setdefault(task, []).append(i)
        probabilities = np.zeros([len(batch["task"]), 2], np.float32)
        labels = [None] * len(batch["task"])
        for task, rows in order.items():
            part = {
                key: [batch[key][i] for i in rows]
                for key in ("sentence", "sentence2")
            }
            outputs = numpy(functions[task](**inputs(task, part)))
            probabilities[rows] = outputs["probabilities"]
            label_key = "labels" if "labels" in outputs else "label"
            for i, label in zip(rows, outputs[label_key]):
                labels[i] = label
        return probabilities, labels

    calls = {}
    variant = args.child
    if variant.startswith("multitask_"):
        count = int(variant.split("_")[1])
        signatures = load(export_dir(args, count))
        default = signatures["serving_default"]

        def serve_default(batch, tasks=None):
            return numpy(
                default(
                    task=tf.constant(tasks or batch["task"]),
                    sentence=tf.constant(batch["sentence"]),
                    sentence2=tf.constant(batch["sentence2"]),
                )
            )

        if count > 1:
            mixed = batches["mixed" if count == 4 else "mixed16"]
            calls["mixed"] = (lambda: serve_default(mixed), len(mixed["task"]))
        if count == 4:
            # The other way to serve a mixed batch: grouped by task, each
            # group through its task's own signature of the same model.
            calls["mixed_grouped"] = (
                lambda: serve_grouped(signatures, mixed),
                len(mixed["task"]),
            )
        for task in MODEL_TASKS[count]:
            if task not in single:
                continue
            batch, own = single[task], signatures[task]
            size = len(batch["sentence"])
            calls[f"{task}:serving_default"] = (
                lambda b=batch, t=task, n=size: serve_default(b, [t] * n),
                size,
            )
            calls[f"{task}:signature"] = (
                lambda b=batch, t=task, f=own: numpy(f(**inputs(t, b))),
                size,
            )
    else:
        tasks = [args.task] if variant == "single" else batches["tasks"]
        models = {
            task: load(os.path.join(args.work_dir, "train", task, "export"))[
                "serving_default"
            ]
            for task in tasks
        }
        if variant == "separate":
            mixed = batches["mixed"]
            calls["mixed"] = (
                lambda: serve_grouped(models, mixed),
                len(mixed["task"]),
            )
        for task, model in models.items():
            batch = single[task]
            calls[f"{task}:signature"] = (
                lambda b=batch, t=task, f=model: numpy(f(**inputs(t, b))),
                len(batch["sentence"]),
            )
    load_seconds = time.perf_counter() - start
    rss_after_load = _common.current_rss_mb()
    timings = _common.time_batches(calls, args.warmup, args.repeats)
    _common.emit(
        {
            "variant": variant,
            "batches": timings,
            "load_seconds": round(load_seconds, 2),
            "rss_after_import_mb": rss_after_import,
            "rss_after_load_mb": rss_after_load,
            "versions": {"tensorflow": tf.__version__},
        }
    )


def run_variant(args, variant):
    options = {key: getattr(args, key) for key in CHILD_OPTIONS}
    if variant in PEER:
        argv = [
            _common.PEER_PYTHON,
            os.path.join(_common.HERE, "multitask_peer.py"),
            f"--composition={variant.split('_')[1]}",
            f"--preset={args.preset}",
        ]
        env = None
    else:
        argv = [
            sys.executable,
            os.path.abspath(__file__),
            f"--child={variant}",
            f"--task={args.task}",
        ]
        env = dict(os.environ)
        env["CUDA_VISIBLE_DEVICES"] = ""
    log(f"-> {variant}")
    result = _common.run_child(
        argv + _common.child_flags(options), timeout=args.child_timeout, env=env
    )
    if "error" in result:
        log(f"   ERROR {result['error']}")
    else:
        rates = ", ".join(
            f"{name} {row['examples_per_second']}"
            for name, row in result["batches"].items()
        )
        log(f"   {result['peak_rss_mb']} MiB; examples/s: {rates}")
    result["variant"] = variant
    return result


# ---------------------------------------------------------------- summary


def median_of(runs, variant, *keys):
    values = []
    for run in runs:
        if run["variant"] != variant or "error" in run:
            continue
        value = run
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            values.append(value)
    return statistics.median(values) if values else None


def single_batches_rate(runs, variant, suffix, tasks):
    """Examples/s over the single-task batches of `tasks`: all their
    examples over the sum of their median call times (per-round medians)."""
    if not tasks:
        return None
    seconds, examples = 0.0, 0
    for task in tasks:
        median = median_of(
            runs, variant, "batches", f"{task}:{suffix}", "seconds_median"
        )
        size = median_of(
            runs, variant, "batches", f"{task}:{suffix}", "examples"
        )
        if median is None:
            return None
        seconds += median
        examples += size
    return round(examples / seconds, 2)


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def summarize(runs, variants, args, sizes):
    tasks = list(TASKS)
    table = {}
    for variant in variants:
        row = {
            "peak_rss_mb": median_of(runs, variant, "peak_rss_mb"),
            "rss_after_load_mb": median_of(runs, variant, "rss_after_load_mb"),
            "mixed_examples_per_second": median_of(
                runs, variant, "batches", "mixed", "examples_per_second"
            ),
            "mixed_grouped_examples_per_second": median_of(
                runs, variant, "batches", "mixed_grouped", "examples_per_second"
            ),
        }
        served = [t for t in tasks if variant != "single" or t == args.task]
        if variant == "multitask_1":
            served = ["cola"]
        if variant == "adapterhub_parallel":
            served = []
        for suffix in ("signature", "serving_default"):
            rate = single_batches_rate(runs, variant, suffix, served)
            if rate is not None:
                row[f"single_task_examples_per_second_{suffix}"] = rate
        cola = median_of(
            runs,
            variant,
            "batches",
            "cola:serving_default"
            if variant.startswith("multitask")
            else "cola:signature",
            "examples_per_second",
        )
        row["cola_batch_examples_per_second"] = cola
        table[variant] = {k: v for k, v in row.items() if v is not None}

    def get(variant, key):
        return table.get(variant, {}).get(key)

    multi = "multitask_4"
    mixed = get(multi, "mixed_examples_per_second")
    targets = {
        "rss_4task_over_single_task_savedmodel": {
            "value": ratio(
                get(multi, "peak_rss_mb"), get("single", "peak_rss_mb")
            ),
            "target": "<= 1.15",
        },
        "rss_separate_4_over_single_task_savedmodel": {
            "value": ratio(
                get("separate", "peak_rss_mb"), get("single", "peak_rss_mb")
            ),
            "target": "(reference; 4 separate processes: about 4)",
        },
        "mixed_over_single_task_batch_same_model": {
            "value": ratio(
                mixed,
                get(multi, "single_task_examples_per_second_serving_default"),
            ),
            "target": ">= 0.9",
            "note": "4-task model: mixed batch vs single-task batches "
            "through serving_default",
        },
        "mixed_over_single_task_savedmodels": {
            "value": ratio(
                mixed,
                get("separate", "single_task_examples_per_second_signature"),
            ),
            "target": ">= 0.9",
            "note": "4-task model's mixed batch vs each single-task "
            "SavedModel on a batch of its own task",
        },
        "mixed_over_mixed_grouped_same_model": {
            "value": ratio(
                mixed, get(multi, "mixed_grouped_examples_per_second")
            ),
            "target": "> 1",
            "note": "one routed pass vs the batch grouped by task, each "
            "group through its task's signature",
        },
        "mixed_over_separate_models": {
            "value": ratio(mixed, get("separate", "mixed_examples_per_second")),
            "target": "> 1",
        },
        "mixed_over_adapterhub_batchsplit": {
            "value": ratio(
                mixed, get("adapterhub_batchsplit", "mixed_examples_per_second")
            ),
            "target": "> 1",
        },
        "mixed_over_adapterhub_parallel": {
            "value": ratio(
                mixed, get("adapterhub_parallel", "mixed_examples_per_second")
            ),
            "target": "> 1",
        },
    }
    for name, entry in targets.items():
        value, target = entry["value"], entry["target"]
        if value is None or target[0] not in "<>":
            continue
        bound = float(target.split()[-1])
        entry["met"] = (
            value <= bound
            if target.startswith("<=")
            else value >= bound
            if target.startswith(">=")
            else value > bound
        )
    growth = {}
    for count in MODEL_TASKS:
        variant = f"multitask_{count}"
        if variant in table:
            growth[count] = {
                "tasks": count,
                **sizes.get(variant, {}),
                "peak_rss_mb": get(variant, "peak_rss_mb"),
                "rss_after_load_mb": get(variant, "rss_after_load_mb"),
                "mixed_examples_per_second": get(
                    variant, "mixed_examples_per_second"
                ),
                "cola_batch_examples_per_second": get(
                    variant, "cola_batch_examples_per_second"
                ),
            }
    widths = {}
    for name in ["mixed"] + [f"{task}:signature" for task in tasks]:
        width = median_of(
            runs, "adapterhub_batchsplit", "batches", name, "padded_width"
        )
        if width is not None:
            widths[name.split(":")[0]] = width
    return {
        "variants": table,
        "targets": targets,
        "growth": growth,
        "padded_widths": widths,
    }


def cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return f"{value:,}" if isinstance(value, (int, float)) else str(value)


def markdown(result):
    summary = result["summary"]
    settings = result["settings"]
    lines = [
        f"# Multi-task serving ({result['machine']['cpu']}, "
        f"{_common.describe_features(result['machine'])}, "
        f"{settings['threads']} threads)",
        "",
        f"`{result['command']}`; batches of {settings['batch']} real dev "
        f"examples, raw strings in (tokenization timed), median of "
        f"{settings['repeats']} calls per process, median over "
        f"{settings['rounds']} round(s). AdapterHub weights are random "
        "(speed and memory only).",
        "",
        "| variant | peak RSS (MiB) | RSS after load (MiB) | mixed batch "
        "(ex/s) | mixed, grouped by task (ex/s) | single-task batches, own "
        "signature (ex/s) | single-task batches, serving_default (ex/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, row in summary["variants"].items():
        lines.append(
            f"| {variant} | {cell(row.get('peak_rss_mb'))} | "
            f"{cell(row.get('rss_after_load_mb'))} | "
            f"{cell(row.get('mixed_examples_per_second'))} | "
            f"{cell(row.get('mixed_grouped_examples_per_second'))} | "
            f"{cell(row.get('single_task_examples_per_second_signature'))} | "
            f"{cell(row.get('single_task_examples_per_second_serving_default'))}"
            " |"
        )
    lines += ["", "| ratio | value | target | met |", "|---|---|---|---|"]
    for name, entry in summary["targets"].items():
        lines.append(
            f"| {name} | {cell(entry['value'])} | {entry['target']} | "
            f"{cell(entry.get('met'))} |"
        )
    lines += [
        "",
        "Growth with the number of tasks (our multi-task SavedModel):",
        "",
        "| tasks | saved_model.pb (MiB) | variables (MiB) | peak RSS (MiB) "
        "| RSS after load (MiB) | mixed batch (ex/s) | CoLA batch via "
        "serving_default (ex/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    single = result.get("savedmodel_sizes", {}).get("single", {})
    for row in summary["growth"].values():
        lines.append(
            f"| {row['tasks']} | {cell(row.get('graph_mib'))} | "
            f"{cell(row.get('variables_mib'))} | {cell(row['peak_rss_mb'])} | "
            f"{cell(row['rss_after_load_mb'])} | "
            f"{cell(row['mixed_examples_per_second'])} | "
            f"{cell(row['cola_batch_examples_per_second'])} |"
        )
    if single:
        lines += [
            "",
            f"The single-task SavedModel: saved_model.pb "
            f"{single['graph_mib']} MiB, variables "
            f"{single['variables_mib']} MiB. The multi-task SavedModel "
            "holds serving_default plus one signature per task, each a "
            "traced copy of the whole model's graph.",
        ]
    lines += [
        "",
        "Dev scores of the short training runs (the artifacts served):",
        "",
        "| task | metric | dev score | train rows | steps |",
        "|---|---|---|---|---|",
    ]
    for task, score in result["tasks"].items():
        lines.append(
            f"| {task} | {score['metric']} | {score['dev_score']} | "
            f"{score['train_rows']:,} | {score['global_step']} |"
        )
    widths = summary.get("padded_widths")
    if widths:
        lines += [
            "",
            "Padded width of each batch (tokens, Hugging Face tokenizer): "
            + ", ".join(f"{name} {width}" for name, width in widths.items())
            + ".",
        ]
    lines += ["", *[f"- {note}" for note in result["notes"]], ""]
    return "\n".join(lines)


NOTES = (
    "QNLI: ../shared/data/glue/QNLI has no train.tsv; the task trained on "
    "the first 3,000 dev rows and is scored (and served) on the other "
    "2,463.",
    "16 tasks: the 4 real artifacts plus 3 copies of each with every stored "
    "value perturbed by Gaussian noise of 1 % of its tensor's standard "
    "deviation (distinct weights, same shapes).",
    "Mixed batch: a quarter per task, interleaved; single-task batches: "
    "`--batch` dev rows of one task, the first quarter of them those in the "
    "mixed batch. A "
    "mixed batch is padded to its longest example (often a QNLI or MRPC "
    "pair), so its CoLA and SST-2 rows cost more than in their own batches.",
    "`separate`: the four single-task SavedModels in one process, the "
    "mixed batch split by task and each part served by its model.",
    "AdapterHub 1.3.0: one BertAdapterModel (MiniLM), four "
    "DoubleSeqBnConfig(reduction_factor=6, non_linearity='gelu') adapters "
    "(bottleneck 64 after attention and feedforward) and four heads "
    "(pooler + dense); random adapter and head weights; `batchsplit` sorts "
    "the batch by task and runs BatchSplit(batch_sizes=...) then restores "
    "the order, `parallel` runs Parallel (every example through every "
    "adapter) and keeps each example's own head. Its LayerNorms are shared "
    "(ours are per task).",
)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed calls per batch"
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed calls per batch"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated subset of " + ", ".join(VARIANTS),
    )
    parser.add_argument("--no_peer", action="store_true")
    parser.add_argument(
        "--work_dir",
        default=None,
        help="prepared tasks and SavedModels (cached); default "
        "build/multitask_serving, with --quick "
        "/tmp/keras_adapters_bench/multitask_serving_quick",
    )
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument(
        "--preset", default=None, help="BERT folder (default: MiniLM)"
    )
    parser.add_argument("--prepare_only", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 64 train/dev rows per task, batch 8, 1 round, "
        "3 repeats, results under /tmp/keras_adapters_bench",
    )
    parser.add_argument("--out_dir", default=None)
    parser.add_argument("--child_timeout", type=int, default=1800)
    # Internal: one measurement.
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--task", default="cola", help=argparse.SUPPRESS)
    parser.add_argument("--quick_rows", type=int, default=64)
    args = parser.parse_args()
    if args.child:
        _common.set_thread_env(args.threads)
        child_ours(args)
        return
    if args.quick:
        args.rounds, args.repeats, args.warmup = 1, 3, 1
        args.batch = 8
        args.out_dir = args.out_dir or "/tmp/keras_adapters_bench"
        args.work_dir = args.work_dir or os.path.join(
            "/tmp/keras_adapters_bench", "multitask_serving_quick"
        )
    args.work_dir = os.path.abspath(
        args.work_dir or os.path.join(_common.REPO, "build", NAME)
    )
    args.preset = args.preset or _common.minilm_folder()
    if args.batch % len(TASKS):
        sys.exit(
            f"multitask_serving: --batch must be a multiple of {len(TASKS)}."
        )
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        sys.exit(
            f"multitask_serving: unknown --variants {', '.join(unknown)}; "
            f"choose from {', '.join(VARIANTS)}."
        )
    if args.no_peer:
        variants = [v for v in variants if v not in PEER]
    machine = _common.machine()  # load average before our own work
    start = time.perf_counter()
    scores = prepare(args)
    sizes = export_sizes(args)
    prepare_seconds = round(time.perf_counter() - start, 1)
    if args.prepare_only:
        return
    if any(v in PEER for v in variants):
        peer_env.ensure()
    runs = []
    for round_index in range(args.rounds):
        order = variants if round_index % 2 == 0 else variants[::-1]
        for variant in order:
            run = run_variant(args, variant)
            run["round"] = round_index
            runs.append(run)
    versions = _common.keras_versions()
    for run in runs:
        versions.update(run.pop("versions", {}))
    result = {
        "benchmark": "serving 4 (and 1, 16) adapter tasks of MiniLM-L6: one "
        "multi-task SavedModel vs single-task SavedModels vs AdapterHub",
        "command": _common.command_line(),
        "machine": machine,
        "versions": versions,
        "settings": {
            "batch": args.batch,
            "threads": args.threads,
            "rounds": args.rounds,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "max_seq_length": args.seq,
            "adapter_size": 64,
            "prepare_seconds": prepare_seconds,
            "work_dir": args.work_dir,
            "quick": args.quick,
        },
        "tasks": scores,
        "notes": list(NOTES),
        "savedmodel_sizes": sizes,
        "summary": summarize(runs, variants, args, sizes),
        "runs": runs,
    }
    _common.write_results(args.out_dir, NAME, result, markdown)


if __name__ == "__main__":
    main()
