"""Where a command's memory goes: its resident set size along its log.

Runs a command, samples its resident set size (VmRSS of the process and
its children, from /proc) every `--interval` seconds, and prints, for each
line the command writes, the RSS when it appeared and the peak up to then;
at the end the peak and the phase that reached it. For
`run_classifier.py` the log lines mark the phases: start-up (imports),
the model built, the data encoded, training (the first step traces the
step function), evaluation, export.

    python benchmarks/rss_timeline.py --out benchmarks/results/rss_main.json \\
        -- python run_classifier.py --task=CoLA --adapter_size=64 \\
        --data_dir=... --preset=... --do_eval

Linux only (reads /proc).
"""

import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def _is_progress(entry):
    """Whether a logged line is a Keras progress-bar redraw."""
    return "\u2501" in entry["line"]


def tree_rss_mb(pid):
    """RSS of `pid` and its descendants, in MiB (0 once it is gone)."""
    total_kb = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children") as handle:
                pending.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return total_kb / 1024


class Sampler(threading.Thread):
    """Samples a process tree's RSS until it exits."""

    def __init__(self, pid, interval):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.now_mb = 0.0
        self.peak_mb = 0.0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.now_mb = tree_rss_mb(self.pid)
            self.peak_mb = max(self.peak_mb, self.now_mb)
            time.sleep(self.interval)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--out", default=None, help="JSON file to write")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=_common.REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    sampler = Sampler(process.pid, args.interval)
    sampler.start()
    lines = []
    for line in process.stdout:
        entry = {
            "seconds": round(time.perf_counter() - start, 1),
            "rss_mb": round(sampler.now_mb),
            "peak_mb": round(sampler.peak_mb),
            "line": line.rstrip()[:160],
        }
        if lines and _is_progress(lines[-1]) and _is_progress(entry):
            lines[-1] = entry  # A progress bar's redraw: keep the last.
        else:
            lines.append(entry)
        print(
            f"{entry['seconds']:7.1f}s {entry['rss_mb']:6d} MiB "
            f"(peak {entry['peak_mb']:6d})  {entry['line']}",
            flush=True,
        )
    returncode = process.wait()
    sampler.done.set()
    sampler.join()
    peak_line = next(
        (entry for entry in lines if entry["peak_mb"] >= sampler.peak_mb - 1),
        None,
    )
    result = {
        "command": " ".join(command),
        "returncode": returncode,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(sampler.peak_mb),
        "peak_reached_before": peak_line["line"] if peak_line else "the end",
        "machine": _common.machine(),
        "timeline": lines,
    }
    print(
        f"peak {result['peak_rss_mb']} MiB, reached before the line "
        f"{result['peak_reached_before']!r}; exit {returncode}"
    )
    if args.out:
        _common.write_json(args.out, result)
    sys.exit(returncode)


if __name__ == "__main__":
    main()
