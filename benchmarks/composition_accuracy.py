"""AdapterFusion against single adapters on MiniLM, measured (issue #24.4).

Single-task adapters for CoLA, SST-2, MRPC and QNLI on the real GLUE
files, with `run_classifier.py` (AdapterHub's Pfeiffer adapters,
`--adapter_config=pfeiffer`: the architecture of the AdapterFusion paper),
seed 1. Then for MRPC, and then for CoLA: single adapters with seeds 2 and
3 (the single-adapter baseline, with seed 1), and AdapterFusion over the
four seed-1 adapters (each target's own adapter included, as the paper
does), seeds 1, 2, 3, with `run_classifier.py --fusion=...` and the same
budget (epochs, batch, sequence length) as the single adapters. Stage
`singles` leaves the fusion runs out.

Budget (2 shared CPU cores): 3 epochs, batch 32, sequence length 128;
SST-2 on its first 8,000 training rows; QNLI has no train.tsv here, so its
first 3,000 dev rows train and the other 2,463 are its dev set. Every run
is a `run_classifier.py` command (written into the results with its wall
time); a rerun skips runs whose `eval_results.json` exists.

    python benchmarks/composition_accuracy.py               # both stages
    python benchmarks/composition_accuracy.py --stage singles
    python benchmarks/composition_accuracy.py --quick       # smoke test
    python benchmarks/composition_accuracy.py --report_only # runs so far

Writes benchmarks/results/composition_accuracy.json and .md.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

NAME = "composition_accuracy"
# GLUE folder, header row, the dev metric reported, training rows used.
TASKS = {
    "cola": {"glue": "CoLA", "header": False, "metric": "mcc"},
    "sst2": {
        "glue": "SST-2",
        "header": True,
        "metric": "accuracy",
        "max_train_examples": 8000,
    },
    "mrpc": {"glue": "MRPC", "header": True, "metric": "f1"},
    "qnli": {"glue": "QNLI", "header": True, "metric": "accuracy"},
}
# QNLI has no train.tsv here: its first dev rows train, the rest is dev.
QNLI_TRAIN_ROWS = 3000
TARGETS = ("mrpc", "cola")
SEEDS = (1, 2, 3)
ADAPTER_SEED = 1
# The budget every run shares.
COMMON_FLAGS = {
    "max_seq_length": 128,
    "train_batch_size": 32,
    "num_train_epochs": 3,
    "do_train": True,
    "do_eval": True,
}
SINGLE_FLAGS = {"adapter_config": "pfeiffer", "learning_rate": 1e-3}
FUSION_FLAGS = {"learning_rate": 5e-4}
# AdapterFusion paper (arXiv 2005.00247), Table 1, BERT-base dev: single
# task adapters (ST-A) and AdapterFusion (ST-A fusion).
PAPER = {
    "MRPC": (85.2, 90.3),
    "RTE": (71.0, 76.8),
    "CB": (86.1, 92.1),
    "MNLI": (84.3, 84.3),
}


def log(message):
    print(message, flush=True)


def read_rows(path, header):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return (rows[0], rows[1:]) if header else (None, rows)


def write_rows(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in ([header] if header else []) + rows:
            handle.write("\t".join(row) + "\n")


def data_dirs(args):
    """`{task: data_dir}`: GLUE's folders, QNLI's dev split, or (`--quick`)
    tiny copies."""
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
            train, dev = train[:64], dev[:32]
        write_rows(os.path.join(target, "train.tsv"), header, train)
        write_rows(os.path.join(target, "dev.tsv"), header, dev)
    return folders


def run_dir(args, kind, task, seed):
    return os.path.join(args.work_dir, "runs", f"{kind}_{task}_seed{seed}")


def train(args, kind, task, seed, folders, flags):
    """One `run_classifier.py` run (skipped when its results exist)."""
    output_dir = run_dir(args, kind, task, seed)
    results = os.path.join(output_dir, "eval_results.json")
    spec = TASKS[task]
    flags = dict(
        COMMON_FLAGS,
        task_name=spec["glue"],
        data_dir=folders[task],
        output_dir=output_dir,
        preset=args.preset,
        seed=seed,
        max_train_examples=spec.get("max_train_examples"),
        **flags,
    )
    if args.quick:
        flags.update(num_train_epochs=1, max_train_examples=None)
    argv = [
        sys.executable,
        os.path.join(_common.REPO, "run_classifier.py"),
    ] + _common.child_flags(flags)
    record_path = os.path.join(output_dir, "benchmark_run.json")
    if args.report_only and not os.path.isfile(results):
        return None
    if not os.path.isfile(results):
        log(f"-> {kind} {task} seed {seed}")
        start = time.perf_counter()
        done = subprocess.run(
            argv, capture_output=True, text=True, cwd=_common.REPO
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-20:]
            sys.stderr.write("\n".join(tail) + "\n")
            sys.exit(f"{NAME}: {kind} {task} seed {seed} failed.")
        wall = round(time.perf_counter() - start, 1)
        _common.write_json(record_path, {"wall_seconds": wall})
        log(f"   done in {wall:.0f} s")
    with open(results) as handle:
        evaluation = json.load(handle)
    with open(record_path) as handle:
        wall = json.load(handle)["wall_seconds"]
    return {
        "kind": kind,
        "task": task,
        "seed": seed,
        "metric": spec["metric"],
        "dev_score": evaluation[f"eval_{spec['metric']}"],
        "dev_accuracy": evaluation.get("eval_accuracy"),
        "global_step": evaluation["global_step"],
        "wall_seconds": wall,
        "command": "python run_classifier.py "
        + " ".join(
            _common.child_flags(
                {
                    key: shown(args, key, value)
                    for key, value in flags.items()
                    if key != "preset"
                }
            )
        )
        + " --preset=$MINILM",
    }


def shown(args, key, value):
    """A flag's value as the results show it: GLUE's folders under
    `$GLUE_DIR`, this benchmark's own folders relative to the repository."""

    def path(folder):
        if os.path.abspath(folder).startswith(os.path.abspath(args.glue_dir)):
            relative = os.path.relpath(folder, args.glue_dir)
            return f"$GLUE_DIR/{relative}"
        return os.path.relpath(folder, _common.REPO)

    if key in ("data_dir", "output_dir"):
        return path(value)
    if key == "fusion":
        pairs = (pair.split("=", 1) for pair in value.split(","))
        return ",".join(f"{name}={path(folder)}" for name, folder in pairs)
    return value


