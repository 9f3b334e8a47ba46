"""The GLUE fine-tuning job behind `run_classifier.py`.

Files -> examples -> token ids -> model -> predictions -> metrics and
output files; each arrow is one function here or in `keras_adapters.data`,
`keras_adapters.training.pipeline` and `keras_adapters.metrics`.
"""

import dataclasses
import json
import os

import keras
import numpy as np

from keras_adapters.artifacts import ARTIFACT_FORMATS
from keras_adapters.artifacts import load_adapters
from keras_adapters.artifacts import save_adapters
from keras_adapters.checkpoints import classifier_from_tf1_checkpoint
from keras_adapters.data.encoding import encode_examples
from keras_adapters.data.glue import get_task
from keras_adapters.data.glue import read_examples
from keras_adapters.data.glue import read_tfds_examples
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import PAIR
from keras_adapters.export import SENTENCE
from keras_adapters.export import export_saved_model
from keras_adapters.fusion import fuse_adapters
from keras_adapters.fusion import save_fusion
from keras_adapters.metrics.glue import accuracy
from keras_adapters.metrics.glue import glue_metrics
from keras_adapters.models import AdapterHubTextClassifier
from keras_adapters.models import family_of
from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.training.pipeline import training_dataset
from keras_adapters.training.prefix_cache import load_or_build_prefix_cache
from keras_adapters.training.prefix_cache import split_frozen_prefix
from keras_adapters.training.run_config import RunConfig
from keras_adapters.training.run_config import setting
from keras_adapters.training.strategy import num_workers
from keras_adapters.training.strategy import process_settings
from keras_adapters.training.task_run import TaskRun
from keras_adapters.tuning import set_tuning_mode

# [CLS] a [SEP]; a pair adds b [SEP]: one token of each segment at least.
_MIN_SEQ_LENGTH = {False: 3, True: 5}


