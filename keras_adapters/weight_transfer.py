"""Copying variables between models by their Keras variable path."""

import numpy as np

from keras_adapters.errors import KerasAdaptersError


class IncompatibleWeightsError(KerasAdaptersError):
    """Raised when weights do not fit a model (missing, extra, reshaped)."""


def variables_by_path(model):
    """Returns `{variable.path: variable}` for every variable of `model`."""
    return {variable.path: variable for variable in model.weights}


def _summarize(paths, limit=5):
    paths = sorted(paths)
    shown = ", ".join(paths[:limit])
    more = len(paths) - limit
    return shown + (f" (and {more} more)" if more > 0 else "")


def assign_by_path(target, values, allow_unfilled=None, source_name="source"):
    """Assigns `{path: array}` to the variables of `target` with those paths.

    Everything is checked before anything is written, so a failed call leaves
    `target` untouched.

    Args:
        target: a Keras layer or model.
        values: dict mapping variable paths to array-likes.
        allow_unfilled: optional callable `path -> bool`; target variables
            without a value must satisfy it (e.g. fresh adapters). Defaults to
            requiring every target variable to be filled.
        source_name: how error messages name where `values` come from.

    Returns:
        The sorted list of target paths that were left unfilled.

    Raises:
        IncompatibleWeightsError: a value has no variable, a shape differs, or
            a target variable that must be filled is missing from `values`.
    """
    variables = variables_by_path(target)
    homeless = set(values) - set(variables)
    if homeless:
        raise IncompatibleWeightsError(
            f"{len(homeless)} variable(s) of {source_name} have no place in "
            f"the model: {_summarize(homeless)}. The model architecture does "
            f"not match {source_name}."
        )
    shapes = {path: tuple(np.shape(value)) for path, value in values.items()}
    mismatched = [
        f"{path} {shape} vs {tuple(variables[path].shape)}"
        for path, shape in shapes.items()
        if shape != tuple(variables[path].shape)
    ]
    if mismatched:
        raise IncompatibleWeightsError(
            f"{len(mismatched)} variable shape(s) of {source_name} differ "
            f"from the model ({source_name} vs model): "
            f"{_summarize(mismatched)}. Use a model of the same configuration."
        )
    allow_unfilled = allow_unfilled or (lambda path: False)
    unfilled = [path for path in variables if path not in values]
    not_allowed = [path for path in unfilled if not allow_unfilled(path)]
    if not_allowed:
        raise IncompatibleWeightsError(
            f"{len(not_allowed)} model variable(s) are missing from "
            f"{source_name}: {_summarize(not_allowed)}."
        )
    for path, value in values.items():
        variable = variables[path]
        variable.assign(np.asarray(value).astype(variable.dtype))
    return sorted(unfilled)
