"""GLUE dev scores of MiniLM-L6 by tuning mode, learning rate and seed.

Each run fine-tunes the real MiniLM on a real GLUE training file from
`../shared/data/glue` through `ClassifierRun` (the runtime of
`run_classifier.py`: the original warm-up + linear decay, AdamWeightDecay,
length-bucketed batches) and scores the dev file after every epoch. A run
is named `MODE:LR`, where MODE is one of

    adapters-M           adapters of size M (LayerNorms and head train too)
    adapters-M+pooler    the same, with the pooler trained as well
    full                 every weight of the plain BERT
    layer_norm           only LayerNorms and head of the plain BERT
    top_k-K              the top K layers, LayerNorms and head

Every run is a child process of its own and writes
`benchmarks/results/accuracy/<task>/<mode>_lr<lr>_seed<seed>_ep<epochs>.json`
(per-epoch dev metrics, training wall time, trained parameter count); a run
whose file exists is skipped, so a sweep can be stopped and resumed.
`accuracy_report.py` turns the files into the table and the plot.

    python benchmarks/glue_accuracy.py --task CoLA \
        --runs adapters-64:1e-3,adapters-64:3e-3,full:5e-5 --epochs 5
    python benchmarks/glue_accuracy.py --task SST-2 --max_train_examples 8000 \
        --runs adapters-64:1e-3,full:5e-5 --epochs 3

`--keep_dir DIR` also saves each run's adapter artifact (`DIR/<run>/adapters`)
for the ablation study (`adapter_ablation.py`).
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

ACCURACY_DIR = os.path.join(_common.RESULTS_DIR, "accuracy")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One point of the sweep: a tuning mode and a learning rate."""

    mode: str
    learning_rate: float

    @classmethod
    def parse(cls, text):
        mode, sep, rate = text.partition(":")
        try:
            learning_rate = float(rate)
        except ValueError:
            learning_rate = None
        if not sep or learning_rate is None or learning_rate <= 0:
            sys.exit(
                f"glue_accuracy: bad run '{text}'; write MODE:LR, e.g. "
                "adapters-64:1e-3 or full:5e-5."
            )
        spec = cls(mode, learning_rate)
        spec.tuning_flags()  # Validates the mode.
        return spec

    def tuning_flags(self):
        """The `ClassifierRunConfig` fields of this mode."""
        base, pooler, extra = self.mode.partition("+")
        if extra not in ("", "pooler"):
            sys.exit(
                f"glue_accuracy: unknown option '+{extra}' in "
                f"'{self.mode}'; only '+pooler' exists."
            )
        name, _, size = base.partition("-")
        flags = {"train_pooler": bool(pooler), "adapter_size": 0}
        if name == "adapters" and size.isdigit():
            flags.update(tuning="adapters", adapter_size=int(size))
        elif name in ("full", "layer_norm") and not size:
            flags.update(tuning=name)
        elif name == "top_k" and size.isdigit():
            flags.update(tuning="top_k", top_k_layers=int(size))
        else:
            sys.exit(
                f"glue_accuracy: unknown mode '{self.mode}'; use "
                "adapters-M, full, layer_norm or top_k-K "
                "(optionally +pooler)."
            )
        return flags

    def file_name(
        self, seed, epochs, adam_epsilon=1e-6, optimizer="adam_weight_decay"
    ):
        name = f"{self.mode}_lr{self.learning_rate:g}_seed{seed}_ep{epochs:g}"
        if adam_epsilon != 1e-6:
            name += f"_eps{adam_epsilon:g}"
        if optimizer != "adam_weight_decay":
            name += f"_{optimizer}"
        return name


def primary_metric(task_name):
    """The dev metric a sweep selects by (GLUE's headline number)."""
    return {"CoLA": "mcc", "MRPC": "f1", "QQP": "f1", "STS-B": "corr"}.get(
        task_name, "accuracy"
    )


def majority_class_scores(task, train, dev):
    """Dev metrics of always predicting the most frequent training label."""
    import collections

    from keras_adapters.metrics.glue import glue_metrics

    label = collections.Counter(e.label for e in train).most_common(1)[0][0]
    index = list(task.labels).index(label)
    scores = {}
    for split, examples in dev.items():
        truth = [list(task.labels).index(e.label) for e in examples]
        scores[split] = glue_metrics(task, truth, [index] * len(truth))
    return {"label": label, **scores}


