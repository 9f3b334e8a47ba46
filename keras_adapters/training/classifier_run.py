"""The GLUE fine-tuning job behind `run_classifier.py`.

Files -> examples -> token ids -> model -> predictions -> metrics and
output files; each arrow is one function here or in `keras_adapters.data`,
`keras_adapters.training.pipeline` and `keras_adapters.metrics`.
"""

import dataclasses
import json
import math
import os

import keras
import numpy as np

from keras_adapters.artifacts import save_adapters
from keras_adapters.checkpoints import classifier_from_tf1_checkpoint
from keras_adapters.data.glue import get_task
from keras_adapters.data.glue import read_examples
from keras_adapters.data.glue import read_tfds_examples
from keras_adapters.export import export_saved_model
from keras_adapters.metrics.glue import glue_metrics
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.optimization import WarmupLinearDecay
from keras_adapters.training.callbacks import StepCheckpoint
from keras_adapters.training.callbacks import StepLossLog
from keras_adapters.training.callbacks import StopAtStep
from keras_adapters.training.pipeline import encode_examples
from keras_adapters.training.pipeline import evaluation_dataset
from keras_adapters.training.pipeline import plan_batches
from keras_adapters.training.pipeline import training_dataset
from keras_adapters.training.strategy import is_chief
from keras_adapters.training.strategy import strategy_from_flags
from keras_adapters.tuning import tuning_summary

DEFAULT_PRESET = "bert_base_en_uncased"


@dataclasses.dataclass
class ClassifierRunConfig:
    """Everything one run needs; the flags of `run_classifier.py`."""

    task_name: str
    output_dir: str = None
    data_dir: str = None
    preset: str = None
    bert_config_file: str = None
    vocab_file: str = None
    init_checkpoint: str = None
    do_lower_case: bool = True
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 1000
    use_tpu: bool = False
    tpu_name: str = None
    tpu_zone: str = None
    gcp_project: str = None
    master: str = None
    num_tpu_cores: int = 8
    adapter_size: int = 64
    adapter_init_scale: float = 1e-3
    adapter_weight_decay_rate: float = 0.01
    tuning: str = "adapters"
    top_k_layers: int = None
    train_pooler: bool = False
    seed: int = 12345
    mixed_precision: str = None
    export_dir: str = None
    max_train_examples: int = 0
    verbose: int = 1

    def __post_init__(self):
        self.task = get_task(self.task_name)
        if self.output_dir is None:
            self.output_dir = os.path.join("output", self.task.name)
        if not (self.do_train or self.do_eval or self.do_predict):
            self.do_train = self.do_eval = True
        if self.preset and self.bert_config_file:
            raise ValueError(
                "Give either --preset or --bert_config_file/--vocab_file/"
                "--init_checkpoint, not both."
            )
        if self.bert_config_file and not self.vocab_file:
            raise ValueError("--bert_config_file needs --vocab_file.")
        if not self.bert_config_file:
            self.preset = self.preset or DEFAULT_PRESET
        if self.tuning == "top_k" and not self.top_k_layers:
            raise ValueError("--tuning=top_k needs --top_k_layers.")
        if self.mixed_precision not in (None, "", "bf16", "fp16"):
            raise ValueError(
                f"--mixed_precision must be bf16 or fp16, got "
                f"'{self.mixed_precision}'."
            )
        if self.data_dir is None and os.environ.get("GLUE_DIR"):
            self.data_dir = os.path.join(
                os.environ["GLUE_DIR"], self.task.folder
            )
        self.export_dir = self.export_dir or os.path.join(
            self.output_dir, "export"
        )


def load_examples(config, split):
    """The examples of one split, from `data_dir` or TensorFlow Datasets."""
    if config.data_dir is not None:
        examples = read_examples(config.task, config.data_dir, split)
    else:
        examples = read_tfds_examples(config.task, split)
    if split == "train" and config.max_train_examples:
        examples = examples[: config.max_train_examples]
    return examples


def build_classifier(config):
    """The classifier in its tuning mode, from a preset or the TF1 trio."""
    mode = dict(
        tuning_mode=config.tuning,
        top_k=config.top_k_layers if config.tuning == "top_k" else None,
        train_pooler=config.train_pooler,
        regression=config.task.is_regression,
    )
    num_classes = None if config.task.is_regression else len(config.task.labels)
    if config.bert_config_file:
        model = classifier_from_tf1_checkpoint(
            config.bert_config_file,
            config.init_checkpoint,
            vocab_file=config.vocab_file,
            do_lower_case=config.do_lower_case,
            num_classes=num_classes,
            adapter_size=config.adapter_size,
            adapter_init_scale=config.adapter_init_scale,
            sequence_length=config.max_seq_length,
            **mode,
        )
    else:
        model = AdapterBertTextClassifier.from_preset(
            config.preset,
            num_classes=num_classes,
            adapter_size=config.adapter_size,
            adapter_init_scale=config.adapter_init_scale,
            **mode,
        )
    positions = model.backbone.max_sequence_length
    if config.max_seq_length > positions:
        raise ValueError(
            f"--max_seq_length={config.max_seq_length} is longer than the "
            f"model's {positions} position embeddings."
        )
    model.preprocessor.sequence_length = config.max_seq_length
    return model


