"""Adapter fine-tuning on GLUE: the flags of adapter-bert's run_classifier.py.

    keras-adapters-classifier --task=CoLA --adapter_size=64

(or `python -m keras_adapters.run_classifier`, or `python run_classifier.py`
in a checkout). Offline, with a GLUE folder and a local BERT:

    keras-adapters-classifier --task=CoLA --data_dir=glue_data/CoLA \
        --preset=path/to/model
"""

from absl import flags

from keras_adapters.training.classifier_run import ClassifierRun
from keras_adapters.training.classifier_run import ClassifierRunConfig
from keras_adapters.training.cli import run_script
from keras_adapters.training.flags import config_from_flags
from keras_adapters.training.flags import define_flags

FLAGS = flags.FLAGS

define_flags(ClassifierRunConfig)
flags.DEFINE_alias("task", "task_name")


def main(argv):
    del argv
    ClassifierRun(config_from_flags(ClassifierRunConfig)).run()


def run():
    """The `keras-adapters-classifier` command."""
    run_script(main)


if __name__ == "__main__":
    run()