def run_one(args):
    """Child: trains one configuration, scoring dev after every epoch."""
    import keras

    from keras_adapters.artifacts import save_adapters
    from keras_adapters.training.classifier_run import ClassifierRun
    from keras_adapters.training.classifier_run import ClassifierRunConfig
    from keras_adapters.training.classifier_run import load_examples
    from keras_adapters.tuning import tuning_summary

    spec = RunSpec.parse(args.one)
    name = spec.file_name(
        args.seed, args.epochs, args.adam_epsilon, args.optimizer
    )
    keep = os.path.join(args.keep_dir, name) if args.keep_dir else None
    # A fresh folder: a finished run's checkpoint would make `fit` skip.
    output_dir = tempfile.mkdtemp(prefix="keras_adapters_accuracy_")
    config = ClassifierRunConfig(
        task_name=args.task,
        data_dir=os.path.join(args.glue_dir, args.task),
        preset=args.preset or _common.minilm_folder(),
        output_dir=output_dir,
        do_train=True,
        learning_rate=spec.learning_rate,
        num_train_epochs=args.epochs,
        max_seq_length=args.max_seq_length,
        train_batch_size=args.batch,
        eval_batch_size=64,
        seed=args.seed,
        max_train_examples=args.max_train_examples,
        save_checkpoints_steps=10**9,
        jit_compile=args.jit_compile,
        adam_epsilon=args.adam_epsilon,
        verbose=0,
        mixed_precision="fp32",  # As the recorded results.
        **spec.tuning_flags(),
    )

    class EpochScoredRun(ClassifierRun):
        """Scores dev at every epoch end; keeps only the adapter artifact."""

        def __init__(self, config, dev):
            super().__init__(config)
            self.dev = dev
            self.epochs = []
            self.eval_seconds = 0.0
            self.started = None

        def _chief_callbacks(self):
            run = self

            class ScoreDev(keras.callbacks.Callback):
                def on_train_begin(self, logs=None):
                    run.started = time.perf_counter()

                def on_epoch_end(self, epoch, logs=None):
                    start = time.perf_counter()
                    trained = start - run.started - run.eval_seconds
                    run.global_step = int(
                        run.model.optimizer.iterations.numpy()
                    )
                    scores = run.evaluate(run.dev)
                    run.eval_seconds += time.perf_counter() - start
                    run.epochs.append(
                        {
                            "epoch": epoch + 1,
                            "train_loss": float(logs["loss"]),
                            "train_seconds": round(trained, 1),
                            **scores,
                        }
                    )

            return super()._chief_callbacks() + [ScoreDev()]

        def make_optimizer(self, num_steps, warmup):
            if args.optimizer == "adam_weight_decay":
                return super().make_optimizer(num_steps, warmup)
            # Keras' AdamW (bias-corrected, epsilon 1e-7, decay 0.004 on
            # every weight) on a linear decay without warm-up.
            return keras.optimizers.AdamW(
                keras.optimizers.schedules.PolynomialDecay(
                    self.config.learning_rate, num_steps, 0.0
                ),
                global_clipnorm=1.0,
            )

        def outputs(self):
            if not keep:
                return {}
            return {
                os.path.join(keep, "adapters"): lambda path: save_adapters(
                    self.model, path, labels=list(self.config.task.labels)
                )
            }

    dev = {s: load_examples(config, s) for s in config.task.eval_splits}
    train = load_examples(config, "train")
    majority = majority_class_scores(config.task, train, dev)
    run = EpochScoredRun(config, dev)
    start = time.perf_counter()
    run.setup()
    counts = tuning_summary(run.model, print_fn=None)
    run.train(train)
    keras.backend.clear_session()
    _common.emit(
        {
            "task": config.task.name,
            "mode": spec.mode,
            "learning_rate": spec.learning_rate,
            "seed": args.seed,
            "epochs": args.epochs,
            "max_seq_length": args.max_seq_length,
            "jit_compile": args.jit_compile,
            "adam_epsilon": args.adam_epsilon,
            "optimizer": args.optimizer,
            "train_batch_size": args.batch,
            "train_examples": len(train),
            "dev_examples": sum(len(v) for v in dev.values()),
            "primary_metric": primary_metric(config.task.name),
            "trained_parameters": counts["total"]["trained"],
            "total_parameters": counts["total"]["total"],
            "parameter_groups": counts,
            "majority_class": majority,
            "per_epoch": run.epochs,
            "eval_seconds": round(run.eval_seconds, 1),
            "wall_seconds": round(time.perf_counter() - start, 1),
            "versions": _common.keras_versions(),
        }
    )


