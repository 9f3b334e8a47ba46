"""The absl flags both scripts share, and flags -> run config."""

from absl import flags

from keras_adapters.training.precision import MIXED_PRECISION_POLICIES
from keras_adapters.training.task_run import JIT_COMPILE
from keras_adapters.tuning import DEFAULT_LEARNING_RATES
from keras_adapters.tuning import TUNING_MODES


def define_shared_flags(max_seq_length):
    """Defines the flags of run_classifier.py and run_squad.py in common:
    the original model-source, training and TPU flags, then the model
    source, adapter and tuning flags of keras_adapters.

    Args:
        max_seq_length: int, the script's default `--max_seq_length`.
    """
    # The original flags (google-research/bert, adapter-bert).
    flags.DEFINE_string(
        "bert_config_file",
        None,
        "Original bert_config.json (with --vocab_file and --init_checkpoint).",
    )
    flags.DEFINE_string("vocab_file", None, "Original vocab.txt.")
    flags.DEFINE_string(
        "init_checkpoint",
        None,
        "Original TF1 checkpoint (BERT or adapter-bert).",
    )
    flags.DEFINE_bool(
        "do_lower_case", True, "Lower-case the input (uncased models)."
    )
    flags.DEFINE_integer(
        "max_seq_length",
        max_seq_length,
        "Maximum tokens per example (window) after WordPiece.",
    )
    flags.DEFINE_bool("do_train", False, "Train.")
    flags.DEFINE_bool("do_predict", False, "Predict.")
    flags.DEFINE_integer("train_batch_size", 32, "Training batch size.")
    flags.DEFINE_integer("predict_batch_size", 8, "Prediction batch size.")
    flags.DEFINE_float(
        "learning_rate",
        None,
        "Peak learning rate of AdamWeightDecay. Default: the --tuning mode's "
        + ", ".join(
            f"{mode} {rate:g}" for mode, rate in DEFAULT_LEARNING_RATES.items()
        )
        + ".",
    )
    flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs.")
    flags.DEFINE_float(
        "warmup_proportion", 0.1, "Share of training with linear warmup."
    )
    flags.DEFINE_integer(
        "save_checkpoints_steps", 1000, "Checkpoint every this many steps."
    )
    flags.DEFINE_integer(
        "iterations_per_loop",
        1000,
        "Steps per TPU execution (Keras steps_per_execution).",
    )
    flags.DEFINE_bool("use_tpu", False, "Train on a TPU with TPUStrategy.")
    flags.DEFINE_string("tpu_name", None, "TPU name or grpc address.")
    flags.DEFINE_string("tpu_zone", None, "GCE zone of the TPU.")
    flags.DEFINE_string("gcp_project", None, "GCP project of the TPU.")
    flags.DEFINE_string("master", None, "TensorFlow master address.")
    flags.DEFINE_integer(
        "num_tpu_cores", 8, "TPU cores (TPUStrategy reads them from the TPU)."
    )
    # keras_adapters flags.
    flags.DEFINE_string(
        "preset",
        None,
        "keras-hub preset id or a local keras-hub / Hugging Face BERT folder "
        "(default bert_base_en_uncased).",
    )
    flags.DEFINE_integer(
        "adapter_size", 64, "Adapter bottleneck size; 0 for no adapters."
    )
    flags.DEFINE_float(
        "adapter_init_scale", 1e-3, "Std of the adapter initializer."
    )
    flags.DEFINE_integer(
        "adapter_layers",
        None,
        "AdapterDrop: adapters only in the top K blocks (default: every "
        "block).",
    )
    flags.DEFINE_float(
        "adapter_weight_decay_rate",
        0.01,
        "Decoupled weight decay of every trained variable except LayerNorms "
        "and biases (adapters, and whatever else --tuning trains), as the "
        "original's flag of that name.",
    )
    flags.DEFINE_float(
        "adam_epsilon",
        1e-6,
        "Epsilon of AdamWeightDecay, added outside the square root (the "
        "original's 1e-6).",
    )
    flags.DEFINE_enum("tuning", "adapters", TUNING_MODES, "What trains.")
    flags.DEFINE_integer(
        "top_k_layers", None, "Blocks trained with --tuning=top_k."
    )
    flags.DEFINE_bool(
        "freeze_below_adapters",
        False,
        "With --tuning=adapters, also freeze the LayerNorms below the lowest "
        "adapter block (embedding LayerNorm included), so nothing below it "
        "trains.",
    )
    flags.DEFINE_integer(
        "seed", 12345, "Random seed (data order and initializers)."
    )
    flags.DEFINE_enum(
        "mixed_precision",
        "auto",
        list(MIXED_PRECISION_POLICIES),
        "Dtype policy. auto: mixed bfloat16 where the hardware computes "
        "bfloat16 natively (TPU, GPU of compute capability >= 8.0, CPU with "
        "AVX512_BF16 or AMX), float32 elsewhere; fp32, bf16 (mixed_bfloat16) "
        "and fp16 (mixed_float16) force one. Adapters always compute in "
        "float32.",
    )
    flags.DEFINE_enum(
        "jit_compile",
        "auto",
        list(JIT_COMPILE),
        "XLA-compile the training step; auto: on GPU/TPU, off on CPU.",
    )
    flags.DEFINE_string(
        "export_dir",
        None,
        "SavedModel folder. Defaults to <output_dir>/export.",
    )
    flags.DEFINE_integer(
        "max_train_examples",
        0,
        "Use only the first N training examples (0: all).",
    )


def config_from_flags(config_cls, **fields):
    """A run config from every parsed flag that names one of its fields.

    Args:
        config_cls: a `RunConfig` dataclass.
        **fields: fields set by the script itself (they win).

    Returns:
        A `config_cls` instance.
    """
    values = {
        name: flags.FLAGS[name].value
        for name in config_cls.__dataclass_fields__
        if name in flags.FLAGS and name not in fields
    }
    return config_cls(**values, **fields)
