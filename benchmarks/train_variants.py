"""Whole training runs: all-block adapters vs AdapterDrop, with and without
the cached frozen prefix, float32 and bfloat16, against AdapterHub
(issue #17 item 5).

Each of our configurations is one `run_classifier.py` command, the README
recipe (MiniLM-L6, `--adapter_size=64`, every other flag at its default:
3 epochs, batch 32, learning rate 3e-4, `--max_seq_length=128`) with
`--do_train --do_eval`, in a fresh output folder:

    all         adapters in all 6 blocks
    top4        --adapter_layers=4 --freeze_below_adapters
    top4_cache  the same with --cache_frozen_prefix
    top3        --adapter_layers=3 --freeze_below_adapters
    top3_cache  the same with --cache_frozen_prefix
    top4_cache_xla  top4_cache with --jit_compile=true (not in the
                default set)

at `--mixed_precision=fp32` and `bf16`. AdapterHub's side is
`peer_train_run.py` in `.peer_venv`: the same CoLA run (load, tokenize, 3
epochs, dev), float32 (its default) and `torch.autocast(bfloat16)`. Both
sides on `--threads` threads; the two sides and the configurations
alternate in the run order.

Per command: the whole wall time (start to exit: imports, model, data,
cache, training, and on our side the adapter artifact and SavedModel
export too, then dev), the training time (from the model built to the
last training step: data encoding, prefix cache, tracing and every step;
the last step's time is `train_log.tsv`'s modification time), the dev
scores (`eval_results.json`: MCC for CoLA, F1 and accuracy for MRPC,
accuracy for SST-2) and the peak RSS (`ru_maxrss` of the child, from
`os.wait4`; a /proc sample of the process tree beside it).

    python benchmarks/train_variants.py --resume               # everything
    python benchmarks/train_variants.py --tasks CoLA --resume  # in pieces
    python benchmarks/train_variants.py --quick                # smoke test

AdapterHub runs only when CoLA is in `--tasks` (`--sides` picks ours,
adapterhub or both); `--dry_run` prints the order and the estimate.

Every finished command is written at once to `train_variants.json` and
`.md`; `--resume` keeps that file's results and runs only what is missing.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import peer_env  # noqa: E402
import rss_timeline  # noqa: E402

NAME = "train_variants"
CONFIGS = {
    "all": [],
    "top4": ["--adapter_layers=4", "--freeze_below_adapters"],
    "top4_cache": [
        "--adapter_layers=4",
        "--freeze_below_adapters",
        "--cache_frozen_prefix",
    ],
    "top3": ["--adapter_layers=3", "--freeze_below_adapters"],
    "top3_cache": [
        "--adapter_layers=3",
        "--freeze_below_adapters",
        "--cache_frozen_prefix",
    ],
    # The same with XLA (one compile per batch width).
    "top4_cache_xla": [
        "--adapter_layers=4",
        "--freeze_below_adapters",
        "--cache_frozen_prefix",
        "--jit_compile=true",
    ],
}
PRECISIONS = ("fp32", "bf16")
TASKS = ("CoLA", "MRPC", "SST-2")
METRICS = {"CoLA": ["mcc"], "MRPC": ["f1", "accuracy"], "SST-2": ["accuracy"]}

# Rough whole-command seconds on a quiet 2-core AVX512_BF16 EPYC, 3 epochs
# on the whole training file, `all` at fp32 (CoLA: precision_cola.md), and
# the factors of the other configurations and of bf16 (guesses, to be
# replaced by the measurement). Used only for the estimate printed at start.
EST_ALL_FP32 = {"CoLA": 160.0, "MRPC": 380.0, "SST-2": 20 + 140 * 67349 / 8551}
EST_FIXED = 20.0  # imports, model, export, dev: not scaled by data
EST_CONFIG = {
    "all": 1.0,
    "top4": 0.8,
    "top4_cache": 0.6,
    "top3": 0.7,
    "top3_cache": 0.5,
    "top4_cache_xla": 0.5,
}
EST_BF16 = 0.7
EST_PEER = {"fp32": 380.0, "bf16": 240.0}  # CoLA, 3 epochs + dev, 2 threads
TRAIN_EXAMPLES = {"CoLA": 8551, "MRPC": 3668, "SST-2": 67349}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument(
        "--configs",
        default="all,top4,top4_cache,top3,top3_cache",
        help="of " + ", ".join(CONFIGS),
    )
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument(
        "--seeds",
        default="12345,2",
        help="CoLA's seeds (and AdapterHub's); the other tasks run the "
        "first one only unless --all_seeds",
    )
    parser.add_argument(
        "--all_seeds",
        action="store_true",
        help="every seed on every task",
    )
    parser.add_argument(
        "--sides",
        default="ours,adapterhub",
        help="ours, adapterhub or both",
    )
    parser.add_argument(
        "--peer_precisions",
        default=",".join(PRECISIONS),
        help="AdapterHub: fp32 (its default), bf16 (torch.autocast)",
    )
    parser.add_argument(
        "--max_train_examples",
        type=int,
        default=8000,
        help="SST-2 trains on its first N rows (0: all 67,349); the "
        "other tasks on everything",
    )
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--preset",
        default=None,
        help="BERT folder (default: the MiniLM package)",
    )
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument(
        "--work_dir",
        default=os.path.join(tempfile.gettempdir(), "keras_adapters_tv"),
        help="output folders and logs of the commands (each output "
        "folder is removed once read; the logs stay)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the results file's finished commands, run the rest",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=4 * 3600,
        help="seconds before one command is killed",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: CoLA, 64 examples, 1 epoch, all and top3_cache "
        "at bf16, one seed, AdapterHub fp32 and bf16; results under "
        "/tmp/keras_adapters_bench",
    )
    parser.add_argument(
        "--out_dir",
        default=None,
        help="results folder (default benchmarks/results, "
        "or /tmp/keras_adapters_bench with --quick)",
    )
    parser.add_argument(
        "--dry_run",
        action="store_true",
        help="print the run order and the estimate, run nothing",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.configs, args.precisions = (
            "CoLA",
            "all,top3_cache",
            "bf16",
        )
        args.seeds, args.epochs = "12345", 1.0
        args.out_dir = args.out_dir or "/tmp/keras_adapters_bench"
        args.work_dir = os.path.join(args.work_dir, "quick")
    args.tasks = _names(args.tasks, TASKS, "--tasks")
    args.configs = _names(args.configs, CONFIGS, "--configs")
    args.precisions = _names(args.precisions, PRECISIONS, "--precisions")
    args.peer_precisions = _names(
        args.peer_precisions, PRECISIONS, "--peer_precisions"
    )
    args.sides = _names(args.sides, ("ours", "adapterhub"), "--sides")
    args.seeds = _common.int_list(args.seeds)
    if not args.seeds:
        sys.exit("train_variants: --seeds is empty.")
    return args


def _names(text, known, flag):
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in known]
    if unknown:
        sys.exit(
            f"train_variants: unknown {flag} {', '.join(unknown)}; "
            f"choose from {', '.join(known)}."
        )
    return names


def train_limit(args, task):
    """Training rows of `task` (0: the whole file)."""
    if args.quick:
        return 64
    return args.max_train_examples if task == "SST-2" else 0


def settings(args):
    """What every result in the file must share."""
    return {
        "epochs": args.epochs,
        "threads": args.threads,
        "adapter_size": 64,
        "train_examples_limit": {t: train_limit(args, t) for t in TASKS},
        "quick": args.quick,
    }


# -- the run order ------------------------------------------------------


def job_key(job):
    if job["side"] == "adapterhub":
        return f"adapterhub/CoLA/{job['precision']}/seed{job['seed']}"
    return (
        f"ours/{job['task']}/{job['config']}/{job['precision']}/"
        f"seed{job['seed']}"
    )


def our_jobs(args, task):
    """One task's commands, seed by seed; within a seed the configurations
    and the precisions alternate, the second seed in reverse order."""
    seeds = args.seeds if task == "CoLA" or args.all_seeds else args.seeds[:1]
    pairs = []
    for shift in range(len(args.precisions)):
        for i, config in enumerate(args.configs):
            precision = args.precisions[(i + shift) % len(args.precisions)]
            pairs.append((config, precision))
    jobs = []
    for n, seed in enumerate(seeds):
        order = pairs if n % 2 == 0 else pairs[::-1]
        for config, precision in order:
            jobs.append(
                {
                    "side": "ours",
                    "task": task,
                    "config": config,
                    "precision": precision,
                    "seed": seed,
                }
            )
    return jobs


def peer_jobs(args):
    jobs = []
    for n, seed in enumerate(args.seeds):
        order = args.peer_precisions
        for precision in order if n % 2 == 0 else order[::-1]:
            jobs.append(
                {
                    "side": "adapterhub",
                    "task": "CoLA",
                    "precision": precision,
                    "seed": seed,
                }
            )
    return jobs


def interleave(ours, theirs):
    """`theirs` spread evenly through `ours` (one of theirs first)."""
    if not ours or not theirs:
        return ours + theirs
    jobs, gap = [], len(ours) / len(theirs)
    positions = [int(i * gap) for i in range(len(theirs))]
    pending = list(theirs)
    for i, job in enumerate(ours):
        while pending and positions and positions[0] <= i:
            positions.pop(0)
            jobs.append(pending.pop(0))
        jobs.append(job)
    return jobs + pending


def run_order(args):
    jobs = []
    for task in args.tasks:
        ours = our_jobs(args, task) if "ours" in args.sides else []
        theirs = (
            peer_jobs(args)
            if task == "CoLA" and "adapterhub" in args.sides
            else []
        )
        jobs += interleave(ours, theirs)
    return jobs


def estimate_seconds(args, job):
    limit = train_limit(args, job["task"])
    rows = TRAIN_EXAMPLES[job["task"]]
    share = (min(limit, rows) if limit else rows) / rows * args.epochs / 3
    if job["side"] == "adapterhub":
        base = EST_PEER[job["precision"]]
        return EST_FIXED + (base - EST_FIXED) * share
    base = EST_ALL_FP32[job["task"]] - EST_FIXED
    base *= EST_CONFIG[job["config"]]
    if job["precision"] == "bf16":
        base *= EST_BF16
    return EST_FIXED + base * share


def print_estimate(args, jobs):
    parts = {}
    for job in jobs:
        part = "AdapterHub" if job["side"] == "adapterhub" else job["task"]
        parts[part] = parts.get(part, 0.0) + estimate_seconds(args, job)
    total = sum(parts.values())
    detail = ", ".join(f"{k} {v / 60:.0f} min" for k, v in parts.items())
    print(
        f"train_variants: {len(jobs)} commands to run, estimated "
        f"{total / 60:.0f} min on a quiet 2-core machine ({detail}).",
        flush=True,
    )
    return total


# -- one command -------------------------------------------------------


class Watcher(threading.Thread):
    """Samples the child's process tree RSS and notes when its
    `train_log.tsv` first gets a line (the first training step)."""

    def __init__(self, pid, step_log, interval=0.2):
        super().__init__(daemon=True)
        self.pid, self.step_log, self.interval = pid, step_log, interval
        self.peak_mb = 0.0
        self.first_step_time = None
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak_mb = max(self.peak_mb, rss_timeline.tree_rss_mb(self.pid))
            if self.step_log and self.first_step_time is None:
                try:
                    if os.path.getsize(self.step_log) > 0:
                        self.first_step_time = time.time()
                except OSError:
                    pass
            time.sleep(self.interval)


def run_command(argv, log_path, env, timeout, step_log=None, marker=None):
    """Runs `argv`, logging its output with time stamps.

    Returns a dict: `returncode`, `wall` (seconds), `end` (`time.time()`
    at exit), `peak_rss_mb` (the child's `ru_maxrss`), `sampled_mb` (the
    /proc sample of its tree), `lines` (`(time.time(), text)`),
    `marker_time` (the first line matching `marker`) and
    `first_step_time` (when `step_log` got its first line).
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    start_wall = time.time()
    start = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=_common.REPO,
        env=env,
    )
    watcher = Watcher(process.pid, step_log)
    watcher.start()
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    lines, marker_time = [], None
    with open(log_path, "w") as log:
        log.write(" ".join(argv) + "\n")
        for line in process.stdout:
            now = time.time()
            text = line.rstrip("\n")
            # Keras' progress bar: keep its last state only.
            text = text.split("\r")[-1]
            lines.append((now, text))
            log.write(f"{now - start_wall:8.1f}s  {text[:300]}\n")
            if marker and marker_time is None and re.search(marker, text):
                marker_time = now
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    killer.cancel()
    watcher.done.set()
    watcher.join()
    return {
        "returncode": process.returncode,
        "wall": round(wall, 2),
        "end": start_wall + wall,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "sampled_mb": round(watcher.peak_mb, 1),
        "lines": lines,
        "marker_time": marker_time,
        "first_step_time": watcher.first_step_time,
    }