def adapters(args, folders):
    """The seed-1 single adapters of every task (the ones fused)."""
    return [
        train(args, "single", task, ADAPTER_SEED, folders, SINGLE_FLAGS)
        for task in TASKS
    ]


def target_runs(args, folders, task, with_fusion):
    """A target's runs, seed by seed: its single adapter (seed 1 is the
    fused one, already run), then (`with_fusion`) its fusion; one target's
    comparison is complete before the next target's starts, and a partial
    run has both sides of its first seeds."""
    flags = dict(FUSION_FLAGS, fusion=fusion_value(args))
    rows = []
    for seed in SEEDS:
        if seed != ADAPTER_SEED:
            rows.append(
                train(args, "single", task, seed, folders, SINGLE_FLAGS)
            )
        if with_fusion:
            rows.append(train(args, "fusion", task, seed, folders, flags))
    return rows


def fusion_value(args):
    """`--fusion`'s value: the four seed-1 adapters."""
    folders = {
        task: os.path.join(
            run_dir(args, "single", task, ADAPTER_SEED), "adapters"
        )
        for task in TASKS
    }
    return ",".join(f"{task}={folder}" for task, folder in folders.items())


def summary(rows):
    """Mean, sample standard deviation and the scores per (kind, task)."""
    groups = {}
    for row in rows:
        groups.setdefault((row["kind"], row["task"]), []).append(row)
    table = {}
    for (kind, task), group in groups.items():
        scores = [100 * row["dev_score"] for row in group]
        table[f"{kind}/{task}"] = {
            "metric": group[0]["metric"],
            "seeds": [row["seed"] for row in group],
            "scores": [round(score, 2) for score in scores],
            "mean": round(statistics.mean(scores), 2),
            "std": round(statistics.stdev(scores), 2)
            if len(scores) > 1
            else None,
        }
    return table


