"""What the fine-tuning jobs share at run time: model, resumable fit,
outputs."""

import math
import os
import sys

import keras
import numpy as np

from keras_adapters.artifacts import ADAPTERS
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import SAVED_MODEL
from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.optimization import WarmupLinearDecay
from keras_adapters.output_files import check_output_folder
from keras_adapters.output_files import claim_folder
from keras_adapters.output_files import write_text
from keras_adapters.training.callbacks import ProgressLog
from keras_adapters.training.callbacks import StepCheckpoint
from keras_adapters.training.callbacks import StepLossLog
from keras_adapters.training.callbacks import StopAtStep
from keras_adapters.training.callbacks import StopOnNonFiniteLoss
from keras_adapters.training.checkpoints import CheckpointFolder
from keras_adapters.training.pipeline import evaluation_dataset
from keras_adapters.training.pipeline import plan_batches
from keras_adapters.training.pipeline import training_dataset
from keras_adapters.training.precision import choose_dtype_policy
from keras_adapters.training.precision import describe_policy
from keras_adapters.training.run_config import JIT_COMPILE
from keras_adapters.training.run_settings import SETTINGS_FILE
from keras_adapters.training.run_settings import RunSettings
from keras_adapters.training.run_settings import check_and_record
from keras_adapters.training.run_settings import examples_fingerprint
from keras_adapters.training.strategy import describe
from keras_adapters.training.strategy import is_chief
from keras_adapters.training.strategy import local_distribution
from keras_adapters.training.strategy import start_processes
from keras_adapters.training.strategy import strategy_from_flags
from keras_adapters.tuning import tuning_summary

# The kind of folder a run's output folder is (`keras_adapters.output_files`).
RUN = "run"


def check_sequence_length(model, max_seq_length):
    """Raises when `max_seq_length` exceeds the position embeddings."""
    positions = model.backbone.max_sequence_length
    if max_seq_length > positions:
        raise KerasAdaptersError(
            f"`max_seq_length`={max_seq_length} is longer than the "
            f"model's {positions} position embeddings."
        )


def _features_only(features, labels, weights):
    del labels, weights
    return features


class TrainingDataError(KerasAdaptersError):
    """Raised when the training data make no training step."""


