"""The settings of a fine-tuning run, declared once.

Each setting is a dataclass field made by `setting()`: its default, its
help text, its allowed values and whether it must be positive. The
scripts' flags, their `--help` and the command-line reference in the docs
are generated from these fields (`keras_adapters.training.flags`); the
checks run once, in `RunConfig.__post_init__`, for the scripts and for a
notebook alike.
"""

import dataclasses
import glob
import os

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_config import ADAPTER_CONFIGS
from keras_adapters.layers.adapter_config import DEFAULT_ADAPTER_CONFIG
from keras_adapters.training.precision import MIXED_PRECISION_POLICIES
from keras_adapters.tuning import DEFAULT_LEARNING_RATES
from keras_adapters.tuning import TUNING_MODES
from keras_adapters.tuning import TuningMode

DEFAULT_PRESET = "bert_base_en_uncased"
# --jit_compile -> Keras' `jit_compile` ("auto": XLA on GPU and TPU only).
JIT_COMPILE = {"auto": "auto", "true": True, "false": False}


def setting(
    default,
    help,
    *,
    choices=None,
    positive=False,
    free_on_rerun=False,
    flag=True,
    repeated=False,
    path=False,
):
    """A run setting: a dataclass field that also defines its flag.

    Args:
        default: the default value (its type is the field's annotation).
        help: str, the flag's help text (and the docs' description).
        choices: optional sequence of the allowed values.
        positive: bool, whether the value must be above zero.
        free_on_rerun: bool, whether a later run in the same `output_dir`
            may use another value: the setting says where or how to run,
            not what is computed (`keras_adapters.training.run_settings`).
        flag: bool, whether the scripts offer it as a flag.
        repeated: bool, for a `list` setting: the flag is given once per
            value (`--task a --task b`) rather than comma-separated.
        path: bool, whether the value is a local file or folder (a run's
            settings record it as an absolute path).

    Returns:
        A `dataclasses.field`.
    """
    return dataclasses.field(
        default=default,
        metadata=dict(
            help=help,
            choices=tuple(choices) if choices is not None else None,
            positive=positive,
            free_on_rerun=free_on_rerun,
            flag=flag,
            repeated=repeated,
            path=path,
        ),
    )


def free_on_rerun(config):
    """The names of the settings of `config` that may differ between runs
    in one output folder."""
    return [
        field.name
        for field in dataclasses.fields(config)
        if field.metadata.get("free_on_rerun")
    ]