def warm_file_cache(args, preset):
    """Untimed: each side's imports once and the weights read, so that the
    first timed command does not pay for cold disk reads."""
    print("warming the file cache (untimed imports)", flush=True)
    env = child_env(args)
    commands = []
    if "ours" in args.sides:
        commands.append(
            [sys.executable, "-c", "import keras_hub, keras_adapters"]
        )
    if "adapterhub" in args.sides:
        commands.append(
            [_common.PEER_PYTHON, "-c", "import torch, adapters, transformers"]
        )
    for argv in commands:
        subprocess.run(argv, env=env, cwd=_common.REPO, capture_output=True)
    for folder, _, files in os.walk(preset):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                while handle.read(1 << 24):
                    pass


def child_env(args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(args.threads)
    env["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    env["TF_NUM_INTEROP_THREADS"] = str(args.threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def failure(job, done, log_path):
    returncode = done["returncode"]
    tail = [text for _, text in done["lines"][-8:]]
    sys.stderr.write("\n".join(tail) + "\n")
    return {
        **job,
        "error": f"exit {returncode}; log {log_path}: "
        + (tail[-1] if tail else "no output"),
    }


def run_ours(args, job, preset):
    name = job_key(job).replace("/", "_")
    output_dir = os.path.join(args.work_dir, "out", name)
    shutil.rmtree(output_dir, ignore_errors=True)
    log_path = os.path.join(args.work_dir, "logs", name + ".log")
    limit = train_limit(args, job["task"])
    argv = [
        sys.executable,
        os.path.join(_common.REPO, "run_classifier.py"),
        f"--task={job['task']}",
        "--adapter_size=64",
        f"--data_dir={os.path.join(args.glue_dir, job['task'])}",
        f"--preset={preset}",
        "--do_train",
        "--do_eval",
        f"--seed={job['seed']}",
        f"--mixed_precision={job['precision']}",
        f"--num_train_epochs={args.epochs:g}",
        f"--output_dir={output_dir}",
    ]
    if limit:
        argv.append(f"--max_train_examples={limit}")
    argv += CONFIGS[job["config"]]
    step_log = os.path.join(output_dir, "train_log.tsv")
    done = run_command(
        argv,
        log_path,
        child_env(args),
        args.timeout,
        step_log=step_log,
        marker=r"of the parameters train\.",
    )
    if done["returncode"] != 0:
        return failure(job, done, log_path)
    with open(os.path.join(output_dir, "eval_results.json")) as handle:
        scores = json.load(handle)
    last_step = os.path.getmtime(step_log)
    with open(step_log) as handle:
        steps = [line.split("\t") for line in handle if line.strip()]
    built, first = done["marker_time"], done["first_step_time"]
    log = "\n".join(text for _, text in done["lines"])
    result = {
        **job,
        "command": " ".join(["python", "run_classifier.py"] + argv[2:]).replace(
            preset, "$MINILM"
        ),
        "train_examples_limit": limit,
        "steps": int(steps[-1][0]) if steps else 0,
        "final_loss": round(float(steps[-1][1]), 4) if steps else None,
        "dev": {
            k[len("eval_") :]: v
            for k, v in scores.items()
            if k.startswith("eval_")
        },
        "whole_seconds": done["wall"],
        "train_seconds": round(last_step - built, 2) if built else None,
        "to_first_step_seconds": (
            round(first - built, 2) if built and first else None
        ),
        "steps_seconds": round(last_step - first, 2) if first else None,
        "after_training_seconds": round(done["end"] - last_step, 2),
        "peak_rss_mb": done["peak_rss_mb"],
        "peak_rss_sampled_mb": done["sampled_mb"],
        "log": log_path,
    }
    match = re.search(r"Built the prefix cache .* in ([\d.]+) s", log)
    result["cache_build_seconds"] = float(match.group(1)) if match else None
    match = re.search(r"Mixed precision: (.*)", log)
    result["precision_line"] = match.group(1).strip() if match else None
    match = re.search(r"^total\s+([\d,]+)\s+([\d,]+)", log, re.M)
    if match:
        result["trained_parameters"] = int(match.group(1).replace(",", ""))
    match = re.search(r"Prefix cache: (.*)", log)
    result["prefix_cache"] = match.group(1).strip() if match else None
    shutil.rmtree(output_dir, ignore_errors=True)
    return result


def run_peer(args, job, preset):
    name = job_key(job).replace("/", "_")
    log_path = os.path.join(args.work_dir, "logs", name + ".log")
    argv = [
        _common.PEER_PYTHON,
        os.path.join(_common.HERE, "peer_train_run.py"),
        f"--precision={job['precision']}",
        f"--epochs={args.epochs:g}",
        f"--seed={job['seed']}",
        f"--threads={args.threads}",
        f"--preset={preset}",
        f"--glue_dir={args.glue_dir}",
        f"--max_train_examples={train_limit(args, 'CoLA')}",
    ]
    done = run_command(argv, log_path, child_env(args), args.timeout)
    if done["returncode"] != 0:
        return failure(job, done, log_path)
    lines = [text for _, text in done["lines"]]
    found = [t for t in lines if t.startswith(_common.RESULT_PREFIX)]
    if not found:
        return failure(job, done, log_path)
    child = json.loads(found[-1][len(_common.RESULT_PREFIX) :])
    return {
        **job,
        "command": " ".join(
            [".peer_venv/bin/python", "benchmarks/peer_train_run.py"] + argv[2:]
        ).replace(preset, "$MINILM"),
        **{k: v for k, v in child.items() if k not in ("peak_rss_mb",)},
        "dev": {
            "mcc": child["eval_mcc"],
            "accuracy": child["eval_accuracy"],
        },
        "whole_seconds": done["wall"],
        "peak_rss_mb": done["peak_rss_mb"],
        "peak_rss_sampled_mb": done["sampled_mb"],
        "log": log_path,
    }


# -- summaries ---------------------------------------------------------


def _mean(values):
    values = [v for v in values if v is not None]
    return round(statistics.mean(values), 2) if values else None


def summarize(results, args):
    """Per (side, task, config, precision): scores per seed and means."""
    groups = {}
    for job in results.values():
        if "error" in job:
            continue
        config = job.get("config", "adapterhub")
        key = (job["side"], job["task"], config, job["precision"])
        groups.setdefault(key, []).append(job)
    rows = []
    for (side, task, config, precision), jobs in sorted(groups.items()):
        jobs.sort(key=lambda j: args_seed_order(args, j["seed"]))
        metric = METRICS[task][0]
        rows.append(
            {
                "side": side,
                "task": task,
                "config": config,
                "precision": precision,
                "seeds": [j["seed"] for j in jobs],
                "metric": metric,
                "dev_by_seed": [
                    {m: round(100 * j["dev"][m], 2) for m in METRICS[task]}
                    for j in jobs
                ],
                "dev_mean": _mean([100 * j["dev"][metric] for j in jobs]),
                "whole_seconds": _mean([j["whole_seconds"] for j in jobs]),
                "train_seconds": _mean([j.get("train_seconds") for j in jobs]),
                "after_training_seconds": _mean([after(j) for j in jobs]),
                "to_last_step_seconds": _mean(
                    [j["whole_seconds"] - after(j) for j in jobs]
                ),
                "cache_build_seconds": _mean(
                    [j.get("cache_build_seconds") for j in jobs]
                ),
                "peak_rss_mb": max(j["peak_rss_mb"] for j in jobs),
            }
        )
    return rows


def after(job):
    """Seconds from the last training step to the process's exit."""
    if job["side"] == "adapterhub":
        return job["eval_seconds"]
    return job["after_training_seconds"]


def args_seed_order(args, seed):
    seeds = args.seeds if args else []
    return seeds.index(seed) if seed in seeds else len(seeds) + seed


def targets(rows):
    """Issue #17's targets on CoLA, for every variant of ours."""
    peers = [r for r in rows if r["side"] == "adapterhub"]
    ours = [r for r in rows if r["side"] == "ours" and r["task"] == "CoLA"]
    if not peers or not ours:
        return {"note": "needs CoLA rows of both sides"}
    best_peer = min(peers, key=lambda r: r["to_last_step_seconds"])
    all_block = {r["precision"]: r for r in ours if r["config"] == "all"}
    variants = []
    for row in ours:
        base = all_block.get(row["precision"])
        delta = (
            round(row["dev_mean"] - base["dev_mean"], 2)
            if base and row["dev_mean"] is not None
            else None
        )
        speedup = (
            best_peer["to_last_step_seconds"] / row["to_last_step_seconds"]
        )
        whole_speedup = best_peer["whole_seconds"] / row["whole_seconds"]
        train_speedup = (
            best_peer["train_seconds"] / row["train_seconds"]
            if row["train_seconds"] and best_peer["train_seconds"]
            else None
        )
        memory = row["peak_rss_mb"] / best_peer["peak_rss_mb"]
        variants.append(
            {
                "config": row["config"],
                "precision": row["precision"],
                "seeds": len(row["seeds"]),
                "whole_seconds": row["whole_seconds"],
                "to_last_step_seconds": row["to_last_step_seconds"],
                "speedup_over_adapterhub_best": round(speedup, 2),
                "whole_speedup_over_adapterhub_best": round(whole_speedup, 2),
                "train_speedup_over_adapterhub_best": (
                    round(train_speedup, 2) if train_speedup else None
                ),
                "dev_mcc_mean": row["dev_mean"],
                "dev_delta_vs_all_same_precision": delta,
                "rss_over_adapterhub_best": round(memory, 2),
                "speed_met": speedup >= 2.0,
                "accuracy_met": (
                    delta is not None
                    and delta >= -1.0
                    and len(row["seeds"]) >= 2
                ),
                "memory_met": memory <= 1.2,
            }
        )
    eligible = [v for v in variants if v["accuracy_met"]]
    pool = eligible or variants
    best = min(pool, key=lambda v: v["to_last_step_seconds"])
    return {
        "adapterhub_best": {
            "precision": best_peer["precision"],
            "to_last_step_seconds": best_peer["to_last_step_seconds"],
            "whole_seconds": best_peer["whole_seconds"],
            "train_seconds": best_peer["train_seconds"],
            "after_training_seconds": best_peer["after_training_seconds"],
            "dev_mcc_mean": best_peer["dev_mean"],
            "peak_rss_mb": best_peer["peak_rss_mb"],
        },
        "chosen": best,
        "chosen_rule": (
            "the fastest variant whose mean dev MCC over two or more seeds "
            "is at most 1 point below all-block adapters at its precision"
            if eligible
            else "no variant meets the accuracy target with two seeds: "
            "the fastest variant"
        ),
        "variants": sorted(variants, key=lambda v: v["to_last_step_seconds"]),
    }


def _fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(result):
    m = result["machine"]
    s = result["settings"]
    limits = ", ".join(
        f"{t} {n:,} rows" if n else f"{t} all"
        for t, n in s["train_examples_limit"].items()
    )
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    lines = [
        "# Whole training runs: adapters in all blocks vs AdapterDrop and "
        "the cached prefix, float32 vs bfloat16, vs AdapterHub (#17)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; vector "
        f"features {_common.describe_features(m)}; load average at start "
        f"{m['load_average_at_start']}. {s['threads']} threads on both "
        f"sides. Versions: {versions}. {result['date']}.",
        "",
        f"Our runs: `run_classifier.py`, MiniLM-L6, adapter size 64, "
        f"{s['epochs']:g} epochs, every other flag at its default "
        "(batch 32, lr 3e-4, max_seq_length 128, eval batch 8), "
        f"`--do_train --do_eval`. Training data: {limits}. "
        "`all`: adapters in all 6 blocks; `topK`: `--adapter_layers=K "
        "--freeze_below_adapters`; `_cache`: with `--cache_frozen_prefix`. "
        "AdapterHub: `peer_train_run.py` (adapters 1.3.0, "
        "`DoubleSeqBnConfig` m=64, AdamW with the same lr, warm-up and "
        "decay, shuffled batches padded to their longest), CoLA, fp32 or "
        "`torch.autocast(bfloat16)`.",
        "",
        "whole = the command from start to exit (ours includes writing the "
        "adapter artifact and exporting the SavedModel, which AdapterHub's "
        "run does not do); train = from the model built to the last "
        "training step (data encoding, prefix cache, tracing, all steps); "
        "after = from the last training step to exit (ours: adapter "
        "artifact, SavedModel export, dev; AdapterHub: dev only); "
        "peak RSS = the process's `ru_maxrss` (the highest over seeds). "
        "Dev scores x100, one per seed, then the mean.",
        "",
        f"Command: `{result['command']}`",
        "",
        "| task | side / config | precision | dev by seed | dev mean | "
        "whole s | train s | after s | cache s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        by_seed = "; ".join(
            " ".join(f"{k} {v:.2f}" for k, v in scores.items())
            for scores in row["dev_by_seed"]
        )
        seeds = ",".join(str(x) for x in row["seeds"])
        name = "AdapterHub" if row["side"] == "adapterhub" else row["config"]
        lines.append(
            f"| {row['task']} | {name} | {row['precision']} | {by_seed} "
            f"(seeds {seeds}) | {row['metric']} {_fmt(row['dev_mean'], 2)} "
            f"| {_fmt(row['whole_seconds'])} | {_fmt(row['train_seconds'])} "
            f"| {_fmt(row['after_training_seconds'])} "
            f"| {_fmt(row['cache_build_seconds'])} "
            f"| {_fmt(row['peak_rss_mb'], 0)} |"
        )
    errors = [r for r in result["runs"].values() if "error" in r]
    if errors:
        lines += ["", "Failed commands:", ""]
        lines += [f"- `{job_key(r)}`: {r['error']}" for r in errors]
    t = result["targets"]
    lines += ["", "## Targets (CoLA)", ""]
    if "note" in t:
        lines.append(t["note"] + ".")
        return "\n".join(lines) + "\n"
    peer, chosen = t["adapterhub_best"], t["chosen"]

    def met(flag):
        return "met" if flag else "**missed**"

    lines += [
        "The training run that the speed target compares is the process "
        "from its start to its last training step (imports, model, data, "
        "prefix cache, every epoch), the same span on both sides: what "
        "follows it differs (ours writes the adapter artifact and "
        "exports a SavedModel; both score dev, batches of 8; see "
        "`after s`). The whole command's ratio is given beside it.",
        "",
        f"AdapterHub's best setting here: {peer['precision']}, start to "
        f"last step {peer['to_last_step_seconds']:.1f} s (whole "
        f"{peer['whole_seconds']:.1f} s), dev MCC "
        f"{_fmt(peer['dev_mcc_mean'], 2)}, peak RSS "
        f"{peer['peak_rss_mb']:.0f} MiB. Chosen variant "
        f"({t['chosen_rule']}): **{chosen['config']} {chosen['precision']}**.",
        "",
        f"- speed: {chosen['speedup_over_adapterhub_best']:.2f}x "
        "AdapterHub's training run, start to last step (target >= 2x): "
        f"{met(chosen['speed_met'])}; whole command "
        f"{chosen['whole_speedup_over_adapterhub_best']:.2f}x; model built "
        "to last step "
        f"{_fmt(chosen['train_speedup_over_adapterhub_best'], 2)}x",
        f"- accuracy: dev MCC {_fmt(chosen['dev_mcc_mean'], 2)}, "
        f"{_fmt(chosen['dev_delta_vs_all_same_precision'], 2)} points vs "
        f"all-block adapters at {chosen['precision']}, {chosen['seeds']} "
        f"seed(s) (target >= -1 with two seeds): "
        f"{met(chosen['accuracy_met'])}",
        f"- memory: peak RSS {chosen['rss_over_adapterhub_best']:.2f}x "
        f"AdapterHub's (target <= 1.2x): {met(chosen['memory_met'])}",
        "",
        "| variant | precision | seeds | start to last step s | speed-up "
        "vs AdapterHub best: to last step | whole | model built to last "
        "step | dev MCC | vs all-block | RSS / AdapterHub |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in t["variants"]:
        lines.append(
            f"| {v['config']} | {v['precision']} | {v['seeds']} "
            f"| {v['to_last_step_seconds']:.1f} "
            f"| {v['speedup_over_adapterhub_best']:.2f} "
            f"| {v['whole_speedup_over_adapterhub_best']:.2f} "
            f"| {_fmt(v['train_speedup_over_adapterhub_best'], 2)} "
            f"| {_fmt(v['dev_mcc_mean'], 2)} "
            f"| {_fmt(v['dev_delta_vs_all_same_precision'], 2)} "
            f"| {v['rss_over_adapterhub_best']:.2f} |"
        )
    return "\n".join(lines) + "\n"


# -- the run ------------------------------------------------------------


def load_previous(path, args):
    if not (args.resume and os.path.exists(path)):
        return {}
    with open(path) as handle:
        previous = json.load(handle)
    if previous.get("settings") != settings(args):
        sys.exit(
            f"train_variants: {path} was run with other settings "
            f"({previous.get('settings')}); rerun without --resume to "
            "replace it, or pass another --out_dir."
        )
    return {k: v for k, v in previous["runs"].items() if "error" not in v}


def build_result(args, runs, started, peer_versions):
    versions = _common.keras_versions()
    versions.update(peer_versions)
    summary = summarize(runs, args)
    return {
        "benchmark": NAME,
        "date": started,
        "command": _common.command_line(),
        "machine": MACHINE,
        "settings": settings(args),
        "versions": versions,
        "summary": summary,
        "targets": targets(summary),
        "runs": runs,
    }


MACHINE = None


def save(path, result):
    _common.write_json(path, result)
    with open(path[: -len(".json")] + ".md", "w") as handle:
        handle.write(markdown(result))


def main():
    global MACHINE
    args = parse_args()
    MACHINE = _common.machine()
    preset = args.preset or _common.minilm_folder()
    for task in args.tasks:
        if not os.path.isdir(os.path.join(args.glue_dir, task)):
            sys.exit(
                f"train_variants: no folder {task} under {args.glue_dir}; "
                "pass --glue_dir."
            )
    path = _common.results_path(args.out_dir, f"{NAME}.json")
    runs = load_previous(path, args)
    jobs = [j for j in run_order(args) if job_key(j) not in runs]
    if runs:
        print(f"train_variants: {len(runs)} finished commands kept.")
    print_estimate(args, jobs)
    for job in jobs:
        print(f"   {job_key(job)}  (~{estimate_seconds(args, job):.0f} s)")
    if args.dry_run:
        return
    if "adapterhub" in args.sides:
        peer_env.ensure()
    warm_file_cache(args, preset)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    peer_versions = {}
    for run in runs.values():
        peer_versions.update(run.get("versions", {}))
    begin = time.perf_counter()
    estimated_done = 0.0
    for n, job in enumerate(jobs, 1):
        key = job_key(job)
        print(f"[{n}/{len(jobs)}] {key}", flush=True)
        runner = run_peer if job["side"] == "adapterhub" else run_ours
        load = [round(x, 2) for x in os.getloadavg()]
        outcome = runner(args, job, preset)
        outcome["load_average_before"] = load
        outcome["finished_utc"] = time.strftime(
            "%Y-%m-%d %H:%M:%S", time.gmtime()
        )
        runs[key] = outcome
        peer_versions.update(outcome.get("versions", {}))
        if "error" in outcome:
            print(f"   failed: {outcome['error']}", flush=True)
        else:
            metric = METRICS[job["task"]][0]
            print(
                f"   dev {metric} {100 * outcome['dev'][metric]:.2f}, whole "
                f"{outcome['whole_seconds']:.1f} s, train "
                f"{_fmt(outcome.get('train_seconds'))} s, peak RSS "
                f"{outcome['peak_rss_mb']:.0f} MiB",
                flush=True,
            )
        estimated_done += estimate_seconds(args, job)
        spent = time.perf_counter() - begin
        left = sum(estimate_seconds(args, j) for j in jobs[n:])
        print(
            f"   {spent / 60:.1f} min so far; about "
            f"{left * spent / estimated_done / 60:.0f} min left at this pace",
            flush=True,
        )
        save(path, build_result(args, runs, started, peer_versions))
    result = build_result(args, runs, started, peer_versions)
    _common.write_results(args.out_dir, NAME, result, markdown)


if __name__ == "__main__":
    main()