@dataclasses.dataclass
class ClassifierRunConfig(RunConfig):
    """Everything one run needs; the flags of `run_classifier.py`."""

    task_name: str = setting(
        None,
        "GLUE task: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX "
        "(any case).",
    )
    data_dir: str = setting(
        None,
        "Folder of the task's .tsv files. Defaults to $GLUE_DIR/<task>, else "
        "TensorFlow Datasets.",
        # The training data are compared by content (`train_data_sha256`).
        free_on_rerun=True,
    )
    output_dir: str = setting(
        None,
        "Where checkpoints, results and the export go. Defaults to "
        "output/<task>.",
        free_on_rerun=True,
    )
    do_eval: bool = setting(
        False, "Evaluate on the dev set(s).", free_on_rerun=True
    )
    eval_batch_size: int = setting(
        8, "Evaluation batch size.", positive=True, free_on_rerun=True
    )
    cache_frozen_prefix: bool = setting(
        False,
        "Compute the frozen embeddings and blocks below the lowest trained "
        "one once per training example (inference mode) and train the rest "
        "on the cache (e.g. with --tuning=top_k); stored in "
        "<output_dir>/prefix_cache.",
        free_on_rerun=True,
    )
    prefix_cache_memory_mb: int = setting(
        1024,
        "Host memory for the prefix cache; the rest is read from its file.",
        free_on_rerun=True,
    )
    load_adapters: str = setting(
        None,
        "Start from the adapters and head in this folder (a keras_adapters "
        "artifact or an AdapterHub folder) on --preset instead of fresh "
        "ones: with --do_eval alone, scores them; with --do_train, trains "
        "them on. Their adapter settings are the folder's.",
        path=True,
    )
    fusion: list = setting(
        None,
        "NAME=ARTIFACT_DIR values, comma-separated (e.g. cola=output/CoLA/"
        "adapters,sst2=output/SST-2/adapters): train AdapterFusion over "
        "these adapter artifacts of --preset (two or more, houlsby or "
        "pfeiffer adapters), frozen, with a new head: only the fusion "
        "layers and the head train. <output_dir>/adapters then holds the "
        "fusion and names the adapters by their weights checksums.",
    )
    adapter_format: str = setting(
        ARTIFACT_FORMATS[0],
        "Format of <output_dir>/adapters: keras_adapters (this package's "
        "artifact) or adapterhub (a folder AdapterHub's load_adapter reads, "
        "for --adapter_config=houlsby or pfeiffer).",
        choices=ARTIFACT_FORMATS,
    )

    def fill_defaults(self):
        if not self.task_name:
            raise KerasAdaptersError(
                "`task_name` is required, e.g. `task_name`=CoLA."
            )
        self.task = get_task(self.task_name)
        self.task_name = self.task.name
        if self.output_dir is None:
            self.output_dir = os.path.join("output", self.task.name)
        if not (self.do_train or self.do_eval or self.do_predict):
            self.do_train = self.do_eval = True
        if self.data_dir is None and os.environ.get("GLUE_DIR"):
            self.data_dir = os.path.join(
                os.environ["GLUE_DIR"], self.task.folder
            )
        super().fill_defaults()

    def check(self):
        super().check()
        if self.prefix_cache_memory_mb < 0:
            raise KerasAdaptersError(
                "`prefix_cache_memory_mb` must be >= 0 (0 keeps the whole "
                f"cache on disk), got {self.prefix_cache_memory_mb}."
            )
        if self.cache_frozen_prefix and num_workers() > 1:
            raise KerasAdaptersError(
                "`cache_frozen_prefix` trains on one host; TF_CONFIG names "
                f"{num_workers()} workers. Drop it for multi-worker training."
            )
        processes = process_settings(
            self.coordinator_address, self.num_processes, self.process_id
        )[1]
        if self.cache_frozen_prefix and processes > 1:
            raise KerasAdaptersError(
                "`cache_frozen_prefix` trains in one process; drop it for a "
                f"run of {processes} processes."
            )
        if self.adapter_format == "adapterhub" and not (
            self.adapterhub_style or self.load_adapters
        ):
            raise KerasAdaptersError(
                "`adapter_format`=adapterhub writes AdapterHub's houlsby or "
                "pfeiffer adapters; AdapterHub computes adapter-bert's "
                "differently. Train with `adapter_config`=houlsby or "
                "pfeiffer."
            )
        if self.cache_frozen_prefix and self.adapterhub_style:
            raise KerasAdaptersError(
                "`cache_frozen_prefix` does not split AdapterHub's "
                f"classification head yet; drop it for `adapter_config`="
                f"{self.adapter_config}."
            )
        if self.load_adapters:
            adapter_settings = (
                "adapter_size",
                "adapter_init_scale",
                "adapter_layers",
            )
            given = [
                name
                for name in adapter_settings
                if getattr(self, name) is not None
            ] + (["adapter_config"] if self.adapterhub_style else [])
            given += ["bert_config_file"] if self.bert_config_file else []
            if given:
                raise KerasAdaptersError(
                    f"`load_adapters` takes the adapters of "
                    f"{self.load_adapters} on `preset`; drop "
                    + ", ".join(f"`{name}`" for name in given)
                    + "."
                )
        if self.fusion is not None:
            self.fusion_adapters = _named_folders(self.fusion)
            conflicts = [
                name
                for name in (
                    "load_adapters",
                    "adapter_size",
                    "adapter_init_scale",
                    "adapter_layers",
                    "bert_config_file",
                    "cache_frozen_prefix",
                )
                if getattr(self, name)
            ] + (["adapter_config"] if self.adapterhub_style else [])
            if self.adapter_format != ARTIFACT_FORMATS[0]:
                conflicts.append("adapter_format")
            if self.tuning != "adapters":
                conflicts.append("tuning")
            if conflicts:
                raise KerasAdaptersError(
                    "`fusion` takes the adapters of its artifacts, frozen, "
                    "and trains the fusion and a head; drop "
                    + ", ".join(f"`{name}`" for name in conflicts)
                    + "."
                )
        shortest = _MIN_SEQ_LENGTH[self.task.is_pair]
        if self.max_seq_length < shortest:
            raise KerasAdaptersError(
                f"`max_seq_length`={self.max_seq_length} leaves no room for "
                f"the text: {self.task.name} needs at least {shortest} "
                "([CLS], one token of each sentence, [SEP] after each)."
            )

    def checkpoint_settings(self):
        return dict(super().checkpoint_settings(), task=self.task.name)

    def input_paths(self):
        return super().input_paths() + [self.data_dir]