@dataclasses.dataclass
class RunConfig:
    """The settings every job shares: adapter-bert's common flags, the
    model source, and the adapter, tuning, precision and output settings of
    keras_adapters.

    A subclass adds its job's settings (`ClassifierRunConfig`,
    `SquadRunConfig`), fills its derived defaults in `fill_defaults()` and
    adds checks in `check()`, calling `super()`.
    """

    # The original flags (google-research/bert, adapter-bert).
    bert_config_file: str = setting(
        None,
        "Original bert_config.json (with --vocab_file and --init_checkpoint).",
        path=True,
    )
    vocab_file: str = setting(None, "Original vocab.txt.", path=True)
    init_checkpoint: str = setting(
        None, "Original TF1 checkpoint (BERT or adapter-bert).", path=True
    )
    do_lower_case: bool = setting(
        True, "Lower-case the input (uncased models)."
    )
    max_seq_length: int = setting(
        128, "Maximum tokens per example (window) after WordPiece."
    )
    do_train: bool = setting(False, "Train.", free_on_rerun=True)
    do_predict: bool = setting(False, "Predict.", free_on_rerun=True)
    do_export: bool = setting(
        True,
        "Export the raw-string SavedModel to --export_dir after training "
        "(adapter-bert's jobs write no export; ours do by default).",
        free_on_rerun=True,
    )
    train_batch_size: int = setting(32, "Training batch size.", positive=True)
    predict_batch_size: int = setting(
        8, "Prediction batch size.", positive=True, free_on_rerun=True
    )
    learning_rate: float = setting(
        None,
        "Peak learning rate of AdamWeightDecay. Default: the --tuning mode's "
        + ", ".join(
            f"{mode} {rate:g}" for mode, rate in DEFAULT_LEARNING_RATES.items()
        )
        + ".",
        positive=True,
        # Compared as resolved (`learning_rate` of `run_settings.json`).
        free_on_rerun=True,
    )
    num_train_epochs: float = setting(
        3.0,
        "Training epochs.",
        positive=True,
        # A rerun with more epochs resumes and trains on; the outputs are
        # written again after it.
        free_on_rerun=True,
    )
    warmup_proportion: float = setting(
        0.1, "Share of training with linear warmup."
    )
    save_checkpoints_steps: int = setting(
        1000,
        "Checkpoint every this many steps.",
        positive=True,
        free_on_rerun=True,
    )
    iterations_per_loop: int = setting(
        1000,
        "Steps per TPU execution (Keras steps_per_execution).",
        positive=True,
        free_on_rerun=True,
    )
    use_tpu: bool = setting(False, "Train on a TPU with TPUStrategy.")
    tpu_name: str = setting(
        None, "TPU name or grpc address.", free_on_rerun=True
    )
    tpu_zone: str = setting(None, "GCE zone of the TPU.", free_on_rerun=True)
    gcp_project: str = setting(
        None, "GCP project of the TPU.", free_on_rerun=True
    )
    master: str = setting(
        None, "TensorFlow master address.", free_on_rerun=True
    )
    num_tpu_cores: int = setting(
        8,
        "TPU cores (TPUStrategy reads them from the TPU).",
        free_on_rerun=True,
    )
    # Several processes on the JAX backend (TPU pods, several GPU hosts).
    coordinator_address: str = setting(
        None,
        "JAX backend, several processes: host:port of process 0. Default: "
        "$KERAS_DISTRIBUTION_JOB_ADDRESSES, else $JAX_COORDINATOR_ADDRESS.",
        free_on_rerun=True,
    )
    num_processes: int = setting(
        None,
        "JAX backend: the number of processes training together (one per "
        "host). Default: $KERAS_DISTRIBUTION_NUM_PROCESSES, else "
        "$JAX_NUM_PROCESSES, else 1.",
        free_on_rerun=True,
    )
    process_id: int = setting(
        None,
        "JAX backend, several processes: this process's index, 0 to "
        "--num_processes - 1; process 0 writes every output. Default: "
        "$KERAS_DISTRIBUTION_PROCESS_ID, else $JAX_PROCESS_ID.",
        free_on_rerun=True,
    )
    # keras_adapters settings.
    preset: str = setting(
        None,
        "keras-hub preset id or a local keras-hub / Hugging Face folder of "
        "a BERT, RoBERTa, XLM-RoBERTa, DistilBERT or ELECTRA encoder "
        f"(default {DEFAULT_PRESET}).",
        path=True,
    )
    adapter_config: str = setting(
        DEFAULT_ADAPTER_CONFIG,
        "Which adapters: adapter-bert's (GELU, size 64, the LayerNorms "
        "train with them), or AdapterHub's houlsby (double_seq_bn: after "
        "both sublayers, swish, hidden size / 16) or pfeiffer (seq_bn: after "
        "the feed-forward LayerNorm, relu, hidden size / 16), which train "
        "with AdapterHub's classification head and frozen LayerNorms, as "
        "AdapterHub trains them.",
        choices=ADAPTER_CONFIGS,
    )
    adapter_size: int = setting(
        None,
        "Adapter bottleneck size; 0 for no adapters. Default: the "
        "--adapter_config's (64 for adapter-bert, hidden size / 16 for "
        "houlsby and pfeiffer).",
    )
    adapter_init_scale: float = setting(
        None,
        "Std of the adapter initializer. Default: the --adapter_config's "
        "(1e-3 truncated normal for adapter-bert, 0.02 normal for houlsby "
        "and pfeiffer).",
    )
    adapter_layers: int = setting(
        None,
        "AdapterDrop: adapters only in the top K blocks (default: every "
        "block).",
    )
    adapter_weight_decay_rate: float = setting(
        0.01,
        "Decoupled weight decay of every trained variable except LayerNorms "
        "and biases (adapters, and whatever else --tuning trains), as the "
        "original's flag of that name.",
    )
    adam_epsilon: float = setting(
        1e-6,
        "Epsilon of AdamWeightDecay, added outside the square root (the "
        "original's 1e-6).",
        positive=True,
    )
    tuning: str = setting("adapters", "What trains.", choices=TUNING_MODES)
    top_k_layers: int = setting(None, "Blocks trained with --tuning=top_k.")
    train_pooler: bool = setting(
        False, "Also train the pooler in partial tuning modes."
    )
    freeze_below_adapters: bool = setting(
        False,
        "With --tuning=adapters, also freeze the LayerNorms below the lowest "
        "adapter block (embedding LayerNorm included), so nothing below it "
        "trains.",
    )
    seed: int = setting(12345, "Random seed (data order and initializers).")
    mixed_precision: str = setting(
        "auto",
        "Dtype policy. auto: mixed bfloat16 where the hardware computes "
        "bfloat16 natively (TPU, GPU of compute capability >= 8.0, CPU with "
        "AVX512_BF16 or AMX), float32 elsewhere; fp32, bf16 (mixed_bfloat16) "
        "and fp16 (mixed_float16) force one. Adapters always compute in "
        "float32.",
        choices=MIXED_PRECISION_POLICIES,
        # Compared as resolved (`dtype_policy` of `run_settings.json`).
        free_on_rerun=True,
    )
    jit_compile: str = setting(
        "auto",
        "XLA-compile the training step; auto: on GPU/TPU, off on CPU.",
        choices=JIT_COMPILE,
        free_on_rerun=True,
    )
    output_dir: str = setting(
        None,
        "Where checkpoints, results and the export go.",
        free_on_rerun=True,
    )
    export_dir: str = setting(
        None,
        "SavedModel folder. Defaults to <output_dir>/export.",
        free_on_rerun=True,
    )
    max_train_examples: int = setting(
        0, "Use only the first N training examples (0: all)."
    )
    log_every_steps: int = setting(
        0,
        "Steps between the progress lines printed when the output is not a "
        "terminal (a file, a pipe, CI, a notebook); 0: about 20 lines per "
        "epoch. A terminal shows Keras' progress bar instead.",
        free_on_rerun=True,
    )
    verbose: int = setting(
        1,
        "0: no log lines; 1: the run log.",
        free_on_rerun=True,
        flag=False,
    )

    def __post_init__(self):
        self.fill_defaults()
        self.check()

    def fill_defaults(self):
        """Fills the settings whose default depends on others."""
        if not self.bert_config_file:
            self.preset = self.preset or DEFAULT_PRESET
        self.learning_rate_is_default = self.learning_rate is None
        if self.learning_rate_is_default:
            self.learning_rate = DEFAULT_LEARNING_RATES.get(self.tuning)
        if (
            self.do_export
            and self.output_dir is not None
            and self.export_dir is None
        ):
            self.export_dir = os.path.join(self.output_dir, "export")

    def check(self):
        """Raises `KerasAdaptersError` for a bad value or combination."""
        fields = dataclasses.fields(self)
        for field in fields:
            value = getattr(self, field.name)
            choices = field.metadata.get("choices")
            if choices and value not in choices:
                raise KerasAdaptersError(
                    f"`{field.name}` must be one of {', '.join(choices)}, "
                    f"got {value!r}."
                )
        for field in fields:
            value = getattr(self, field.name)
            if field.metadata.get("positive") and not value > 0:
                raise KerasAdaptersError(
                    f"`{field.name}` must be positive, got {value}."
                )
        if self.log_every_steps < 0:
            raise KerasAdaptersError(
                "`log_every_steps` must be >= 0 (0: about 20 lines per "
                f"epoch), got {self.log_every_steps}."
            )
        if self.export_dir is not None and not self.do_export:
            raise KerasAdaptersError(
                "`export_dir` says where to export, but `do_export` is off; "
                "drop one of them."
            )
        if self.preset and self.bert_config_file:
            raise KerasAdaptersError(
                "Give either `preset` or `bert_config_file`/`vocab_file`/"
                "`init_checkpoint`, not both."
            )
        if self.bert_config_file and not self.vocab_file:
            raise KerasAdaptersError("`bert_config_file` needs `vocab_file`.")
        TuningMode(
            self.tuning,
            self.top_k_layers,
            self.train_pooler,
            self.freeze_below_adapters,
        )
        if self.bert_config_file and self.adapterhub_style:
            raise KerasAdaptersError(
                "The original checkpoint format holds adapter-bert's "
                f"adapters only; `adapter_config`={self.adapter_config} "
                "needs a `preset`."
            )

    def input_paths(self):
        """The local files and folders the run reads, which no output may
        replace."""
        paths = [self.preset, self.bert_config_file, self.vocab_file]
        # A TF1 checkpoint is a prefix of several files.
        return [path for path in paths if path and os.path.exists(path)] + (
            glob.glob(glob.escape(self.init_checkpoint) + "*")
            if self.init_checkpoint
            else []
        )

    def checkpoint_settings(self):
        """The settings a checkpoint must share with the run resuming it."""
        settings = dict(
            adapter_size=self.adapter_size,
            tuning=self.tuning,
            top_k_layers=self.top_k_layers,
            train_pooler=self.train_pooler,
        )
        # AdapterDrop's and the adapter config only when used, so that
        # checkpoints written before they existed still resume.
        if self.adapterhub_style:
            settings["adapter_config"] = self.adapter_config
        if self.adapter_layers is not None:
            settings["adapter_layers"] = self.adapter_layers
        if self.freeze_below_adapters:
            settings["freeze_below_adapters"] = True
        return settings

    @property
    def adapterhub_style(self):
        """Whether the adapters are AdapterHub's (houlsby, pfeiffer)."""
        return self.adapter_config != DEFAULT_ADAPTER_CONFIG

    def adapter_kwargs(self):
        """The adapter arguments of the model builders (`None`: the adapter
        config's own)."""
        kwargs = dict(
            adapter_size=self.adapter_size,
            adapter_init_scale=self.adapter_init_scale,
            adapter_layers=self.adapter_layers,
        )
        if self.adapterhub_style:
            # AdapterHub computes the base as its Hugging Face config says
            # (exact GELU for BERT); adapters that match it need that base.
            kwargs.update(
                adapter_config=self.adapter_config,
                intermediate_activation="auto",
            )
        return kwargs

    def tuning_kwargs(self):
        """The task constructor's tuning-mode arguments."""
        return dict(
            tuning_mode=self.tuning,
            top_k=self.top_k_layers,
            train_pooler=self.train_pooler,
            freeze_below_adapters=self.freeze_below_adapters,
        )
