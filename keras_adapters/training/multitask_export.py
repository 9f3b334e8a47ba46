"""The job behind `keras-adapters-export-multitask`: adapter artifacts of
one base model -> one multi-task SavedModel."""

import dataclasses

from keras_adapters.artifacts import ArtifactError
from keras_adapters.data.glue import get_task
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import SAVED_MODEL
from keras_adapters.export import export_saved_model
from keras_adapters.models.artifact import read_artifact_config
from keras_adapters.models.fusion_artifact import is_fusion_folder
from keras_adapters.models.fusion_artifact import read_fusion_config
from keras_adapters.models.multi_task_classifier import MultiTaskClassifier
from keras_adapters.output_files import check_output_folder
from keras_adapters.training.run_config import setting


@dataclasses.dataclass
class MultiTaskExportConfig:
    """The settings of `keras-adapters-export-multitask`."""

    base: str = setting(
        None,
        "The pretrained encoder every task was trained on: a keras-hub "
        "preset id or folder, or a Hugging Face folder, of any supported "
        "family (keras-adapters-classifier's --preset).",
    )
    task: list = setting(
        None,
        "NAME=ARTIFACT_DIR, once per task: a name (lower case letters, "
        "digits, _) and an adapter artifact folder "
        "(keras-adapters-classifier's <output_dir>/adapters), or the "
        "folder of a --fusion run over adapters given before it.",
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
        False,
        "Also write one signature per task (cola(sentence), "
        "mrpc(sentence1, sentence2), ...) beside serving_default(task, "
        "sentence, sentence2). Each costs memory where the SavedModel is "
        "loaded in Python (about 20 MiB on MiniLM): TensorFlow loads a "
        "copy of the model's graph into every signature.",
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


def task_artifacts(values):
    """`{name: folder}` from `NAME=FOLDER` flag values."""
    artifacts = {}
    for value in values:
        name, separator, folder = value.partition("=")
        if not separator or not name or not folder:
            raise KerasAdaptersError(
                "`task` takes NAME=ARTIFACT_DIR values, e.g. "
                f"cola=output/cola/adapters; got {value!r}."
            )
        if name in artifacts:
            raise KerasAdaptersError(f"`task` names '{name}' twice.")
        artifacts[name] = folder
    if not artifacts:
        raise KerasAdaptersError(
            "Give at least one `task`, e.g. cola=output/cola/adapters."
        )
    return artifacts


def pair_tasks_of(artifacts, pair_tasks=None):
    """The tasks that read sentence pairs: `pair_tasks` when given, else
    each artifact's recorded inputs, else its GLUE task's (by name).

    Args:
        artifacts: `{name: artifact folder}`.
        pair_tasks: optional list of names, the answer when given.

    Returns:
        The list of pair task names.

    Raises:
        ArtifactError: an artifact that records no inputs, under a name
            that is no GLUE task.
    """
    if pair_tasks is not None:
        return list(pair_tasks)
    pairs = []
    for name, folder in artifacts.items():
        try:
            read = (
                read_fusion_config
                if is_fusion_folder(folder)
                else read_artifact_config
            )
            inputs = read(folder).get("inputs")
        except ArtifactError as error:
            raise ArtifactError(f"Task '{name}': {error}") from None
        glue_task = None
        if inputs is None:
            try:
                glue_task = get_task(name)
            except KerasAdaptersError:
                glue_task = None
        if inputs is None and glue_task is None:
            raise ArtifactError(
                f"Task '{name}': its artifact does not say whether it reads "
                "sentence pairs and it is not a GLUE task name; name it in "
                "`pair_tasks` if it reads pairs, or give `pair_tasks` for "
                "every task."
            )
        if (len(inputs) == 2) if inputs is not None else glue_task.is_pair:
            pairs.append(name)
    return pairs


def export_multitask(config):
    """Loads every task of `config` on its base and exports one SavedModel.

    Args:
        config: a `MultiTaskExportConfig`.

    Returns:
        The `MultiTaskClassifier` exported.
    """
    # Before any loading: the target must be free, and hold no input.
    check_output_folder(
        config.export_dir,
        SAVED_MODEL,
        "export_dir",
        inputs=[config.base, *config.artifacts.values()],
    )
    model = MultiTaskClassifier.from_artifacts(
        config.base,
        config.artifacts,
        pair_tasks=pair_tasks_of(config.artifacts, config.pair_tasks),
    )
    for info in model.tasks.values():
        kind = "regression" if info.regression else f"{info.labels}"
        inputs = "sentence pairs" if info.pair else "sentences"
        print(f"{info.name}: {kind}, {inputs}, {info.sequence_length} tokens")
    export_saved_model(
        model, config.export_dir, task_signatures=config.task_signatures
    )
    print(f"Wrote {config.export_dir}")
    return model
