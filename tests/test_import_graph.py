"""The package's imports flow one way: layers, data, metrics and the
stand-alone modules (tuning, optimization) at the bottom, models on them,
training above them all, nothing upward."""

import ast
import pathlib

import pytest

from keras_adapters.commands import COMMANDS

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_adapters"
# What each lower package may import from keras_adapters (besides itself
# and the package-wide `errors` and `keras_hub_internals` modules).
ALLOWED = {
    "layers": set(),
    "data": set(),
    "metrics": {"data"},
    "optimization.py": set(),
    "tuning.py": set(),
    "models": {"layers", "optimization", "tuning"},
    "adapterhub": {
        "layers",
        "models",
        "output_files",
        "tuning",
        "weight_transfer",
    },
}
SHARED = {"errors", "keras_hub_internals"}


def imported_parts(path):
    """The first component under keras_adapters of every import in a file."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "keras_adapters" and len(parts) > 1:
                yield parts[1]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_lower_packages_never_import_higher_ones(package):
    root = PACKAGE / package
    files = root.rglob("*.py") if root.is_dir() else [root]
    itself = package.removesuffix(".py")
    upward = {
        f"{path.relative_to(PACKAGE)} imports keras_adapters.{part}"
        for path in files
        for part in imported_parts(path)
        if part not in ALLOWED[package] | SHARED | {itself}
    }
    assert not upward


# The commands sit on top of everything.
COMMAND_MODULES = {
    f"{module.rsplit('.', 1)[1]}.py" for module in COMMANDS.values()
}


def test_nothing_outside_training_imports_training_but_the_commands():
    upward = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "training"
        and "training" in set(imported_parts(path))
    }
    assert upward == COMMAND_MODULES


def test_nothing_imports_the_commands():
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for part in imported_parts(path)
        if f"{part}.py" in COMMAND_MODULES
    }
    assert not importers
