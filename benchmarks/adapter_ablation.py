"""Adapter ablation (paper section 3.6) on a trained CoLA model.

Loads an adapter artifact trained by `glue_accuracy.py --keep_dir` (or
`run_classifier.py`), then scores the dev set with the adapters of every
contiguous span of layers removed (`keras_adapters.adapters_removed`: the
up-projections zeroed, nothing retrained) and draws the heatmap of the
paper's figure 6: row = first removed layer, column = last removed layer,
colour = dev score. The span of all layers is the trained LayerNorms and
head on a bare backbone; the paper finds it falls to about the
majority-class score.

    python benchmarks/adapter_ablation.py --artifact DIR [--task CoLA]

Writes benchmarks/results/adapter_ablation_<task>.json and .png.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from glue_accuracy import primary_metric  # noqa: E402


def score_spans(model, task, examples):
    """`{(first, last): metrics}` for every contiguous span, plus `None`
    (nothing removed)."""
    import numpy as np

    from keras_adapters import adapters_removed
    from keras_adapters.data.encoding import encode_examples
    from keras_adapters.metrics.glue import glue_metrics
    from keras_adapters.training.pipeline import evaluation_dataset

    encoded = encode_examples(examples, model.preprocessor, task)
    features = evaluation_dataset(encoded, 64).map(lambda x, y, w: x)

    def metrics():
        logits = np.asarray(model.predict(features, verbose=0))
        return glue_metrics(
            task, encoded.labels, logits[: len(encoded)].argmax(1)
        )

    layers = len(model.backbone.transformer_layers)
    scores = {None: metrics()}
    for first in range(layers):
        for last in range(first, layers):
            with adapters_removed(model, range(first, last + 1)):
                scores[(first, last)] = metrics()
    return scores


def draw(grid, metric, reference, task, path):
    """The first-by-last heatmap of the paper's figure 6, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = 100 * np.asarray(grid, dtype=float)
    figure, axis = plt.subplots(figsize=(4.6, 3.8))
    image = axis.imshow(
        np.ma.masked_invalid(values), cmap="viridis", origin="upper"
    )
    middle = np.nanmean(values)
    for (row, column), value in np.ndenumerate(values):
        if not np.isnan(value):
            axis.text(
                column,
                row,
                f"{value:.1f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value < middle else "black",
            )
    size = len(grid)
    axis.set_xticks(range(size), [str(i) for i in range(size)])
    axis.set_yticks(range(size), [str(i) for i in range(size)])
    axis.set_xlabel("last layer with adapters removed")
    axis.set_ylabel("first layer with adapters removed")
    axis.set_title(
        f"{task} dev {metric} x 100 (none removed: {100 * reference:.1f})",
        fontsize=9,
    )
    figure.colorbar(image, ax=axis)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--artifact",
        required=True,
        help="adapter artifact folder (save_adapters)",
    )
    parser.add_argument("--task", default="CoLA")
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument(
        "--preset",
        default=None,
        help="the base BERT (default: the MiniLM package)",
    )
    parser.add_argument("--out_dir", default=_common.RESULTS_DIR)
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="only redraw the PNG from the JSON in --out_dir",
    )
    args = parser.parse_args()
    name = f"adapter_ablation_{args.task}"
    if args.redraw:
        with open(os.path.join(args.out_dir, name + ".json")) as handle:
            saved = json.load(handle)
        draw(
            saved["first_last_grid"],
            saved["metric"],
            saved["none_removed"],
            saved["task"],
            os.path.join(args.out_dir, name + ".png"),
        )
        return
    _common.set_thread_env(2)

    import keras_adapters
    from keras_adapters.data.glue import get_task
    from keras_adapters.data.glue import read_examples
    from keras_adapters.metrics.glue import glue_metrics

    task = get_task(args.task)
    examples = read_examples(
        task, os.path.join(args.glue_dir, task.folder), "dev"
    )
    model = keras_adapters.load_adapters(
        args.artifact, args.preset or _common.minilm_folder()
    )
    start = time.perf_counter()
    scores = score_spans(model, task, examples)
    metric = primary_metric(task.name)
    layers = len(model.backbone.transformer_layers)
    grid = [
        [scores[(r, c)][metric] if c >= r else None for c in range(layers)]
        for r in range(layers)
    ]
    truth = [task.labels.index(e.label) for e in examples]
    majority = max(set(truth), key=truth.count)
    result = {
        "task": task.name,
        "artifact": os.path.abspath(args.artifact),
        "artifact_config": keras_adapters.read_artifact_config(args.artifact),
        "metric": metric,
        "none_removed": scores[None][metric],
        "all_removed": scores[(0, layers - 1)][metric],
        "majority_class": glue_metrics(task, truth, [majority] * len(truth))[
            metric
        ],
        "first_last_grid": grid,
        "single_layer_removed": [scores[(i, i)][metric] for i in range(layers)],
        "seconds": round(time.perf_counter() - start, 1),
        "command": _common.command_line(),
        "machine": _common.machine(),
        "versions": _common.keras_versions(),
    }
    _common.write_json(os.path.join(args.out_dir, name + ".json"), result)
    draw(
        grid,
        metric,
        scores[None][metric],
        task.name,
        os.path.join(args.out_dir, name + ".png"),
    )
    for row in grid:
        print(
            " ".join("   -  " if v is None else f"{100 * v:6.1f}" for v in row)
        )


if __name__ == "__main__":
    main()
