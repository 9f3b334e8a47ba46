"""Resumable training checkpoints: what trains, the optimizer, a checksum.

A checkpoint is one folder, `step-<N>/`, committed by a single rename:

- `trained.safetensors`: every trainable variable (by path), the random
  generator states of the dropout layers and every optimizer variable (by
  position), so a resumed run continues exactly where the saved one was;
- `state.json`: the step, the SHA-256 of the weights file, a fingerprint of
  the frozen base weights (left out of the file: an adapter checkpoint of
  MiniLM holds 2.4 MB of adapters and 4.8 MB of Adam moments instead of
  98 MB) and the settings that shape the model.

The two newest checkpoints are kept. Restoring takes the newest one whose
checksum holds and says so when it had to skip a damaged one; it refuses,
in one line, a checkpoint of another base model or other settings.
"""

import dataclasses
import json
import os
import re
import shutil

import numpy as np
import safetensors.numpy

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.artifact import base_fingerprint
from keras_adapters.models.artifact import file_sha256
from keras_adapters.output_files import PARTIAL
from keras_adapters.output_files import claim_folder
from keras_adapters.output_files import save_safetensors
from keras_adapters.output_files import write_text

WEIGHTS = "trained.safetensors"
STATE = "state.json"
KEEP = 2
# The kind of folder a checkpoint folder is (`keras_adapters.output_files`).
CHECKPOINTS = "checkpoints"
_STEP_FOLDER = re.compile(r"^step-(\d+)$")


class CheckpointError(KerasAdaptersError):
    """Raised for a damaged checkpoint or one another run wrote."""