def _named_folders(values):
    """`{name: folder}` of `fusion`'s NAME=FOLDER values."""
    folders = {}
    for value in values:
        name, separator, folder = value.partition("=")
        if not separator or not name or not folder:
            raise KerasAdaptersError(
                "`fusion` takes NAME=ARTIFACT_DIR values, e.g. "
                f"cola=output/CoLA/adapters,sst2=output/SST-2/adapters; got "
                f"{value!r}."
            )
        if name in folders:
            raise KerasAdaptersError(f"`fusion` names '{name}' twice.")
        if not os.path.isdir(folder):
            raise KerasAdaptersError(
                f"`fusion`: no folder '{folder}' for adapter '{name}'; give "
                "the adapters folder of a finished run (<output_dir>/adapters)."
            )
        folders[name] = folder
    if len(folders) < 2:
        raise KerasAdaptersError(
            f"`fusion` fuses two or more adapters; got {len(folders)} "
            f"({', '.join(values)}). Add another NAME=ARTIFACT_DIR."
        )
    return folders


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
    """The classifier in its tuning mode: adapters loaded from a folder, or
    fresh ones on a preset or the TF1 trio."""
    mode = dict(config.tuning_kwargs(), regression=config.task.is_regression)
    num_classes = None if config.task.is_regression else len(config.task.labels)
    if config.fusion is not None:
        model = fuse_adapters(
            config.preset,
            config.fusion_adapters,
            num_classes=num_classes,
            labels=None if config.task.is_regression else config.task.labels,
            regression=config.task.is_regression,
        )
    elif config.load_adapters:
        model = load_adapters(config.load_adapters, config.preset)
        check_task_fits(model, config.task)
        set_tuning_mode(
            model,
            config.tuning,
            top_k=config.top_k_layers,
            train_pooler=config.train_pooler,
            freeze_below_adapters=config.freeze_below_adapters,
        )
    elif config.bert_config_file:
        model = classifier_from_tf1_checkpoint(
            config.bert_config_file,
            config.init_checkpoint,
            vocab_file=config.vocab_file,
            do_lower_case=config.do_lower_case,
            num_classes=num_classes,
            **config.adapter_kwargs(),
            sequence_length=config.max_seq_length,
            **mode,
        )
    elif config.adapterhub_style:
        # AdapterHub's adapters train with AdapterHub's head.
        labels = None if config.task.is_regression else list(config.task.labels)
        model = AdapterHubTextClassifier.from_preset(
            config.preset,
            num_classes=num_classes,
            labels=labels,
            **config.adapter_kwargs(),
            **mode,
        )
    else:
        # The preset's family's own classifier (BERT's, RoBERTa's, ...).
        family = family_of(config.preset)
        model = AdapterClassifierTask.for_family(family).from_preset(
            config.preset,
            num_classes=num_classes,
            **config.adapter_kwargs(),
            **mode,
        )
    model.preprocessor.sequence_length = config.max_seq_length
    return model


