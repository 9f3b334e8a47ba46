"""Gradient magnitudes by parameter group at the start of adapter tuning.

Builds the CoLA classifier on MiniLM-L6 with adapters (m = 64, the original
initialisation), takes the loss gradient on the first 64 CoLA training
sentences, and reports the median and 90th percentile of |gradient| per
group (adapters, LayerNorms, pooler when trained, head), next to the
original optimizer's epsilon (1e-6, added outside the square root). Also
the scale of MiniLM's pooled output, which the head sees.

    python benchmarks/gradient_scales.py

Writes benchmarks/results/gradient_scales.json.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def group_gradients(model, features, labels):
    """`{group: |gradients| as one flat array}` for the trained groups."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_adapters.tuning import parameter_groups

    group_of = {
        variable.path: group
        for group, variables in parameter_groups(model).items()
        for variable in variables
    }
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trained = model.trainable_variables
    with tf.GradientTape() as tape:
        value = loss(labels, model(features, training=False))
    gradients = tape.gradient(value, [v.value for v in trained])
    grouped = {}
    for variable, gradient in zip(trained, gradients):
        grouped.setdefault(group_of[variable.path], []).append(
            np.abs(np.asarray(gradient)).ravel()
        )
    return {group: np.concatenate(parts) for group, parts in grouped.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--out_dir", default=_common.RESULTS_DIR)
    args = parser.parse_args()
    _common.set_thread_env(2)

    import keras
    import numpy as np

    from keras_adapters.data.glue import get_task
    from keras_adapters.data.glue import read_examples
    from keras_adapters.models import AdapterBertTextClassifier

    task = get_task("CoLA")
    examples = read_examples(
        task, os.path.join(args.glue_dir, task.folder), "train"
    )[: args.examples]
    labels = np.array([task.labels.index(e.label) for e in examples])
    preset = args.preset or _common.minilm_folder()
    result = {"examples": len(examples), "adam_epsilon": 1e-6, "runs": {}}
    for train_pooler in (False, True):
        keras.utils.set_random_seed(1)
        model = AdapterBertTextClassifier.from_preset(
            preset, num_classes=2, adapter_size=64, train_pooler=train_pooler
        )
        model.preprocessor.sequence_length = 64
        features = model.preprocessor([e.text_a for e in examples])
        grouped = group_gradients(model, features, labels)
        name = "pooler trained" if train_pooler else "pooler frozen"
        result["runs"][name] = {
            group: {
                "median_abs": float(np.median(values)),
                "p90_abs": float(np.percentile(values, 90)),
                "share_below_epsilon": float(np.mean(values < 1e-6)),
            }
            for group, values in grouped.items()
        }
        if not train_pooler:
            pooled = np.asarray(model.backbone(features)["pooled_output"])
            result["pooled_output"] = {
                "mean_abs": float(np.abs(pooled).mean()),
                "std_across_sentences": float(pooled.std(0).mean()),
            }
    result.update(
        command=_common.command_line(),
        machine=_common.machine(),
        versions=_common.keras_versions(),
    )
    _common.write_json(
        os.path.join(args.out_dir, "gradient_scales.json"), result
    )
    for name, groups in result["runs"].items():
        print(name)
        for group, stats in groups.items():
            print(
                f"  {group:<12} median |g| {stats['median_abs']:.1e}  "
                f"p90 {stats['p90_abs']:.1e}  below 1e-6: "
                f"{100 * stats['share_below_epsilon']:.0f} %"
            )
    print("pooled output", result["pooled_output"])


if __name__ == "__main__":
    main()
