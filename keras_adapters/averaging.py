"""Adapter averaging: the weighted mean of compatible artifacts."""

import math
import os

from keras_adapters.artifacts import ADAPTERS
from keras_adapters.artifacts import write_artifact_files
from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.artifact import Artifact
from keras_adapters.output_files import write_folder

# The config sections that must be equal for artifacts to be averaged:
# the same base, the same adapters (sizes, config, blocks), the same
# tuning mode (which decides what is stored), the same task and classes.
_SAME = {
    "base_model": "base model (architecture and weights fingerprint)",
    "adapter": "adapter settings (size, config, blocks)",
    "tuning": "tuning mode",
    "task": "task (class, number of classes, head)",
    "labels": "labels",
    "inputs": "inputs",
}


def _weights(weights, count):
    """The averaging weights, normalized to sum to 1."""
    if weights is None:
        return [1.0 / count] * count
    weights = list(weights)
    if len(weights) != count:
        raise KerasAdaptersError(
            f"`weights` has {len(weights)} values for {count} artifacts; "
            "give one weight per artifact."
        )
    if not all(
        isinstance(weight, (int, float))
        and math.isfinite(weight)
        and weight >= 0
        for weight in weights
    ) or not sum(weights):
        raise KerasAdaptersError(
            f"`weights` must be finite numbers >= 0 with a positive sum, got "
            f"{weights}."
        )
    return [weight / sum(weights) for weight in weights]


def average_adapters(directories, weights=None, output_dir=None):
    """Writes the weighted mean of compatible adapter artifacts.

    Every stored variable (adapters, LayerNorms, head) of the new artifact
    is `sum_i w_i * v_i / sum_i w_i` over the artifacts. They must have been
    trained on the same base model (architecture and weights fingerprint),
    with the same adapter settings, tuning mode, task, labels and inputs,
    so that they store the same variables with the same shapes; the new
    artifact keeps that config (the preprocessor settings of the first),
    loads with `keras_adapters.load_adapters` on the same base, and records
    what it averaged in `averaged_from`.

    Args:
        directories: list of two or more artifact folders written by
            `keras_adapters.save_adapters`.
        weights: optional list of one weight per artifact (numbers >= 0,
            not all 0). Defaults to equal weights.
        output_dir: the folder of the new artifact (written whole, as
            `save_adapters` writes).

    Returns:
        `output_dir`.

    Raises:
        KerasAdaptersError: fewer than two artifacts, bad weights, or no
            `output_dir`.
        ArtifactError: an artifact that is missing or corrupted, or that
            differs from the first in what must be equal (the message names
            both folders and what differs).

    Example:

    ```python
    keras_adapters.average_adapters(
        ["sst2_seed1/adapters", "sst2_seed2/adapters"],
        weights=[0.5, 0.5],
        output_dir="sst2_mean",
    )
    ```
    """
    directories = [os.fspath(directory) for directory in directories]
    if len(directories) < 2:
        raise KerasAdaptersError(
            f"average_adapters needs two or more artifacts, got "
            f"{len(directories)}."
        )
    if output_dir is None:
        raise KerasAdaptersError("Give `output_dir`, the new artifact folder.")
    weights = _weights(weights, len(directories))
    artifacts = [Artifact.read(directory) for directory in directories]
    first = artifacts[0]
    for artifact in artifacts[1:]:
        for key, what in _SAME.items():
            if artifact.config.get(key) != first.config.get(key):
                raise ArtifactError(
                    f"'{artifact.directory}' differs from "
                    f"'{first.directory}' in its {what}; only artifacts of "
                    "one base, adapter setting, tuning mode and task average."
                )
        if {path: value.shape for path, value in artifact.weights.items()} != {
            path: value.shape for path, value in first.weights.items()
        }:
            raise ArtifactError(
                f"'{artifact.directory}' stores other variables or shapes "
                f"than '{first.directory}'; they cannot be averaged."
            )
    mean = {
        path: sum(
            weight * artifact.weights[path].astype("float64")
            for weight, artifact in zip(weights, artifacts)
        ).astype(value.dtype)
        for path, value in first.weights.items()
    }
    config = dict(first.config)
    config.pop("weights")
    config["averaged_from"] = [
        {
            "directory": artifact.directory,
            "weights_sha256": artifact.config["weights"]["sha256"],
            "weight": weight,
        }
        for weight, artifact in zip(weights, artifacts)
    ]
    write_folder(
        os.fspath(output_dir),
        lambda path: write_artifact_files(path, config, mean),
        ADAPTERS,
        argument="output_dir",
        inputs=directories,
    )
    return output_dir
