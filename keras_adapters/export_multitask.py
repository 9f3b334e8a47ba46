"""One SavedModel serving many adapter tasks on one frozen BERT.

Example (the artifacts are keras-adapters-classifier's
<output_dir>/adapters):

    keras-adapters-export-multitask --base=path/to/model \
        --task cola=output/cola/adapters --task mrpc=output/mrpc/adapters \
        --export_dir=glue_server

(or `python -m keras_adapters.export_multitask`, or
`python export_multitask.py` in a checkout.)

The SavedModel's `serving_default(task, sentence, sentence2)` runs each
example with its own task's adapters; `cola(sentence)`,
`mrpc(sentence1, sentence2)`, ... serve one task each.
"""

import dataclasses

from absl import flags

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import SAVED_MODEL
from keras_adapters.export import export_saved_model
from keras_adapters.multi_task import MultiTaskClassifier
from keras_adapters.output_files import check_output_folder
from keras_adapters.training.cli import run_script
from keras_adapters.training.flags import config_from_flags
from keras_adapters.training.flags import define_flags
from keras_adapters.training.run_config import setting

FLAGS = flags.FLAGS


@dataclasses.dataclass
class MultiTaskExportConfig:
    """The settings of `keras-adapters-export-multitask`."""

    base: str = setting(
        None,
        "The pretrained BERT every task was trained on: a keras-hub preset "
        "id or folder, or a Hugging Face BERT folder "
        "(keras-adapters-classifier's --preset).",
    )
    task: list = setting(
        None,
        "NAME=ARTIFACT_DIR, once per task: a name (lower case letters, "
        "digits, _) and an adapter artifact folder "
        "(keras-adapters-classifier's <output_dir>/adapters).",
        repeated=True,
    )
    pair_tasks: list = setting(
        None,
        "Names of the tasks that read sentence pairs, comma-separated. "
        "Defaults to what each artifact records, else to the GLUE task of "
        "that name.",
    )
    export_dir: str = setting(None, "The SavedModel folder to write.")
    task_signatures: bool = setting(
        True,
        "Also write one signature per task (cola(sentence), "
        "mrpc(sentence1, sentence2), ...) beside serving_default(task, "
        "sentence, sentence2); --notask_signatures saves the memory they "
        "take where it is served.",
    )

    def __post_init__(self):
        missing = [
            name for name in ("base", "export_dir") if not getattr(self, name)
        ]
        if missing:
            raise KerasAdaptersError(
                " and ".join(f"`{name}`" for name in missing)
                + " must be given."
            )
        self.artifacts = task_artifacts(self.task or [])


define_flags(MultiTaskExportConfig)


def task_artifacts(values):
    """`{name: folder}` from `NAME=FOLDER` flag values."""
    artifacts = {}
    for value in values:
        name, separator, folder = value.partition("=")
        if not separator or not name or not folder:
            raise KerasAdaptersError(
                f"`task` takes NAME=ARTIFACT_DIR, got {value!r}; e.g. "
                "--task cola=output/cola/adapters."
            )
        if name in artifacts:
            raise KerasAdaptersError(f"`task` names '{name}' twice.")
        artifacts[name] = folder
    if not artifacts:
        raise KerasAdaptersError(
            "Give at least one `task`, e.g. --task cola=output/cola/adapters."
        )
    return artifacts


def main(argv):
    del argv
    config = config_from_flags(MultiTaskExportConfig)
    # Before any loading: the target must be free, and hold no input.
    check_output_folder(
        config.export_dir,
        SAVED_MODEL,
        "export_dir",
        inputs=[config.base, *config.artifacts.values()],
    )
    model = MultiTaskClassifier.from_artifacts(
        config.base, config.artifacts, pair_tasks=config.pair_tasks
    )
    for info in model.tasks.values():
        kind = "regression" if info.regression else f"{info.labels}"
        inputs = "sentence pairs" if info.pair else "sentences"
        print(f"{info.name}: {kind}, {inputs}, {info.sequence_length} tokens")
    export_saved_model(
        model, config.export_dir, task_signatures=config.task_signatures
    )
    print(f"Wrote {config.export_dir}")


def run():
    """The `keras-adapters-export-multitask` command."""
    # The library's `artifacts` are this command's --task values.
    run_script(main, flag_of_argument={"artifacts": "task"})


if __name__ == "__main__":
    run()
