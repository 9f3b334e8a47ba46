"""The results table and the parameters-versus-score plot of the GLUE sweep.

Reads every `benchmarks/results/accuracy/<task>/*.json` that
`glue_accuracy.py` wrote. For each task and tuning mode, the learning rate
is chosen by dev (the mean over seeds of each run's best epoch), as the
paper selects by validation; the table gives that score, the seeds'
spread, the epoch it came from and the score after the last epoch.

    python benchmarks/accuracy_report.py

Writes benchmarks/results/accuracy.md and benchmarks/results/params_vs_score.png
(needs matplotlib: `pip install matplotlib`).
"""

import argparse
import collections
import glob
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

ACCURACY_DIR = os.path.join(_common.RESULTS_DIR, "accuracy")
TASK_ORDER = ("CoLA", "MRPC", "SST-2")
MODE_ORDER = (
    "adapters-8",
    "adapters-64",
    "adapters-64+pooler",
    "adapters-256",
    "layer_norm",
    "top_k-1",
    "top_k-2",
    "full",
)


def load_runs(folder):
    runs = []
    for path in sorted(glob.glob(os.path.join(folder, "*", "*.json"))):
        with open(path) as handle:
            runs.append(json.load(handle))
    return runs


def mode_label(run):
    """The run's mode, with its optimizer settings when not the original."""
    label = run["mode"]
    if run.get("adam_epsilon", 1e-6) != 1e-6:
        label += f", eps {run['adam_epsilon']:g}"
    if run.get("optimizer", "adam_weight_decay") != "adam_weight_decay":
        label += f", {run['optimizer']}"
    return label


def epoch_score(run, row):
    return row["eval_" + run["primary_metric"]]


def accuracy_beside(metric, values, prefix=""):
    """`values[prefix + "accuracy"]` where accuracy is not already the
    primary `metric` (MRPC reports F1 and accuracy), else None."""
    if metric == "accuracy":
        return None
    return values.get(prefix + "accuracy")


def summarize_rate(seeds):
    """One learning rate's runs (its seeds) in one summary."""
    first = seeds[0]
    best_epochs = [
        max(r["per_epoch"], key=lambda e: epoch_score(r, e)) for r in seeds
    ]
    scores = [epoch_score(r, e) for r, e in zip(seeds, best_epochs)]
    accuracies = [
        accuracy_beside(r["primary_metric"], e, "eval_")
        for r, e in zip(seeds, best_epochs)
    ]
    return {
        "task": first["task"],
        "mode": mode_label(first),
        "learning_rate": first["learning_rate"],
        "metric": first["primary_metric"],
        "score": statistics.mean(scores),
        "seed_scores": scores,
        "accuracy": (
            statistics.mean(accuracies) if None not in accuracies else None
        ),
        "best_epochs": [e["epoch"] for e in best_epochs],
        "epochs": first["epochs"],
        "final": statistics.mean(
            epoch_score(r, r["per_epoch"][-1]) for r in seeds
        ),
        "trained_parameters": first["trained_parameters"],
        "total_parameters": first["total_parameters"],
        "train_examples": first["train_examples"],
        "train_minutes": statistics.mean(
            r["per_epoch"][-1]["train_seconds"] for r in seeds
        )
        / 60,
        "majority": first["majority_class"],
    }


def summarize(runs):
    """`{(task, mode): summary}` with the learning rate (and epoch budget)
    chosen by dev; runs that differ only in their seed are averaged."""
    by_rate = collections.defaultdict(list)
    for run in runs:
        key = (
            run["task"],
            mode_label(run),
            run["learning_rate"],
            run["epochs"],
        )
        by_rate[key].append(run)
    by_mode = collections.defaultdict(list)
    for (task, mode, _, _), seeds in by_rate.items():
        by_mode[(task, mode)].append(summarize_rate(seeds))
    best = {}
    for key, rates in by_mode.items():
        best[key] = dict(
            max(rates, key=lambda r: r["score"]),
            tried=sorted((r["learning_rate"], r["epochs"]) for r in rates),
        )
    return best


def ordered(keys, order):
    rank = {name: i for i, name in enumerate(order)}
    return sorted(
        keys, key=lambda k: (rank.get(k.split(",")[0], len(order)), k)
    )


