"""Where the resident memory of a run starts: imports and the model build.

Each phase runs in a fresh process and reports that process's peak RSS:

- `tensorflow`: `import tensorflow` (TensorFlow 2.21 imports JAX too when
  it is installed, from `tensorflow.lite.python.util`);
- `tensorflow_without_jax`: the same with `jax` made unimportable;
- `keras_hub`: `import keras_hub` (it imports tensorflow-text);
- `keras_adapters`: `import keras_adapters`;
- `build`: `AdapterBertTextClassifier.from_preset(MiniLM, adapter_size=64)`
  after the imports (peak, and its rise over the imports).

`--repo DIR` measures another checkout of keras_adapters (e.g. an older
commit in a `git worktree`) for a before/after comparison. The peak of the
training itself is measured by `benchmarks/rss_timeline.py` and
`benchmarks/train_variants.py`.

    python benchmarks/memory_phases.py
    python benchmarks/memory_phases.py --repo /tmp/old --out_dir /tmp/x

Writes benchmarks/results/memory_phases.json and .md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

PEAK = (
    "import resource; "
    "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
)
PHASES = {
    "tensorflow": "import tensorflow",
    "tensorflow_without_jax": "import sys; sys.modules['jax'] = None; "
    "import tensorflow",
    "keras_hub": "import keras_hub",
    "keras_adapters": "import keras_adapters",
    "build": "import keras_adapters; "
    "from keras_adapters.models import AdapterBertTextClassifier; "
    "AdapterBertTextClassifier.from_preset({preset!r}, num_classes=2, "
    "adapter_size=64)",
}


def peak_mb(code, repo):
    """Peak RSS (MiB) of a fresh Python process running `code` in `repo`."""
    env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{PEAK}"],
        capture_output=True,
        text=True,
        cwd=repo,
        env=env,
        check=True,
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("PEAK ")][-1]
    return float(line.split()[1])


def markdown(result):
    lines = [
        "# Peak RSS of the start of a run, phase by phase",
        "",
        f"Machine: {result['machine']['cpu']} "
        f"({_common.describe_features(result['machine'])}). "
        f"Command: `{result['command']}`. Median of {result['repeats']} "
        "fresh processes per phase.",
        "",
        "| phase | peak RSS (MiB) |",
        "|---|---|",
    ]
    for phase, value in result["peak_mb"].items():
        lines.append(f"| {phase} | {value:.0f} |")
    lines += [
        "",
        f"The model build adds {result['build_over_imports_mb']:.0f} MiB "
        "over the imports (MiniLM: 22.7M float32 parameters, 91 MB).",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", default=_common.REPO)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--out_dir", default=None)
    parser.add_argument("--name", default="memory_phases")
    args = parser.parse_args()
    preset = args.preset or _common.minilm_folder()
    peaks = {}
    for phase, code in PHASES.items():
        values = [
            peak_mb(code.format(preset=preset), args.repo)
            for _ in range(args.repeats)
        ]
        peaks[phase] = statistics.median(values)
        print(f"{phase}: {peaks[phase]:.0f} MiB", flush=True)
    result = {
        "benchmark": "memory_phases",
        "machine": _common.machine(),
        "versions": _common.keras_versions(),
        "command": _common.command_line(),
        "repo": os.path.abspath(args.repo),
        "repeats": args.repeats,
        "peak_mb": peaks,
        "build_over_imports_mb": peaks["build"] - peaks["keras_adapters"],
    }
    _common.write_results(args.out_dir, args.name, result, markdown)
    print(json.dumps(peaks))


if __name__ == "__main__":
    main()