class TaskRun:
    """The runtime under a job: strategy, model, resumable `fit`, logits.

    Subclasses implement `build_model()` and `outputs()` and call `setup()`
    first in their `run()`.

    Args:
        config: a `RunConfig` subclass.
    """

    def __init__(self, config):
        self.config = config
        self.static_shapes = config.use_tpu
        # Before any computation: joins the other JAX processes, if any.
        self.process_id, self.num_processes = start_processes(
            config.coordinator_address,
            config.num_processes,
            config.process_id,
        )
        if config.train_batch_size % self.num_processes:
            raise KerasAdaptersError(
                f"`train_batch_size`={config.train_batch_size} does not "
                f"split over {self.num_processes} processes; give a "
                "multiple of `num_processes`."
            )
        self.chief = is_chief() and self.process_id == 0
        self.global_step = 0
        self.policy, self.policy_reason = choose_dtype_policy(
            config.mixed_precision, use_tpu=config.use_tpu
        )
        # What this run wrote, in order: `{path: what it is}`.
        self.written = {}

    def build_model(self):
        """The task model in its tuning mode (inside the strategy scope)."""
        raise NotImplementedError

    def outputs(self):
        """What a trained run leaves behind for serving.

        Returns:
            `{path: (what, write)}`: `what` says what the folder holds (for
            the log) and `write(path)` writes it whole.
        """
        raise NotImplementedError

    def prepare_output_dir(self, train_examples=None):
        """Checks every output path and the settings of an earlier run in
        `output_dir`, then records this run's settings: before any work,
        so a refused run changes nothing.

        Args:
            train_examples: the training examples when the run trains
                (their fingerprint is part of the settings).

        Raises:
            OutputFolderError: an output path would replace something
                keras_adapters did not write, or an input.
            RunSettingsError: `output_dir` holds a run with other settings.
        """
        config = self.config
        if not self.chief:
            return
        inputs = config.input_paths()
        check_output_folder(config.output_dir, RUN, "output_dir", inputs)
        if config.do_export:
            check_output_folder(
                config.export_dir,
                SAVED_MODEL,
                "export_dir",
                inputs + [config.output_dir],
            )
        check_output_folder(self._adapters_dir(), ADAPTERS, "output_dir")
        claim_folder(config.output_dir, RUN, "output_dir", inputs)
        resolved = dict(
            learning_rate=config.learning_rate, dtype_policy=self.policy
        )
        if train_examples is not None:
            resolved["train_data_sha256"] = examples_fingerprint(train_examples)
        check_and_record(config.output_dir, RunSettings.of(config, **resolved))
        self.written[os.path.join(config.output_dir, SETTINGS_FILE)] = (
            "settings of this run"
        )

    def _adapters_dir(self):
        return os.path.join(self.config.output_dir, "adapters")

    def setup(self):
        """Seeds, sets the dtype policy and strategy, builds the model."""
        config = self.config
        keras.utils.set_random_seed(config.seed)
        # Set every time: the policy is global, and a notebook's earlier
        # run must not leave its precision to this one.
        keras.mixed_precision.set_global_policy(self.policy)
        if self.chief and config.verbose:
            print(describe_policy(self.policy, self.policy_reason))
        self.strategy = strategy_from_flags(
            config.use_tpu,
            config.tpu_name,
            config.tpu_zone,
            config.gcp_project,
            config.master,
        )
        if self.chief and config.verbose:
            print(describe(self.strategy))
        if self.chief and config.verbose and config.do_train:
            default = " (the default of --tuning=" + config.tuning + ")"
            print(
                f"Learning rate {config.learning_rate:g}"
                + (default if config.learning_rate_is_default else "")
                + "."
            )
        with self.strategy.scope():
            self.model = self.build_model()
        check_sequence_length(self.model, config.max_seq_length)
        if self.chief and config.verbose:
            tuning_summary(self.model)

    def _checkpoints(self):
        return CheckpointFolder(
            os.path.join(self.config.output_dir, "checkpoint"),
            self.config.checkpoint_settings(),
        )

    def restore_trained(self):
        """Without `do_train`, evaluates what `output_dir` trained (as the
        original's Estimator does); returns the restored step (0: none,
        said in the log)."""
        self._continue_on_process_zero()
        if not self.active:
            return 0
        with self.strategy.scope():
            step = self._checkpoints().restore(self.model, with_optimizer=False)
        loaded = getattr(self.config, "load_adapters", None)
        if step:
            print(f"Restored the model trained for {step} steps.")
        elif loaded:
            print(
                f"No checkpoint in {self.config.output_dir}: these results "
                f"are those of the adapters of {loaded} as loaded."
            )
        else:
            print(
                f"No checkpoint in {self.config.output_dir}: these results "
                "are those of the untrained model (train it with --do_train)."
            )
        self.global_step = step
        return step

    def make_optimizer(self, num_steps, warmup):
        """The original optimizer: AdamWeightDecay on BERT's schedule."""
        config = self.config
        return AdamWeightDecay(
            WarmupLinearDecay(config.learning_rate, num_steps, warmup),
            weight_decay_rate=config.adapter_weight_decay_rate,
            epsilon=config.adam_epsilon,
        )

    def num_train_steps(self, num_examples):
        """The original's step count: whole batches over every epoch."""
        config = self.config
        num_steps = int(
            num_examples / config.train_batch_size * config.num_train_epochs
        )
        if num_steps < 1:
            raise TrainingDataError(
                f"{num_examples} training examples over "
                f"{config.num_train_epochs:g} epochs make no full batch of "
                f"{config.train_batch_size}: give more training data or "
                "epochs, or a smaller `train_batch_size`."
            )
        return num_steps

    def compile_options(self):
        """The `compile()` arguments of every model this run trains."""
        config = self.config
        return dict(
            steps_per_execution=(
                min(config.iterations_per_loop, config.save_checkpoints_steps)
                if config.use_tpu
                else 1
            ),
            jit_compile=JIT_COMPILE[config.jit_compile],
        )

    def _compile_for_training(self, num_steps):
        config = self.config
        self.model.compile(
            optimizer=self.make_optimizer(
                num_steps, int(num_steps * config.warmup_proportion)
            ),
            **self.compile_options(),
        )

    def fit(self, encoded):
        """Trains on `encoded` for `num_train_epochs`, resuming from
        `output_dir`, then writes the outputs (on the chief): all of them
        after training, the missing ones when training had already ended.

        Args:
            encoded: `EncodedExamples` (or `SquadFeatures`) with labels.
        """
        num_steps = self.num_train_steps(len(encoded))
        checkpoints = self._checkpoints()
        with self.strategy.scope():
            self._compile_for_training(num_steps)
            start = checkpoints.restore(self.model)
        self.global_step = start
        if start < num_steps:
            if start:
                print(f"Resuming at step {start} of {num_steps}.")
            self._train_steps(encoded, start, num_steps, checkpoints)
            self.global_step = int(self.model.optimizer.iterations.numpy())
        self._continue_on_process_zero(restore=True)
        if self.chief:
            self.write_outputs(only_missing=start >= num_steps)

    @property
    def active(self):
        """Whether this process evaluates, predicts and exports: every
        process of one run, but only process 0 of a multi-process JAX run
        once training is over."""
        return self.num_processes == 1 or self.chief

    def _continue_on_process_zero(self, restore=False):
        """After the processes of a multi-process JAX run trained together,
        process 0 goes on alone, on its own devices (a model whose weights
        span several hosts cannot be read back by one); the others are
        done.

        Args:
            restore: bool, load the model from the checkpoint process 0
                wrote at the end of training.
        """
        if self.num_processes == 1 or not self.chief:
            return
        self.strategy = local_distribution()
        with self.strategy.scope():
            self.model = self.build_model()
        if restore:
            self._checkpoints().restore(self.model, with_optimizer=False)

    def _train_steps(self, encoded, start, num_steps, checkpoints):
        """Runs `model.fit` from step `start` to `num_steps`."""
        config = self.config
        plan = plan_batches(
            encoded.lengths,
            config.train_batch_size,
            num_steps,
            config.seed,
            bucketed=not self.static_shapes,
        )[start:]
        model, dataset = self.training_data(encoded, plan)
        steps_per_epoch = max(1, math.ceil(num_steps / config.num_train_epochs))
        checkpoint = StepCheckpoint(
            checkpoints,
            config.save_checkpoints_steps,
            enabled=self.chief,
            saved_model=self.model,
        )
        # A terminal gets Keras' progress bar; a file or pipe plain lines.
        progress_bar = bool(config.verbose) and sys.stdout.isatty()
        progress = (
            [
                ProgressLog(
                    num_steps,
                    steps_per_epoch,
                    config.train_batch_size,
                    every=config.log_every_steps
                    or max(1, steps_per_epoch // 20),
                )
            ]
            if config.verbose and not progress_bar and self.chief
            else []
        )
        model.fit(
            dataset.repeat(),
            initial_epoch=start // steps_per_epoch,
            epochs=math.ceil(num_steps / steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # The plan is already shuffled.
            callbacks=[StopAtStep(num_steps), StopOnNonFiniteLoss()]
            + self._chief_callbacks()
            + progress
            + [checkpoint],
            verbose=int(progress_bar),
        )

    def training_data(self, encoded, plan):
        """The model `fit` trains and its batches, for the steps of `plan`.

        Args:
            encoded: the training `EncodedExamples` (or `SquadFeatures`).
            plan: the rows of `plan_batches` still to train on.

        Returns:
            `(model, dataset)`: here the task model on token-id batches; a
            subclass may train a part of the task model that shares its
            variables and optimizer.
        """
        return self.model, training_dataset(
            encoded,
            plan,
            static=self.static_shapes,
            shard=(self.process_id, self.num_processes),
        )

    def write_outputs(self, only_missing=False):
        """Writes each of `outputs()` (each writer replaces its folder
        atomically, so a killed run never leaves a half-written one).

        Args:
            only_missing: bool, keep the outputs that already exist.
        """
        for path, (what, write) in self.outputs().items():
            if only_missing and os.path.exists(path):
                continue
            write(path)
            self.written[path] = what
            if only_missing:
                print(f"Wrote the missing {path}.")

    def write_file(self, path, text, what):
        """Writes one result file atomically and notes it for the report.

        Args:
            path: the file.
            text: str, its content.
            what: str, what it holds, for `report_outputs`.
        """
        write_text(path, text)
        self.written[path] = what

    def report_outputs(self):
        """Logs where every output of the run is: the last lines a run
        prints."""
        if not self.chief:
            return
        config = self.config
        present = {
            os.path.join(config.output_dir, name): what
            for name, what in (
                ("checkpoint", "checkpoints"),
                ("train_log.tsv", "training loss per step"),
                ("logs", "TensorBoard logs"),
            )
        }
        present.update(
            (path, what) for path, (what, _) in self.outputs().items()
        )
        present.update(self.written)
        print("Outputs:")
        for path, what in present.items():
            if os.path.exists(path):
                print(f"  {what}: {path}")

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

    def predict_outputs(self, encoded, batch_size):
        """The model's outputs for every row of `encoded`, in order."""
        dataset = evaluation_dataset(
            encoded, batch_size, static=self.static_shapes
        )
        outputs = self.model.predict(dataset.map(_features_only), verbose=0)
        return np.asarray(outputs)[: len(encoded)]