def markdown_table(best):
    lines = [
        "| task (metric, train rows) | mode | trained params (% of model) | "
        "best dev (lr, epoch) | seeds | after last epoch | lr x epochs tried | "
        "train min/run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    tasks = ordered({t for t, _ in best}, TASK_ORDER)
    for task in tasks:
        modes = ordered({m for t, m in best if t == task}, MODE_ORDER)
        for index, mode in enumerate(modes):
            s = best[(task, mode)]
            share = 100 * s["trained_parameters"] / s["total_parameters"]
            seeds = " / ".join(f"{100 * v:.1f}" for v in s["seed_scores"])
            epochs = "/".join(str(e) for e in s["best_epochs"])
            accuracy = (
                ""
                if s["accuracy"] is None
                else f"acc {100 * s['accuracy']:.1f}; "
            )
            lines.append(
                f"| {task} ({s['metric']}, {s['train_examples']:,}) | {mode} | "
                f"{s['trained_parameters']:,} ({share:.2f} %) | "
                f"**{100 * s['score']:.1f}** "
                f"({accuracy}{s['learning_rate']:g}, "
                f"ep {epochs} of {s['epochs']:g}) | {seeds} | "
                f"{100 * s['final']:.1f} | "
                f"{', '.join(f'{r:g} x {e:g}' for r, e in s['tried'])} | "
                f"{s['train_minutes']:.1f} |"
            )
        majority = best[(task, modes[0])]["majority"]
        metric = best[(task, modes[0])]["metric"]
        dev = majority.get("dev", {})
        if metric in dev:
            value = accuracy_beside(metric, dev)
            accuracy = "" if value is None else f" (acc {100 * value:.1f})"
            lines.append(
                f"| {task} | majority class ('{majority['label']}') | 0 | "
                f"{100 * dev[metric]:.1f}{accuracy} | | | | |"
            )
    return "\n".join(lines)


def plot(best, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = ordered({t for t, _ in best}, TASK_ORDER)
    figure, axes = plt.subplots(
        1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False
    )
    for axis, task in zip(axes[0], tasks):
        modes = ordered({m for t, m in best if t == task}, MODE_ORDER)
        for index, mode in enumerate(modes):
            s = best[(task, mode)]
            marker = "o" if mode.startswith("adapters") else "s"
            axis.scatter(
                s["trained_parameters"], 100 * s["score"], marker=marker, s=36
            )
            if len(s["seed_scores"]) > 1:
                axis.vlines(
                    s["trained_parameters"],
                    100 * min(s["seed_scores"]),
                    100 * max(s["seed_scores"]),
                    linewidth=1,
                )
            axis.annotate(
                mode,
                (s["trained_parameters"], 100 * s["score"]),
                textcoords="offset points",
                xytext=(5, 10 * (index % 3) - 10),
                fontsize=7,
            )
        majority = best[(task, modes[0])]["majority"].get("dev", {})
        metric = best[(task, modes[0])]["metric"]
        if metric in majority:
            axis.axhline(
                100 * majority[metric],
                color="grey",
                linestyle=":",
                linewidth=1,
                label="majority class",
            )
            axis.legend(fontsize=7, loc="center right")
        axis.set_xscale("log")
        axis.set_xlim(4e3, 1e8)
        axis.set_xlabel("trained parameters per task (log)")
        axis.set_ylabel(f"dev {metric} x 100")
        axis.set_title(f"{task} (MiniLM-L6)", fontsize=10)
        axis.grid(True, which="both", linewidth=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in_dir", default=ACCURACY_DIR)
    parser.add_argument("--out_dir", default=_common.RESULTS_DIR)
    args = parser.parse_args()
    runs = load_runs(args.in_dir)
    if not runs:
        sys.exit(
            f"accuracy_report: no results under {args.in_dir}; run "
            "benchmarks/glue_accuracy.py first."
        )
    best = summarize(runs)
    table = markdown_table(best)
    path = os.path.join(args.out_dir, "accuracy.md")
    with open(path, "w") as handle:
        handle.write(
            "Dev scores of MiniLM-L6 by tuning mode "
            "(benchmarks/accuracy_report.py)\n\n" + table + "\n"
        )
    print(table)
    print(f"wrote {path}")
    plot(best, os.path.join(args.out_dir, "params_vs_score.png"))


if __name__ == "__main__":
    main()
