"""Callbacks for resumable training."""

import json
import os

import keras


class StepCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer every `save_steps` optimizer steps.

    The checkpoint is `model.weights.h5` (model and optimizer variables)
    plus `state.json` (`{"step": ...}`), both replaced atomically, so a
    run killed at any moment leaves the previous complete checkpoint.
    `restore()` puts a fresh model back at that step.

    Args:
        directory: folder for the checkpoint.
        save_steps: int. Save when the optimizer step count reaches a
            multiple of it, and at the end of training.
        enabled: bool. Only the chief writes in multi-worker training.
    """

    WEIGHTS = "model.weights.h5"
    STATE = "state.json"

    def __init__(self, directory, save_steps, enabled=True):
        super().__init__()
        self.directory = directory
        self.save_steps = int(save_steps)
        self.enabled = enabled
        self._last_saved = None

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step // self.save_steps != (self._last_saved or 0) // self.save_steps:
            self.save(step)

    def on_train_end(self, logs=None):
        self.save(self._step())

    def save(self, step):
        """Writes the checkpoint of `step`."""
        self._last_saved = step
        if not self.enabled:
            return
        os.makedirs(self.directory, exist_ok=True)
        weights = os.path.join(self.directory, self.WEIGHTS)
        self.model.save_weights(weights + ".tmp.weights.h5")
        os.replace(weights + ".tmp.weights.h5", weights)
        state = os.path.join(self.directory, self.STATE)
        with open(state + ".tmp", "w") as handle:
            json.dump({"step": step}, handle)
        os.replace(state + ".tmp", state)

    def restore(self, model):
        """Loads the latest checkpoint into `model`; returns its step (0 if
        there is none)."""
        state = os.path.join(self.directory, self.STATE)
        if not os.path.isfile(state):
            return 0
        with open(state) as handle:
            step = int(json.load(handle)["step"])
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.directory, self.WEIGHTS))
        self._last_saved = step
        return step


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
