"""AdapterHub folders in Keras and back: logits against AdapterHub itself.

On the real MiniLM-L6 and real CoLA sentences, for each AdapterHub
configuration (`houlsby` = `double_seq_bn`, `pfeiffer` = `seq_bn`) and each
weights format (`bin`, `safetensors`), both directions:

- AdapterHub -> Keras: AdapterHub 1.3.0 (`peer_exactness.py` in
  `.peer_venv`) adds the adapter and its default classification head,
  trains them one pass over `--train_examples` CoLA training sentences
  (seed 0 for the `bin` folder, 1 for `safetensors`) and saves the
  folder; `keras_adapters.load_adapters(folder, MiniLM)` predicts the CoLA
  dev sentences; compared with the logits of AdapterHub's own
  `load_adapter` of the same folder.
- Keras -> AdapterHub: `AdapterHubTextClassifier.from_preset(MiniLM,
  adapter_config=..., intermediate_activation="auto")` trains (the default
  `compile()`, one epoch over the same sentences), is saved with
  `save_adapters(..., format="adapterhub", weights_format=...)`, and
  AdapterHub's `load_adapter` of that folder predicts the same dev
  sentences; compared with the Keras model's logits.

Raw strings on both sides: each side's own tokenizer (AdapterHub's Hugging
Face tokenizer, our keras-hub preprocessor in the graph).

    PYTHONPATH=. python benchmarks/adapterhub_exactness.py

(`PYTHONPATH=.` makes a worktree import its own keras_adapters.) Creates
`.peer_venv` when needed (`peer_env.py`). Writes
benchmarks/results/adapterhub_exactness.json and .md (`--quick`: 32
examples each way, results under /tmp/keras_adapters_bench). About 26 min on
2 cores.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import peer_env  # noqa: E402

CONFIGS = {"houlsby": "double_seq_bn", "pfeiffer": "seq_bn"}
FORMATS = ("bin", "safetensors")
TOLERANCE = 1e-4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--train_examples", type=int, default=256)
    parser.add_argument("--eval_examples", type=int, default=1043)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out_dir", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.train_examples = args.eval_examples = 32
        args.out_dir = args.out_dir or "/tmp/keras_adapters_bench"
    return args


ARGS = parse_args()
_common.set_thread_env(ARGS.threads)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_adapters  # noqa: E402
from keras_adapters.models import AdapterHubTextClassifier  # noqa: E402


def peer(args, folder, weights_format, config=None, seed=0):
    """AdapterHub's logits for `folder` (after training it, with `config`
    and torch seed `seed`)."""
    flags = {
        "folder": folder,
        "weights_format": weights_format,
        "preset": args.preset,
        "glue_dir": args.glue_dir,
        "eval_examples": args.eval_examples,
        "train_examples": args.train_examples,
        "batch": args.batch,
        "threads": args.threads,
    }
    if config is not None:
        flags.update(train=True, config=config, seed=seed)
    result = _common.run_child(
        [_common.PEER_PYTHON, "benchmarks/peer_exactness.py"]
        + _common.child_flags(flags)
    )
    if "error" in result:
        sys.exit(f"adapterhub_exactness: {result['error']}")
    return result


def keras_logits(model, sentences):
    model.preprocessor.sequence_length = 128
    return model.predict(sentences, batch_size=64, verbose=0)


def differences(ours, theirs):
    difference = np.abs(np.asarray(ours) - np.asarray(theirs))
    agree = np.argmax(ours, -1) == np.argmax(theirs, -1)
    return {
        "max_abs_logit_difference": float(difference.max()),
        "mean_abs_logit_difference": float(difference.mean()),
        "logit_range": float(np.ptp(np.asarray(theirs))),
        "argmax_agreement": float(agree.mean()),
    }


def adapterhub_to_keras(args, root, name, config, weights_format, dev):
    folder = os.path.join(root, f"adapterhub_{name}_{weights_format}")
    theirs = peer(
        args, folder, weights_format, config, FORMATS.index(weights_format)
    )
    model = keras_adapters.load_adapters(folder, args.preset)
    ours = keras_logits(model, dev)
    return {
        "trained_parameters_adapterhub": theirs["trained_parameters"],
        "adapterhub_reload_max_abs_diff": theirs["reload_max_abs_diff"],
        **differences(ours, theirs["logits"]),
    }


def keras_to_adapterhub(args, root, name, weights_format, dev, train):
    folder = os.path.join(root, f"keras_{name}_{weights_format}")
    keras.utils.set_random_seed(FORMATS.index(weights_format))
    model = AdapterHubTextClassifier.from_preset(
        args.preset,
        num_classes=2,
        adapter_config=name,
        intermediate_activation="auto",
    )
    model.preprocessor.sequence_length = 128
    model.fit(*train, batch_size=args.batch, epochs=1, verbose=0)
    keras_adapters.save_adapters(
        model, folder, format="adapterhub", weights_format=weights_format
    )
    ours = keras_logits(model, dev)
    theirs = peer(args, folder, weights_format)
    counts = keras_adapters.tuning_summary(model, print_fn=None)
    return {
        "trained_parameters_keras": counts["total"]["trained"],
        **differences(ours, theirs["logits"]),
    }


def markdown(result):
    lines = [
        "# AdapterHub folders in Keras and back (real MiniLM-L6, CoLA dev)",
        "",
        f"{result['eval_examples']} CoLA dev sentences (raw strings, each "
        "side's tokenizer); adapters + head trained one pass over "
        f"{result['train_examples']} CoLA training sentences on the writing "
        "side. Max abs logit difference, tolerance "
        f"{result['tolerance']:g}.",
        "",
        "| config | weights | direction | max abs diff | mean abs diff | "
        "argmax agreement | within tolerance |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['config']} | {row['weights_format']} | "
            f"{row['direction']} | {row['max_abs_logit_difference']:.2e} | "
            f"{row['mean_abs_logit_difference']:.2e} | "
            f"{row['argmax_agreement']:.4f} | "
            f"{row['max_abs_logit_difference'] <= result['tolerance']} |"
        )
    lines += [
        "",
        f"Machine: {result['machine'].get('cpu', '')}; versions: "
        f"{result['versions']}. Command: `{result['command']}`.",
        "",
    ]
    return "\n".join(lines)


def main():
    args = ARGS
    args.preset = args.preset or _common.minilm_folder()
    peer_env.ensure(verbose=False)
    dev, _ = _common.read_cola(args.glue_dir, "dev", args.eval_examples)
    train = _common.read_cola(args.glue_dir, "train", args.train_examples)
    train = (train[0], np.array(train[1]))
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        for name, config in CONFIGS.items():
            for weights_format in FORMATS:
                for direction, measure in (
                    (
                        "AdapterHub -> Keras",
                        lambda: adapterhub_to_keras(
                            args, root, name, config, weights_format, dev
                        ),
                    ),
                    (
                        "Keras -> AdapterHub",
                        lambda: keras_to_adapterhub(
                            args, root, name, weights_format, dev, train
                        ),
                    ),
                ):
                    row = {
                        "config": f"{name} ({config})",
                        "weights_format": weights_format,
                        "direction": direction,
                        **measure(),
                    }
                    print(row, flush=True)
                    rows.append(row)
    result = {
        "rows": rows,
        "tolerance": TOLERANCE,
        "all_within_tolerance": all(
            row["max_abs_logit_difference"] <= TOLERANCE for row in rows
        ),
        "eval_examples": len(dev),
        "train_examples": len(train[0]),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "machine": _common.machine(),
        "versions": {**_common.keras_versions(), **peer_env.PINS},
        "command": _common.command_line(),
    }
    _common.write_results(
        args.out_dir, "adapterhub_exactness", result, markdown
    )


if __name__ == "__main__":
    main()