def _rng_states(model):
    """The dropout generators' states: variables that are not weights."""
    weights = {id(variable) for variable in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _saved_variables(model, with_optimizer=True):
    """`{key: variable}` of everything a checkpoint stores."""
    saved = {f"trained/{v.path}": v for v in model.trainable_weights}
    saved.update(
        (f"rng/{index}", variable)
        for index, variable in enumerate(_rng_states(model))
    )
    if with_optimizer:
        saved.update(
            (f"optimizer/{index}", variable)
            for index, variable in enumerate(model.optimizer.variables)
        )
    return saved


def _base_fingerprint(model):
    return base_fingerprint(
        model, [variable.path for variable in model.trainable_weights]
    )


@dataclasses.dataclass
class CheckpointState:
    """What `state.json` records next to the weights.

    Args:
        step: int, optimizer steps taken.
        weights_sha256: str, SHA-256 of `trained.safetensors`.
        base_fingerprint: str, `base_fingerprint` of the frozen weights.
        settings: dict, the run settings that shape the model.
    """

    step: int
    weights_sha256: str
    base_fingerprint: str
    settings: dict


class CheckpointFolder:
    """Writes and restores the checkpoints of one run.

    Args:
        directory: the run's checkpoint folder.
        settings: dict of plain values that shape the model (adapter
            size, tuning mode, ...). A checkpoint written with other
            settings is refused, naming each that differs.

    Example:

    ```python
    folder = CheckpointFolder("output/CoLA/checkpoint", {"adapter_size": 64})
    step = folder.restore(model)  # 0 when there is none.
    folder.save(model, step=100)
    ```
    """

    def __init__(self, directory, settings):
        self.directory = directory
        self.settings = dict(settings)
        self._fingerprint = None

    def steps(self):
        """The steps of the committed checkpoints, newest first."""
        if not os.path.isdir(self.directory):
            return []
        found = (
            _STEP_FOLDER.match(name) for name in os.listdir(self.directory)
        )
        return sorted((int(m.group(1)) for m in found if m), reverse=True)

    def _folder(self, step):
        return os.path.join(self.directory, f"step-{step:08d}")

    def fingerprint(self, model):
        """The base fingerprint, computed once per run (the base is
        frozen while it trains)."""
        if self._fingerprint is None:
            self._fingerprint = _base_fingerprint(model)
        return self._fingerprint

    def save(self, model, step):
        """Commits the checkpoint of `step` and drops all but the newest
        `KEEP`."""
        claim_folder(self.directory, CHECKPOINTS)
        final = self._folder(step)
        partial = final + PARTIAL
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        weights = os.path.join(partial, WEIGHTS)
        save_safetensors(
            {
                key: variable.numpy()
                for key, variable in _saved_variables(model).items()
            },
            weights,
        )
        state = CheckpointState(
            step=int(step),
            weights_sha256=file_sha256(weights),
            base_fingerprint=self.fingerprint(model),
            settings=self.settings,
        )
        write_text(
            os.path.join(partial, STATE),
            json.dumps(dataclasses.asdict(state), indent=2),
        )
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        for old in self.steps()[KEEP:]:
            shutil.rmtree(self._folder(old), ignore_errors=True)

    def _read(self, step):
        """The state of `step`'s checkpoint, or why it cannot be used."""
        folder = self._folder(step)
        try:
            with open(os.path.join(folder, STATE)) as handle:
                state = CheckpointState(**json.load(handle))
        except (OSError, ValueError, TypeError) as error:
            return None, f"its {STATE} is unreadable ({error})"
        weights = os.path.join(folder, WEIGHTS)
        if not os.path.isfile(weights) or file_sha256(weights) != (
            state.weights_sha256
        ):
            return None, f"{WEIGHTS} does not match its checksum"
        return state, None

    def latest(self):
        """The newest usable `CheckpointState` (None when there is none),
        and a list of `(folder, problem)` for newer damaged ones."""
        damaged = []
        for step in self.steps():
            state, problem = self._read(step)
            if state is not None:
                return state, damaged
            damaged.append((self._folder(step), problem))
        return None, damaged

    def _check_compatible(self, state, model):
        folder = self._folder(state.step)
        # A setting left out (at its default) reads as None.
        differing = [
            f"{name}={state.settings.get(name)!r} there, "
            f"{self.settings.get(name)!r} now"
            for name in sorted(set(state.settings) | set(self.settings))
            if state.settings.get(name) != self.settings.get(name)
        ]
        if differing:
            raise CheckpointError(
                f"The checkpoint {folder} was written with other settings "
                f"({'; '.join(differing)}): use the same settings, or "
                "another output folder to start over."
            )
        if state.base_fingerprint != self.fingerprint(model):
            raise CheckpointError(
                f"The checkpoint {folder} was trained on other base weights "
                "than this model's: use the base model it was trained on, "
                "or another output folder to start over."
            )

    def restore(self, model, with_optimizer=True):
        """Loads the newest usable checkpoint into `model`.

        Args:
            model: the task model of this run.
            with_optimizer: bool. Also restore the state of the model's
                optimizer (to resume training); `False` restores only the
                model (to evaluate or predict).

        Returns:
            The restored step (0 when there is no checkpoint).

        Raises:
            CheckpointError: every checkpoint is damaged, or the newest
                usable one was written for other settings or base weights.
        """
        state, damaged = self.latest()
        if state is None and damaged:
            raise CheckpointError(
                f"The checkpoint {damaged[0][0]} is damaged: "
                f"{damaged[0][1]}; delete {self.directory} to start over."
            )
        if state is None:
            return 0
        for folder, problem in damaged:
            print(
                f"Skipping the damaged checkpoint {folder} ({problem}); "
                f"using step {state.step}."
            )
        self._check_compatible(state, model)
        if with_optimizer and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        folder = self._folder(state.step)
        try:
            arrays = safetensors.numpy.load_file(os.path.join(folder, WEIGHTS))
        except Exception as error:  # Any parse failure of a damaged file.
            raise CheckpointError(
                f"The checkpoint {folder} is unreadable ({error}); delete "
                f"{self.directory} to start over."
            ) from None
        variables = _saved_variables(model, with_optimizer)
        if not with_optimizer:
            arrays = {k: v for k, v in arrays.items() if k in variables}
        # safetensors stores a scalar (the step counter) as shape [1].
        if set(arrays) != set(variables) or any(
            arrays[key].size != np.prod(variable.shape, dtype=int)
            for key, variable in variables.items()
        ):
            raise CheckpointError(
                f"The checkpoint {folder} holds other variables than this "
                "model trains: use the settings it was written with, or "
                "another output folder to start over."
            )
        for key, variable in variables.items():
            variable.assign(arrays[key].reshape(variable.shape))
        return state.step
