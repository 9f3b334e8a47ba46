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

from absl import flags

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import SAVED_MODEL
from keras_adapters.export import export_saved_model
from keras_adapters.multi_task import MultiTaskClassifier
from keras_adapters.output_files import check_output_folder
from keras_adapters.training.cli import run_script

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "base",
    None,
    "The pretrained BERT every task was trained on: a keras-hub preset id "
    "or folder, or a Hugging Face BERT folder (keras-adapters-classifier's "
    "--preset).",
)
flags.DEFINE_multi_string(
    "task",
    [],
    "NAME=ARTIFACT_DIR, once per task: a name (lower case letters, digits, "
    "_) and an adapter artifact folder (keras-adapters-classifier's "
    "<output_dir>/adapters).",
)
flags.DEFINE_list(
    "pair_tasks",
    None,
    "Names of the tasks that read sentence pairs. Defaults to what each "
    "artifact records, else to the GLUE task of that name.",
)
flags.DEFINE_string("export_dir", None, "The SavedModel folder to write.")
flags.DEFINE_bool(
    "task_signatures",
    True,
    "Also write one signature per task (cola(sentence), mrpc(sentence1, "
    "sentence2), ...) beside serving_default(task, sentence, sentence2); "
    "--notask_signatures saves the memory they take where it is served.",
)


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
    missing = [name for name in ("base", "export_dir") if not FLAGS[name].value]
    if missing:
        raise KerasAdaptersError(
            " and ".join(f"`{name}`" for name in missing) + " must be given."
        )
    artifacts = task_artifacts(FLAGS.task)
    # Before any loading: the target must be free, and hold no input.
    check_output_folder(
        FLAGS.export_dir,
        SAVED_MODEL,
        "export_dir",
        inputs=[FLAGS.base, *artifacts.values()],
    )
    model = MultiTaskClassifier.from_artifacts(
        FLAGS.base, artifacts, pair_tasks=FLAGS.pair_tasks
    )
    for info in model.tasks.values():
        kind = "regression" if info.regression else f"{info.labels}"
        inputs = "sentence pairs" if info.pair else "sentences"
        print(f"{info.name}: {kind}, {inputs}, {info.sequence_length} tokens")
    export_saved_model(
        model, FLAGS.export_dir, task_signatures=FLAGS.task_signatures
    )
    print(f"Wrote {FLAGS.export_dir}")


def run():
    """The `keras-adapters-export-multitask` command."""
    # The library's `artifacts` are this command's --task values.
    run_script(main, flag_of_argument={"artifacts": "task"})


if __name__ == "__main__":
    run()
