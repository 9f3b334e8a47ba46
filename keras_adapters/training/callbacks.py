"""Callbacks for resumable training."""

import keras
import numpy as np

from keras_adapters.errors import KerasAdaptersError


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
    """Appends `step<TAB>loss` after every training step to a TSV file.

    A resumed run appends to the same file, so the file shows the loss
    curve across restarts.

    Args:
        path: the TSV file.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            step = int(self.model.optimizer.iterations.numpy())
            with open(self.path, "a") as handle:
                handle.write(f"{step}\t{float(logs['loss'])}\n")