def markdown(result):
    table = result["summary"]
    lines = [
        "# AdapterFusion vs single adapters on MiniLM (GLUE dev)",
        "",
        f"Machine: {result['machine']['cpu']} "
        f"({_common.describe_features(result['machine'])}), shared. "
        f"Command: `{result['command']}`.",
        "",
        "| task (metric) | single adapter: mean ± std (each seed) | "
        "AdapterFusion over CoLA, SST-2, MRPC, QNLI | difference |",
        "|---|---|---|---|",
    ]
    for task in TARGETS:
        single = table.get(f"single/{task}")
        fused = table.get(f"fusion/{task}")
        if not single or not fused:
            continue

        def cell(entry):
            scores = ", ".join(f"{score:.1f}" for score in entry["scores"])
            spread = ""
            if entry["std"] is not None:
                spread = f" ± {entry['std']:.1f}"
            return f"{entry['mean']:.1f}{spread} ({scores})"

        lines.append(
            f"| {TASKS[task]['glue']} ({single['metric']}) | {cell(single)} "
            f"| {cell(fused)} | {fused['mean'] - single['mean']:+.1f} |"
        )
    paper = ", ".join(
        f"{task} {single} -> {fused}"
        for task, (single, fused) in result["paper_table_1_bert_base"].items()
    )
    lines += [
        "",
        "Budget of every run: "
        f"{result['budget']['common']['num_train_epochs']} epochs, batch "
        f"{result['budget']['common']['train_batch_size']}, sequence length "
        f"{result['budget']['common']['max_seq_length']}; single adapters "
        f"{SINGLE_FLAGS['adapter_config']}, learning rate "
        f"{SINGLE_FLAGS['learning_rate']:g}; fusion learning rate "
        f"{FUSION_FLAGS['learning_rate']:g}. The "
        "AdapterFusion paper (Table 1, BERT-base dev, single adapter -> "
        f"fusion): {paper}.",
        "",
        "The adapters fused (seed 1):",
        "",
        "| task (metric) | dev score | steps | wall time (s) |",
        "|---|---|---|---|",
    ]
    for row in result["runs"]:
        if row["kind"] == "single" and row["seed"] == ADAPTER_SEED:
            lines.append(
                f"| {TASKS[row['task']]['glue']} ({row['metric']}) "
                f"| {100 * row['dev_score']:.1f} | {row['global_step']} "
                f"| {row['wall_seconds']:.0f} |"
            )
    lines += ["", "Every run:", ""]
    lines += [f"- `{row['command']}`" for row in result["runs"]]
    lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--stage", choices=("singles", "fusion", "all"), default="all"
    )
    parser.add_argument(
        "--work_dir", default=os.path.join(_common.REPO, "build", NAME)
    )
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--out_dir", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--report_only",
        action="store_true",
        help="Report the runs done so far; start none.",
    )
    args = parser.parse_args()
    args.preset = args.preset or _common.minilm_folder()
    if args.quick:
        args.work_dir = "/tmp/keras_adapters_bench/" + NAME
        args.out_dir = args.out_dir or "/tmp/keras_adapters_bench"
    folders = data_dirs(args)
    rows = adapters(args, folders)
    for task in TARGETS:
        rows += target_runs(args, folders, task, args.stage != "singles")
    rows = [row for row in rows if row is not None]
    result = {
        "benchmark": NAME,
        "machine": _common.machine(),
        "versions": _common.keras_versions(),
        "command": _common.command_line(),
        "budget": {
            "common": COMMON_FLAGS,
            "single": SINGLE_FLAGS,
            "fusion": FUSION_FLAGS,
            "sst2_train_rows": TASKS["sst2"]["max_train_examples"],
            "qnli": f"first {QNLI_TRAIN_ROWS} dev rows train, the rest "
            "is the dev set",
        },
        "paper_table_1_bert_base": PAPER,
        "runs": rows,
        "summary": summary(rows),
    }
    _common.write_results(args.out_dir, NAME, result, markdown)


if __name__ == "__main__":
    main()