def run_sweep(args):
    """Parent: one child per (run, seed) without a result file yet."""
    specs = [RunSpec.parse(t) for t in args.runs.split(",") if t]
    folder = os.path.join(args.out_dir or ACCURACY_DIR, args.task)
    for seed in _common.int_list(args.seeds):
        for spec in specs:
            path = os.path.join(
                folder,
                spec.file_name(
                    seed, args.epochs, args.adam_epsilon, args.optimizer
                )
                + ".json",
            )
            if os.path.exists(path):
                print(f"skip {path} (exists)", flush=True)
                continue
            argv = [
                sys.executable,
                os.path.abspath(__file__),
                f"--one={spec.mode}:{spec.learning_rate:g}",
                f"--seed={seed}",
            ] + passthrough_flags(args)
            print(
                f"-> {args.task} {spec.mode} lr {spec.learning_rate:g} "
                f"seed {seed}",
                flush=True,
            )
            result = _common.run_child(argv, timeout=6 * 3600)
            if "error" in result:
                print(f"   {result['error']}", flush=True)
                continue
            result["command"] = _common.command_line()
            result["machine"] = _common.machine()
            for row in result["per_epoch"]:
                metric = result["primary_metric"]
                print(
                    f"   epoch {row['epoch']}: dev {metric} "
                    f"{row['eval_' + metric]:.4f}  loss "
                    f"{row['train_loss']:.4f}  {row['train_seconds']} s",
                    flush=True,
                )
            _common.write_json(path, result)


def passthrough_flags(args):
    flags = [
        f"--task={args.task}",
        f"--epochs={args.epochs:g}",
        f"--max_seq_length={args.max_seq_length}",
        f"--batch={args.batch}",
        f"--max_train_examples={args.max_train_examples}",
        f"--jit_compile={args.jit_compile}",
        f"--adam_epsilon={args.adam_epsilon:g}",
        f"--optimizer={args.optimizer}",
        f"--glue_dir={args.glue_dir}",
    ]
    for name in ("preset", "keep_dir"):
        if getattr(args, name):
            flags.append(f"--{name}={getattr(args, name)}")
    return flags


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", required=True, help="GLUE task, e.g. CoLA")
    parser.add_argument(
        "--runs",
        default="adapters-64:1e-3",
        help="comma-separated MODE:LR runs",
    )
    parser.add_argument("--seeds", default="1", help="comma-separated seeds")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--max_train_examples",
        type=int,
        default=0,
        help="train on the first N rows only (0: all)",
    )
    parser.add_argument(
        "--jit_compile",
        default="true",
        choices=("auto", "true", "false"),
        help="XLA for training and prediction (default true: "
        "1.24x faster steps on this CPU)",
    )
    parser.add_argument(
        "--adam_epsilon",
        type=float,
        default=1e-6,
        help="AdamWeightDecay's epsilon (the original 1e-6; "
        "runs with another value are named ..._eps<value>)",
    )
    parser.add_argument(
        "--optimizer",
        default="adam_weight_decay",
        choices=("adam_weight_decay", "keras_adamw"),
        help="the original (default), or Keras' AdamW without "
        "warm-up (runs named ..._keras_adamw)",
    )
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument(
        "--preset",
        default=None,
        help="BERT folder (default: the MiniLM package)",
    )
    parser.add_argument(
        "--keep_dir",
        default=None,
        help="save each run's adapter artifact under here",
    )
    parser.add_argument(
        "--out_dir",
        default=None,
        help="results folder (default benchmarks/results/accuracy)",
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.glue_dir, args.task)):
        sys.exit(
            f"glue_accuracy: no folder {args.task} under {args.glue_dir}; "
            "pass --glue_dir (the GLUE data of ../shared/data/glue)."
        )
    if args.one:
        _common.set_thread_env(2)
        run_one(args)
    else:
        run_sweep(args)


if __name__ == "__main__":
    main()
