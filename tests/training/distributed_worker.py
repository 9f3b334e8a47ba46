"""One process of a distributed test run of `ClassifierRun` (not a test).

Run by `tests/training/test_distributed.py` in a fresh interpreter, because
logical devices and `MultiWorkerMirroredStrategy` must be set up before
TensorFlow initializes its runtime:

    python distributed_worker.py --mode=mirrored --config='{...}' \
        --summary=/tmp/summary.json

`--config` holds the `ClassifierRunConfig` fields as JSON (or, with
`--job=squad`, the `SquadRunConfig` fields). Modes:

- `default`: the strategy `strategy_from_flags` picks (the default strategy
  on one CPU without `TF_CONFIG`; `MultiWorkerMirroredStrategy` when
  `TF_CONFIG` names two workers).
- `mirrored`: the CPU is split into two logical devices and
  `task_run.strategy_from_flags` is replaced, in this process only, by
  `MirroredStrategy(["/cpu:0", "/cpu:1"])`.

`--keras_mwms_workaround` patches two Keras 3 functions in this process
only (see `keras_adapters.training.keras_compat`) so `fit` runs under
`MultiWorkerMirroredStrategy` at all. Library code is never patched.

The summary JSON gets the strategy, its replica count, whether this process
is the chief, the evaluation results and the dev-set probabilities (for
`--job=squad`, the span logits of the predict file).
"""

import argparse
import json
import sys
import time


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--mode", choices=["default", "mirrored"], default="default"
    )
    parser.add_argument("--config", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--keras_mwms_workaround", action="store_true")
    parser.add_argument(
        "--job", choices=["classifier", "squad"], default="classifier"
    )
    args = parser.parse_args(argv)

    import tensorflow as tf

    if args.mode == "mirrored":
        # Before anything initializes the runtime.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )

    import keras
    import numpy as np

    keras.config.disable_traceback_filtering()
    from keras_adapters.training import classifier_run
    from keras_adapters.training import squad_run
    from keras_adapters.training import task_run

    if args.keras_mwms_workaround:
        from keras_adapters.training.keras_compat import (
            patch_keras_multi_worker_fit,
        )

        assert patch_keras_multi_worker_fit(), "Keras internals not found."
    if args.mode == "mirrored":

        def two_cpus(*unused_args, **unused_kwargs):
            return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

        task_run.strategy_from_flags = two_cpus

    start = time.time()
    fields = json.loads(args.config)
    if args.job == "squad":
        config = squad_run.SquadRunConfig(**fields)
        run = squad_run.SquadRun(config)
        results = run.run()
        examples = squad_run.read_squad_examples(
            config.predict_file, False
        ).examples
        outputs = run.predict_logits(
            squad_run.convert_examples_to_features(
                examples, run.model.preprocessor, with_answers=False
            )
        )
    else:
        config = classifier_run.ClassifierRunConfig(**fields)
        run = classifier_run.ClassifierRun(config)
        results = run.run()
        # Every worker takes part in this collective predict.
        _, _, outputs = run._outputs(
            classifier_run.load_examples(config, "dev"),
            config.eval_batch_size,
        )
    summary = {
        "strategy": type(run.strategy).__name__,
        "multi_worker": isinstance(
            run.strategy, tf.distribute.MultiWorkerMirroredStrategy
        ),
        "replicas": int(run.strategy.num_replicas_in_sync),
        "chief": bool(run.chief),
        "results": results,
        "dev_probabilities": np.asarray(outputs).tolist(),
        "seconds": time.time() - start,
    }
    with open(args.summary, "w") as handle:
        json.dump(summary, handle)


if __name__ == "__main__":
    main(sys.argv[1:])
