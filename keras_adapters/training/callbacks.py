"""Callbacks for resumable training."""

import os
import time

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


class StepLossCallback(keras.callbacks.Callback):
    """A callback that sees each optimizer step's own training loss.

    Keras reports a running mean over the epoch; the loss of the steps
    since the last call (one step, or `steps_per_execution`) is recovered
    from two consecutive means. Subclasses implement `on_step`.
    """

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_epoch_begin(self, epoch, logs=None):
        self._batches, self._total = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        batches = batch + 1
        total = float(logs["loss"]) * batches
        loss = (total - self._total) / (batches - self._batches)
        self.on_step(self._step(), loss, batches - self._batches)
        self._batches, self._total = batches, total

    def on_step(self, step, loss, num_steps):
        """Called after the optimizer reached `step`.

        Args:
            step: int, the optimizer's step count.
            loss: float, the mean training loss of the `num_steps` steps
                since the last call.
            num_steps: int, 1 unless `steps_per_execution` is above 1.
        """
        raise NotImplementedError


class StepLossLog(StepLossCallback):
    """Writes `step<TAB>loss` for every training step to a TSV file.

    `loss` is that step's own training loss, so the numbers do not depend
    on where a run was resumed. A resumed run first drops the rows after
    the step it resumed from (steps trained before a kill and trained
    again), then appends: the file holds each step once.

    Args:
        path: the TSV file; its first row is the header `step<TAB>loss`.
    """

    HEADER = "step\tloss\n"

    def __init__(self, path):
        super().__init__()
        self.path = path

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

    def on_step(self, step, loss, num_steps):
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{step}\t{loss}\n")


def _clock(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


class ProgressLog(StepLossCallback):
    """Plain log lines for a run whose output is not a terminal.

    Every `every` optimizer steps one line with the step, the mean loss of
    those steps, the learning rate, examples per second and the time since
    training began; and one line per epoch. No terminal control codes, so
    a file, a pipe, CI or a notebook's saved output stays readable (Keras'
    progress bar redraws itself once per step).

    Args:
        num_steps: int, the run's total optimizer steps.
        steps_per_epoch: int.
        batch_size: int, examples per step (for examples/s).
        every: int, steps between lines.
        print_fn: callable for the lines.

    Example:

    ```python
    model.fit(data, epochs=3, verbose=0, callbacks=[
        ProgressLog(num_steps=801, steps_per_epoch=267, batch_size=32,
                    every=13)])
    # step 13/801 (epoch 1/3): loss 0.6912, learning rate 4.87e-05,
    #     412.3 examples/s, 0:00:01
    ```
    """

    def __init__(
        self, num_steps, steps_per_epoch, batch_size, every, print_fn=print
    ):
        super().__init__()
        self.num_steps = int(num_steps)
        self.steps_per_epoch = int(steps_per_epoch)
        self.num_epochs = -(-self.num_steps // self.steps_per_epoch)
        self.batch_size = int(batch_size)
        self.every = max(1, int(every))
        self.print_fn = print_fn

    def on_train_begin(self, logs=None):
        self._began = self._since = time.perf_counter()
        self._losses = []
        self._epoch_losses = []

    def on_step(self, step, loss, num_steps):
        self._losses += [loss] * num_steps
        self._epoch_losses += [loss] * num_steps
        if step % self.every >= num_steps and step != self.num_steps:
            return
        now = time.perf_counter()
        rate = (
            len(self._losses) * self.batch_size / max(now - self._since, 1e-9)
        )
        learning_rate = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        epoch = min((step - 1) // self.steps_per_epoch + 1, self.num_epochs)
        self.print_fn(
            f"step {step}/{self.num_steps} (epoch {epoch}/{self.num_epochs}):"
            f" loss {np.mean(self._losses):.4f}, learning rate "
            f"{learning_rate:.3g}, {rate:,.1f} examples/s, "
            f"{_clock(now - self._began)}"
        )
        self._losses, self._since = [], now

    def on_epoch_end(self, epoch, logs=None):
        if not self._epoch_losses:
            return
        step = self._step()
        self.print_fn(
            f"epoch {min(epoch + 1, self.num_epochs)}/{self.num_epochs} done "
            f"at step {step}: mean loss {np.mean(self._epoch_losses):.4f} over "
            f"{len(self._epoch_losses)} steps, "
            f"{_clock(time.perf_counter() - self._began)}"
        )
        self._epoch_losses = []


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