def check_task_fits(model, task):
    """Raises unless a loaded classifier answers `task`'s classes."""
    if getattr(model, "regression", False) != task.is_regression:
        raise KerasAdaptersError(
            f"The loaded adapters' head is "
            f"{'a regression' if model.regression else 'a classification'} "
            f"head; {task.name} is "
            f"{'a regression' if task.is_regression else 'a classification'} "
            "task."
        )
    if task.is_regression:
        return
    if model.num_classes != len(task.labels):
        raise KerasAdaptersError(
            f"The loaded adapters' head has {model.num_classes} classes; "
            f"{task.name} has {len(task.labels)} ({', '.join(task.labels)})."
        )
    # Classes are matched by id; names that are the task's own in another
    # order mean the head's ids mean other classes.
    labels = list(getattr(model, "labels", None) or ())
    if set(labels) == set(task.labels) and labels != list(task.labels):
        raise KerasAdaptersError(
            f"The loaded adapters' classes are {', '.join(labels)} in that "
            f"order; {task.name}'s are {', '.join(task.labels)}."
        )


def _probabilities(task, logits):
    """Class probabilities, or the scores of a regression task."""
    if task.is_regression:
        return logits[:, 0]
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))


class ClassifierRun(TaskRun):
    """One run of the job: train, evaluate, predict, export.

    Args:
        config: a `ClassifierRunConfig`.

    Example:

    ```python
    run = ClassifierRun(ClassifierRunConfig(task_name="CoLA", data_dir=d))
    results = run.run()
    ```
    """

    def build_model(self):
        return build_classifier(self.config)

    def run(self):
        """Runs what the flags ask; returns the evaluation metrics."""
        config = self.config
        # Read every file first: a bad row fails before any training.
        splits = ["train"] if config.do_train else []
        splits += list(config.task.eval_splits) if config.do_eval else []
        splits += list(config.task.test_splits) if config.do_predict else []
        examples = {split: load_examples(config, split) for split in splits}
        self.prepare_output_dir(examples.get("train"))
        self.setup()
        results = {}
        if config.do_train:
            self.train(examples["train"])
        else:
            self.restore_trained()
        if not self.active:
            return {}
        if config.do_eval:
            results = self.evaluate(
                {s: examples[s] for s in config.task.eval_splits}
            )
        if config.do_predict:
            self.predict({s: examples[s] for s in config.task.test_splits})
            if config.task.name == "MNLI":
                self.predict_diagnostic()
        self.report_outputs()
        return results

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
        return encode_examples(
            examples, self.model.preprocessor, self.config.task
        )

    def train(self, examples):
        """Trains for `num_train_epochs`, resuming from `output_dir`."""
        if self.config.cache_frozen_prefix:
            split_frozen_prefix(self.model)  # Refused before any work.
        self.fit(self._encode(examples))

    def training_data(self, encoded, plan):
        """With `cache_frozen_prefix`, the model from its lowest trained
        block up, on batches of the frozen prefix's cached hidden states."""
        config = self.config
        if not config.cache_frozen_prefix:
            return super().training_data(encoded, plan)
        block, split = split_frozen_prefix(self.model)
        cache = load_or_build_prefix_cache(
            os.path.join(config.output_dir, "prefix_cache"),
            split.prefix,
            block,
            encoded,
            config.prefix_cache_memory_mb * 2**20,
            batch_size=config.train_batch_size,
        )
        with self.strategy.scope():
            # The task model's optimizer: its step counter and moments are
            # the ones checkpoints save and restore.
            split.top.compile(
                optimizer=self.model.optimizer,
                loss=self.model.loss,
                **self.compile_options(),
            )
        dataset = training_dataset(
            encoded, plan, static=self.static_shapes, prefix_cache=cache
        )
        return split.top, dataset

    def _outputs(self, examples, batch_size):
        """The examples encoded, their logits and class probabilities (or
        scores)."""
        encoded = self._encode(examples)
        logits = self.predict_outputs(encoded, batch_size)
        return encoded, logits, _probabilities(self.config.task, logits)

    def evaluate(self, splits):
        """Scores every eval split; writes `eval_results.txt` and `.json`."""
        task = self.config.task
        step = self.global_step
        results = {}
        for split, examples in splits.items():
            encoded, logits, outputs = self._outputs(
                examples, self.config.eval_batch_size
            )
            predictions = outputs if task.is_regression else outputs.argmax(1)
            metrics = glue_metrics(task, encoded.labels, predictions)
            if not task.is_regression:
                # The original's metric, which scripts grep for.
                metrics.setdefault(
                    "accuracy", accuracy(encoded.labels, predictions)
                )
            # The model's own loss (compiled with the task).
            metrics["loss"] = float(
                keras.ops.convert_to_numpy(
                    self.model.loss(encoded.labels, logits)
                )
            )
            prefix = (
                "eval"
                if len(splits) == 1
                else ("eval_" + split.replace("dev_", ""))
            )
            results.update({f"{prefix}_{k}": v for k, v in metrics.items()})
        results["global_step"] = step
        if not step and self.config.load_adapters:
            results["note"] = f"the adapters of {self.config.load_adapters}"
        elif not step:
            results["note"] = "untrained model: no checkpoint was found"
        if self.chief:
            path = os.path.join(self.config.output_dir, "eval_results")
            self.write_file(
                path + ".txt",
                "".join(f"{key} = {results[key]}\n" for key in sorted(results)),
                "evaluation results",
            )
            self.write_file(
                path + ".json",
                json.dumps(results, indent=2, sort_keys=True),
                "evaluation results (JSON)",
            )
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
            _, _, outputs = self._outputs(
                examples, self.config.predict_batch_size
            )
            if not self.chief:
                continue
            suffix = (
                ""
                if split in ("test", "test_matched")
                else ("_" + split.replace("test_", ""))
            )
            if task.name != self.config.task.name:
                suffix = "_" + task.name.lower()
            output_dir = self.config.output_dir
            header = ["score"] if task.is_regression else list(task.labels)
            self.write_file(
                os.path.join(output_dir, f"test_results{suffix}.tsv"),
                "".join(
                    "\t".join(str(value) for value in row) + "\n"
                    for row in [header]
                    + [map(float, row) for row in np.atleast_2d(outputs.T).T]
                ),
                f"{task.name} {split} probabilities"
                if not task.is_regression
                else f"{task.name} {split} scores",
            )
            rows = [
                f"{example.guid}\t"
                + (
                    f"{float(output):.3f}"
                    if task.is_regression
                    else task.labels[int(np.argmax(output))]
                )
                + "\n"
                for example, output in zip(examples, outputs)
            ]
            self.write_file(
                os.path.join(output_dir, task.submission_files[split]),
                "index\tprediction\n" + "".join(rows),
                f"{task.name} {split} GLUE submission",
            )

    def outputs(self):
        """The adapter-only artifact and, with `do_export`, the raw-string
        SavedModel."""
        task = self.config.task
        labels = None if task.is_regression else list(task.labels)
        # AdapterHub folders record no text inputs.
        inputs = (
            (PAIR if task.is_pair else (SENTENCE,))
            if self.config.adapter_format == ARTIFACT_FORMATS[0]
            else None
        )
        if self.config.fusion is not None:
            artifact = (
                "fusion artifact",
                lambda path: save_fusion(
                    self.model, path, labels=labels, inputs=inputs
                ),
            )
        else:
            artifact = (
                "adapter artifact"
                if self.config.adapter_format == "keras_adapters"
                else "AdapterHub adapter folder",
                lambda path: save_adapters(
                    self.model,
                    path,
                    labels=labels,
                    inputs=inputs,
                    format=self.config.adapter_format,
                ),
            )
        outputs = {self._adapters_dir(): artifact}
        if self.config.do_export:
            outputs[self.config.export_dir] = (
                "SavedModel (raw strings in)",
                lambda path: export_saved_model(
                    self.model, path, labels=labels, pair=task.is_pair
                ),
            )
        return outputs
