"""Adapter fine-tuning on SQuAD: the flags of BERT's run_squad.py.

    keras-adapters-squad --preset=path/to/model --adapter_size=64 \
        --do_train --train_file=train-v1.1.json \
        --do_predict --predict_file=dev-v1.1.json --output_dir=output/squad

(or `python -m keras_adapters.run_squad`, or `python run_squad.py` in a
checkout).
"""

from absl import flags

from keras_adapters.training.cli import run_script
from keras_adapters.training.flags import config_from_flags
from keras_adapters.training.flags import define_flags
from keras_adapters.training.squad_run import SquadRun
from keras_adapters.training.squad_run import SquadRunConfig

FLAGS = flags.FLAGS

define_flags(SquadRunConfig)


def main(argv):
    del argv
    SquadRun(config_from_flags(SquadRunConfig)).run()


def run():
    """The `keras-adapters-squad` command."""
    run_script(main)


if __name__ == "__main__":
    run()