def _features_only(features, labels, weights):
    del labels, weights
    return features


def _eval_outputs(task, logits):
    if task.is_regression:
        return logits[:, 0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _loss(task, outputs, labels):
    if task.is_regression:
        return float(np.mean((outputs - labels) ** 2))
    picked = outputs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(picked, 1e-12))))


class ClassifierRun:
    """One run of the job: train, evaluate, predict, export.

    Args:
        config: a `ClassifierRunConfig`.

    Example:

    ```python
    run = ClassifierRun(ClassifierRunConfig(task_name="CoLA", data_dir=d))
    results = run.run()
    ```
    """

    def __init__(self, config):
        self.config = config
        self.static_shapes = config.use_tpu
        self.chief = is_chief()
        self.global_step = 0

    def run(self):
        """Runs what the flags ask; returns the evaluation metrics."""
        config = self.config
        keras.utils.set_random_seed(config.seed)
        if config.mixed_precision:
            keras.mixed_precision.set_global_policy(
                "mixed_bfloat16" if config.mixed_precision == "bf16"
                else "mixed_float16"
            )
        self.strategy = strategy_from_flags(
            config.use_tpu, config.tpu_name, config.tpu_zone,
            config.gcp_project, config.master,
        )
        os.makedirs(config.output_dir, exist_ok=True)
        # Read every file first: a bad row fails before any training.
        splits = ["train"] if config.do_train else []
        splits += list(config.task.eval_splits) if config.do_eval else []
        splits += list(config.task.test_splits) if config.do_predict else []
        examples = {split: load_examples(config, split) for split in splits}
        with self.strategy.scope():
            self.model = build_classifier(config)
        if self.chief and config.verbose:
            tuning_summary(self.model)
        results = {}
        if config.do_train:
            self.train(examples["train"])
        else:
            self.restore_trained()
        if config.do_eval:
            results = self.evaluate(
                {s: examples[s] for s in config.task.eval_splits}
            )
        if config.do_predict:
            self.predict({s: examples[s] for s in config.task.test_splits})
            if config.task.name == "MNLI":
                self.predict_diagnostic()
        return results

    def _checkpoint(self):
        return StepCheckpoint(
            os.path.join(self.config.output_dir, "checkpoint"),
            self.config.save_checkpoints_steps,
            enabled=self.chief,
        )

    def restore_trained(self):
        """Without `--do_train`, evaluates what `output_dir` trained (as the
        original's Estimator does); returns the restored step (0: none)."""
        with self.strategy.scope():
            self.model.compile(optimizer=AdamWeightDecay(0.0))
            step = self._checkpoint().restore(self.model)
        if step:
            print(f"Restored the model trained for {step} steps.")
        self.global_step = step
        return step

    def predict_diagnostic(self):
        """Predicts GLUE's diagnostic set (AX) with this MNLI model when the
        `diagnostic` folder sits next to `data_dir`."""
        if self.config.data_dir is None:
            return
        folder = os.path.join(
            os.path.dirname(os.path.normpath(self.config.data_dir)),
            get_task("AX").folder,
        )
        if os.path.isdir(folder):
            ax = get_task("AX")
            self.predict({"test": read_examples(ax, folder, "test")}, task=ax)

    def _encode(self, examples):
        labels = None if self.config.task.is_regression else self.config.task.labels
        return encode_examples(examples, self.model.preprocessor, labels)

    def train(self, examples):
        """Trains for `num_train_epochs`, resuming from `output_dir`."""
        config = self.config
        encoded = self._encode(examples)
        batch = config.train_batch_size
        num_steps = int(len(encoded) / batch * config.num_train_epochs)
        if num_steps < 1:
            raise ValueError(
                f"{len(encoded)} training examples make no full batch of "
                f"{batch}; lower --train_batch_size."
            )
        warmup = int(num_steps * config.warmup_proportion)
        checkpoint = self._checkpoint()
        with self.strategy.scope():
            self.model.compile(
                optimizer=AdamWeightDecay(
                    WarmupLinearDecay(config.learning_rate, num_steps, warmup),
                    weight_decay_rate=config.adapter_weight_decay_rate,
                ),
                steps_per_execution=(
                    min(config.iterations_per_loop, config.save_checkpoints_steps)
                    if config.use_tpu else 1
                ),
            )
            start = checkpoint.restore(self.model)
        self.global_step = start
        if start >= num_steps:
            return
        plan = plan_batches(
            encoded.lengths, batch, num_steps, config.seed,
            bucketed=not self.static_shapes,
        )[start:]
        dataset = training_dataset(encoded, plan, static=self.static_shapes)
        steps_per_epoch = max(1, math.ceil(num_steps / config.num_train_epochs))
        if start:
            print(f"Resuming at step {start} of {num_steps}.")
        self.model.fit(
            dataset.repeat(),
            initial_epoch=start // steps_per_epoch,
            epochs=math.ceil(num_steps / steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # The plan is already shuffled.
            callbacks=[StopAtStep(num_steps)] + self._chief_callbacks()
            + [checkpoint],
            verbose=config.verbose,
        )
        self.global_step = int(self.model.optimizer.iterations.numpy())
        if self.chief:
            self.export()

    def _chief_callbacks(self):
        """Logging that only the chief writes (one copy per output_dir)."""
        if not self.chief:
            return []
        output_dir = self.config.output_dir
        return [
            StepLossLog(os.path.join(output_dir, "train_log.tsv")),
            keras.callbacks.TensorBoard(
                os.path.join(output_dir, "logs"), update_freq=50
            ),
        ]

    def _outputs(self, examples, batch_size):
        encoded = self._encode(examples)
        dataset = evaluation_dataset(
            encoded, batch_size, static=self.static_shapes
        )
        logits = self.model.predict(
            dataset.map(_features_only), verbose=0
        )[: len(encoded)]
        return encoded, _eval_outputs(self.config.task, np.asarray(logits))

    def evaluate(self, splits):
        """Scores every eval split; writes `eval_results.txt` and `.json`."""
        task = self.config.task
        step = self.global_step
        results = {}
        for split, examples in splits.items():
            encoded, outputs = self._outputs(
                examples, self.config.eval_batch_size
            )
            predictions = outputs if task.is_regression else outputs.argmax(1)
            metrics = glue_metrics(task, encoded.labels, predictions)
            metrics["loss"] = _loss(task, outputs, encoded.labels)
            prefix = "eval" if len(splits) == 1 else (
                "eval_" + split.replace("dev_", "")
            )
            results.update({f"{prefix}_{k}": v for k, v in metrics.items()})
        results["global_step"] = step
        if self.chief:
            path = os.path.join(self.config.output_dir, "eval_results.txt")
            with open(path, "w") as handle:
                for key in sorted(results):
                    handle.write(f"{key} = {results[key]}\n")
            with open(path[: -len(".txt")] + ".json", "w") as handle:
                json.dump(results, handle, indent=2, sort_keys=True)
            for key in sorted(results):
                print(f"  {key} = {results[key]}")
        return results

    def predict(self, splits, task=None):
        """Writes `test_results*.tsv` and the GLUE submission files.

        Args:
            splits: `{split: examples}`.
            task: the task whose files these are (AX with an MNLI model);
                defaults to the run's task.
        """
        task = task or self.config.task
        for split, examples in splits.items():
            # Every worker joins the prediction; only the chief writes.
            _, outputs = self._outputs(examples, self.config.predict_batch_size)
            if not self.chief:
                continue
            suffix = "" if split in ("test", "test_matched") else (
                "_" + split.replace("test_", "")
            )
            if task.name != self.config.task.name:
                suffix = "_" + task.name.lower()
            results = os.path.join(
                self.config.output_dir, f"test_results{suffix}.tsv"
            )
            with open(results, "w") as handle:
                for row in np.atleast_2d(outputs.T).T:
                    handle.write("\t".join(str(float(p)) for p in row) + "\n")
            submission = os.path.join(
                self.config.output_dir, task.submission_files[split]
            )
            with open(submission, "w") as handle:
                handle.write("index\tprediction\n")
                for example, output in zip(examples, outputs):
                    value = (
                        f"{float(output):.3f}" if task.is_regression
                        else task.labels[int(np.argmax(output))]
                    )
                    handle.write(f"{example.guid}\t{value}\n")

    def export(self):
        """Writes the adapter-only artifact and the raw-string SavedModel."""
        task = self.config.task
        save_adapters(
            self.model,
            os.path.join(self.config.output_dir, "adapters"),
            labels=None if task.is_regression else list(task.labels),
        )
        export_saved_model(
            self.model,
            self.config.export_dir,
            labels=None if task.is_regression else list(task.labels),
            pair=task.is_pair,
        )
