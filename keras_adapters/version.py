"""The package version: the one string `pyproject.toml` and `--version` read."""

__version__ = "0.2.0"
