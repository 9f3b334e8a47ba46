"""One output folder, one run: the settings file and the rerun check.

A run's output folder holds `run_settings.json`: every setting of the run
as given, the values its defaults resolved to (learning rate, dtype
policy) and a fingerprint of the training data. A later run in the same
folder continues that run; it is refused in one line when it differs in
anything that changes the results, naming each difference and the fix.
Settings that only say how to run (where to export, which phases, batch
sizes of evaluation, checkpoint spacing, XLA, the prefix cache) may differ.
"""

import dataclasses
import glob
import hashlib
import json
import os

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.output_files import write_text
from keras_adapters.training.run_config import free_on_rerun
from keras_adapters.version import __version__

SETTINGS_FILE = "run_settings.json"


class RunSettingsError(KerasAdaptersError):
    """Raised when a rerun's settings differ from its output folder's."""


def examples_fingerprint(examples):
    """SHA-256 of a list of dataclass examples (GLUE or SQuAD), in order.

    Args:
        examples: list of dataclass instances.

    Returns:
        str, a hex digest that changes with any example's content.
    """
    digest = hashlib.sha256()
    for example in examples:
        digest.update(
            json.dumps(dataclasses.astuple(example), default=str).encode()
        )
        digest.update(b"\n")
    return digest.hexdigest()


def _normalized(value):
    """A local path as its real path, so `./m` and `/abs/m` compare equal;
    a name that is not a local path (a preset id) as it is."""
    if isinstance(value, str) and (
        os.path.exists(value) or glob.glob(glob.escape(value) + ".*")
    ):
        return os.path.realpath(value)
    return value


@dataclasses.dataclass
class RunSettings:
    """What `run_settings.json` holds.

    Args:
        job: str, the run config's class (`ClassifierRunConfig`, ...).
        settings: dict, every setting as given.
        resolved: dict, what defaults resolved to and the training data's
            fingerprint.
        free: list of the settings that may differ between reruns.
    """

    job: str
    settings: dict
    resolved: dict
    free: list

    @classmethod
    def of(cls, config, **resolved):
        """The settings of a run config (settings marked `path` made
        absolute).

        Args:
            config: a `RunConfig` dataclass; its settings marked
                `free_on_rerun` may differ between reruns.
            **resolved: values the defaults resolved to, and fingerprints.
        """
        settings = {
            field.name: (
                _normalized(getattr(config, field.name))
                if field.metadata.get("path")
                else getattr(config, field.name)
            )
            for field in dataclasses.fields(config)
        }
        # As JSON gives them back, so that values compare alike.
        return cls(
            job=type(config).__name__,
            settings=json.loads(json.dumps(settings, default=str)),
            resolved=json.loads(json.dumps(resolved, default=str)),
            free=sorted(free_on_rerun(config)),
        )

    def shaping(self):
        """`{name: value}` of everything that changes the results."""
        values = {
            name: value
            for name, value in self.settings.items()
            if name not in self.free
        }
        values.update(self.resolved)
        return values

    def differences(self, earlier):
        """`(name, earlier value, value now)` of each result-shaping
        setting that differs from `earlier` (a setting one of them lacks,
        such as the data fingerprint of a run that did not train, is not
        compared)."""
        before, now = earlier.shaping(), self.shaping()
        return [
            (name, before[name], now[name])
            for name in sorted(set(before) & set(now))
            if before[name] != now[name]
        ]


def read_run_settings(output_dir):
    """The `RunSettings` recorded in `output_dir`, or None without any.

    Raises:
        RunSettingsError: the file exists but cannot be read.
    """
    path = os.path.join(output_dir, SETTINGS_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        record.pop("keras_adapters_version")
        return RunSettings(**record)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise RunSettingsError(
            f"{path} is damaged ({error!r}); restore it, or give another "
            "`output_dir` to start a new run."
        ) from None


def check_and_record(output_dir, settings):
    """Refuses a rerun with other settings; then records `settings`.

    Args:
        output_dir: the run's output folder (already claimed).
        settings: the `RunSettings` of this run.

    Raises:
        RunSettingsError: `output_dir` holds a run of another job or with
            other result-shaping settings (one line, naming each).
    """
    earlier = read_run_settings(output_dir)
    if earlier is not None:
        if earlier.job != settings.job:
            raise RunSettingsError(
                f"`output_dir`={output_dir} holds a run of {earlier.job}, "
                f"not {settings.job}; give another `output_dir`."
            )
        differences = settings.differences(earlier)
        if differences:
            listed = "; ".join(
                f"`{name}`={before!r} there, {now!r} now"
                for name, before, now in differences
            )
            raise RunSettingsError(
                f"`output_dir`={output_dir} holds a run with other settings "
                f"({listed}): rerun with its settings (see {SETTINGS_FILE} "
                "there), or give another `output_dir` for a new run."
            )
    # A run that did not train keeps the data fingerprint of one that did.
    resolved = dict((earlier.resolved if earlier else {}), **settings.resolved)
    record = dict(
        dataclasses.asdict(settings),
        resolved=resolved,
        keras_adapters_version=__version__,
    )
    write_text(
        os.path.join(output_dir, SETTINGS_FILE),
        json.dumps(record, indent=2, sort_keys=True, default=str) + "\n",
    )
