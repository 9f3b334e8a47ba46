"""Callbacks for resumable training."""

import os

import keras
import numpy as np

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.output_files import write_text


class NonFiniteLossError(KerasAdaptersError):
    """Raised when the training loss stops being a finite number."""


class StepCheckpoint(keras.callbacks.Callback):
    """Checkpoints every `save_steps` optimizer steps and at the end.

    Args:
        folder: a `CheckpointFolder`.
        save_steps: int. Save when the optimizer step count reaches a
            multiple of it, and at the end of training.
        enabled: bool. Only the chief writes in multi-worker training.
        saved_model: the model to checkpoint when `fit` trains a part of
            it (the top of `keras_adapters.models.split_at_block`).
            Defaults to the model being fit.
    """

    def __init__(self, folder, save_steps, enabled=True, saved_model=None):
        super().__init__()
        self.folder = folder
        self.save_steps = int(save_steps)
        self.enabled = enabled
        self.saved_model = saved_model
        self._last_saved = None

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        self._last_saved = self._step()

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step // self.save_steps != self._last_saved // self.save_steps:
            self.save(step)

    def on_train_end(self, logs=None):
        if self._step() != self._last_saved:
            self.save(self._step())

    def save(self, step):
        """Writes the checkpoint of `step`."""
        self._last_saved = step
        if self.enabled:
            # Reading `self.model` first: on JAX it writes the state `fit`
            # holds back into the variables `saved_model` shares.
            fitted = self.model
            self.folder.save(self.saved_model or fitted, step)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with a one-line error at the first NaN or infinite
    loss, before any checkpoint or export holds the broken weights."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise NonFiniteLossError(
                f"The training loss became {float(loss)} at step {step}; "
                "nothing of this step was saved. Lower learning_rate, or "
                "check the input data and the checkpoint it resumed from."
            )


class StopAtStep(keras.callbacks.Callback):
    """Stops `fit` once the optimizer has made `num_steps` steps."""

    def __init__(self, num_steps):
        super().__init__()
        self.num_steps = int(num_steps)

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.num_steps:
            self.model.stop_training = True


class StepLossLog(keras.callbacks.Callback):
    """Writes `step<TAB>loss` for every training step to a TSV file.

    `loss` is that step's own training loss (Keras reports a running mean
    over the epoch; the step's value is recovered from two consecutive
    means), so the numbers do not depend on where a run was resumed. A
    resumed run first drops the rows after the step it resumed from (steps
    trained before a kill and trained again), then appends: the file holds
    each step once.

    Args:
        path: the TSV file; its first row is the header `step<TAB>loss`.
    """

    HEADER = "step\tloss\n"

    def __init__(self, path):
        super().__init__()
        self.path = path

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        start = self._step()
        kept = [self.HEADER]
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                kept += [
                    line
                    for line in handle
                    if line.split("\t")[0].isdigit()
                    and int(line.split("\t")[0]) <= start
                ]
        write_text(self.path, "".join(kept))

    def on_epoch_begin(self, epoch, logs=None):
        self._batches, self._total = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        # Batches since the last call (more than one with
        # `steps_per_execution`): their mean loss.
        batches = batch + 1
        total = float(logs["loss"]) * batches
        loss = (total - self._total) / (batches - self._batches)
        self._batches, self._total = batches, total
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{self._step()}\t{loss}\n")


def read_step_log(path):
    """The rows of a `StepLossLog` file.

    Args:
        path: the TSV file (`<output_dir>/train_log.tsv`).

    Returns:
        `(steps, losses)`: a list of ints and a list of floats, in file
        order.
    """
    with open(path, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    if not rows or rows[0] != StepLossLog.HEADER.rstrip("\n").split("\t"):
        raise KerasAdaptersError(
            f"{path} is not a training log (its first row is not "
            f"{StepLossLog.HEADER.strip()!r})."
        )
    return [int(row[0]) for row in rows[1:]], [
        float(row[1]) for row in rows[1:]
    ]
