"""One SavedModel serving many adapter tasks on one frozen encoder.

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

from keras_adapters.training.cli import run_script
from keras_adapters.training.flags import config_from_flags
from keras_adapters.training.flags import define_flags
from keras_adapters.training.multitask_export import MultiTaskExportConfig
from keras_adapters.training.multitask_export import export_multitask

FLAGS = flags.FLAGS

define_flags(MultiTaskExportConfig)


def main(argv):
    del argv
    export_multitask(config_from_flags(MultiTaskExportConfig))


def run():
    """The `keras-adapters-export-multitask` command."""
    # The library's `artifacts` are this command's --task values.
    run_script(main, flag_of_argument={"artifacts": "task"})


if __name__ == "__main__":
    run()
