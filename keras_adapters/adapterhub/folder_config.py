"""The configuration of an AdapterHub folder, parsed and checked.

An AdapterHub folder (written by `model.save_adapter(dir, name,
with_head=True)` of the `adapters` package, or by adapter-transformers
before it) holds `adapter_config.json` and the adapter weights, and
optionally `head_config.json` and the head weights. `AdapterHubConfig.read`
reads both JSON files and accepts exactly the bottleneck adapters and
classification heads keras_adapters computes as AdapterHub does; anything
else is a one-line `ArtifactError` naming the key and what is supported.
"""

import dataclasses
import json
import numbers
import os
import reprlib

from keras_adapters.adapterhub.weights import MODEL_MODULES
from keras_adapters.errors import ArtifactError
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.layers.hf_activations import HF_ACTIVATIONS
from keras_adapters.layers.hf_activations import keras_activation

ADAPTER_CONFIG_FILE = "adapter_config.json"
HEAD_CONFIG_FILE = "head_config.json"
# Weight files by format, as AdapterHub names them.
ADAPTER_WEIGHTS = {
    "safetensors": "adapter.safetensors",
    "bin": "pytorch_adapter.bin",
}
HEAD_WEIGHTS = {
    "safetensors": "model_head.safetensors",
    "bin": "pytorch_model_head.bin",
}
# By model type, the model classes whose heads AdapterHub 1.3.0 loads into
# its flexible head models (adapter-transformers saved them as
# BertModelWithHeads, ...); every family's classification head is the same
# module.
MODEL_CLASS = "BertAdapterModel"
HEAD_MODEL_CLASSES = {
    model_type: (f"{name}AdapterModel", f"{name}ModelWithHeads")
    for model_type, name in (
        ("bert", "Bert"),
        ("roberta", "Roberta"),
        ("xlm-roberta", "XLMRoberta"),
        ("distilbert", "DistilBert"),
        ("electra", "Electra"),
    )
}
VERSION_PREFIX = "adapters."
# adapter-transformers folders without a `version` key wrote "gelu" for the
# tanh approximation and "gelu_orig" for the exact one (AdapterHub renames
# them on load).
UNVERSIONED_ACTIVATIONS = {"gelu": "gelu_new", "gelu_orig": "gelu"}

# Every key of AdapterHub 1.3.0's bottleneck config (`BnConfig`), with its
# default. The writer writes all of them; the reader accepts no others
# (besides adapter-transformers' `invertible_adapter`).
BN_DEFAULTS = {
    "mh_adapter": True,
    "output_adapter": True,
    "reduction_factor": 16,
    "non_linearity": "swish",
    "original_ln_before": False,
    "original_ln_after": True,
    "ln_before": False,
    "ln_after": False,
    "init_weights": "bert",
    "init_weights_seed": None,
    "is_parallel": False,
    "scaling": 1.0,
    "use_gating": False,
    "residual_before_ln": True,
    "adapter_residual_before_ln": False,
    "inv_adapter": None,
    "inv_adapter_reduction_factor": None,
    "cross_adapter": False,
    "leave_out": [],
    "dropout": 0.0,
    "phm_layer": False,
    "phm_dim": 4,
    "factorized_phm_W": True,
    "shared_W_phm": False,
    "shared_phm_rule": True,
    "factorized_phm_rule": False,
    "phm_c_init": "normal",
    "phm_init_range": 0.0001,
    "learn_phm": True,
    "hypercomplex_nonlinearity": "glorot-uniform",
    "phm_rank": 1,
    "phm_bias": True,
    "stochastic_depth": 0.0,
}
# Keys whose value must be the default: the adapter variants keras_adapters
# does not compute (parallel, gated, PHM/Compacter, new LayerNorms, ...).
# Dropout-like keys only act in training, but a Keras model built from the
# folder would then train differently.
_FIXED_KEYS = (
    "original_ln_after",
    "ln_before",
    "ln_after",
    "is_parallel",
    "use_gating",
    "cross_adapter",
    "dropout",
    "phm_layer",
    "stochastic_depth",
)
# Keys that only shape a fresh adapter's initialization or PHM layers
# (unused with `phm_layer` false): any value reads the same weights.
_FREE_KEYS = (
    "init_weights_seed",
    "adapter_residual_before_ln",  # Acts only with `ln_after`.
    "phm_dim",
    "factorized_phm_W",
    "shared_W_phm",
    "shared_phm_rule",
    "factorized_phm_rule",
    "phm_c_init",
    "phm_init_range",
    "learn_phm",
    "hypercomplex_nonlinearity",
    "phm_rank",
    "phm_bias",
)
# AdapterHub's initializations and the `AdapterConfig` fields of each: the
# one a fresh adapter of this config would get (loaded weights override it).
INITIALIZATIONS = {
    "bert": {"initializer": "normal", "init_scale": 0.02},
    "houlsby": {"initializer": "truncated_normal", "init_scale": 0.01},
    "mam_adapter": {"initializer": "normal", "init_scale": 0.02},
}
# Named AdapterHub configs a folder may give instead of a dict.
NAMED_CONFIGS = {
    "double_seq_bn": {},
    "houlsby": {},
    "seq_bn": {
        "mh_adapter": False,
        "original_ln_before": True,
        "non_linearity": "relu",
    },
    "pfeiffer": {
        "mh_adapter": False,
        "original_ln_before": True,
        "non_linearity": "relu",
    },
}
HEAD_KEYS = {
    "head_type",
    "num_labels",
    "layers",
    "activation_function",
    "label2id",
    "use_pooler",
    "bias",
    "dropout_prob",
}


def _fail(path, message):
    raise ArtifactError(f"{path}: {message}")


def _read_json(path):
    try:
        with open(path) as handle:
            value = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        _fail(path, f"not valid JSON ({error}); copy the folder again.")
    if not isinstance(value, dict):
        _fail(path, "not a JSON object; not an AdapterHub config.")
    return value


def _is_integer(value, minimum):
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value >= minimum
    )


def _activation(path, key, name):
    """The Keras activation for an AdapterHub activation name."""
    activation = keras_activation(name) if isinstance(name, str) else None
    if activation is None:
        _fail(
            path,
            f"'{key}' is {reprlib.repr(name)}, which keras_adapters does not "
            f"compute; supported: {', '.join(HF_ACTIVATIONS)}.",
        )
    return activation


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """An AdapterHub classification head, as keras_adapters builds it.

    Attributes:
        name: the head's name in its weight names (`heads.{name}.{i}`).
        num_labels: outputs (`1`: regression).
        layers: dense layers (AdapterHub's `layers`).
        activation: the hidden layers' activation (a Keras activation),
            or `None`.
        use_pooler: whether the head reads the pooler's output.
        bias: whether the last layer has a bias.
        dropout: the dropout rate before each layer, or `None` for the
            model's (AdapterHub's `dropout_prob`).
        labels: the label names in class-id order, or `None`.
    """

    name: str
    num_labels: int
    layers: int
    activation: object
    use_pooler: bool
    bias: bool
    dropout: float
    labels: tuple

    @classmethod
    def read(cls, path, model_type="bert"):
        """Parses and checks a `head_config.json` of a model of
        `model_type`."""
        top = _read_json(path)
        config = top.get("config")
        if not isinstance(config, dict) or not isinstance(top.get("name"), str):
            _fail(path, "has no 'config' object or 'name'; not a head config.")
        if top.get("model_class") not in HEAD_MODEL_CLASSES[model_type]:
            _fail(
                path,
                f"is a head of {top.get('model_class')!r}; for an adapter of "
                f"a {model_type!r} model keras_adapters reads heads of "
                f"{', '.join(HEAD_MODEL_CLASSES[model_type])}.",
            )
        unknown = sorted(set(config) - HEAD_KEYS)
        if unknown:
            _fail(
                path,
                f"unknown head key(s) {', '.join(unknown)}; keras_adapters "
                f"reads {', '.join(sorted(HEAD_KEYS))}.",
            )
        if config.get("head_type") != "classification":
            _fail(
                path,
                f"head_type is {config.get('head_type')!r}; keras_adapters "
                "reads classification heads only.",
            )
        checks = {
            "num_labels": _is_integer(config.get("num_labels"), 1),
            "layers": _is_integer(config.get("layers"), 1),
            "use_pooler": isinstance(config.get("use_pooler", False), bool),
            "bias": isinstance(config.get("bias", True), bool),
            "dropout_prob": config.get("dropout_prob") is None
            or isinstance(config.get("dropout_prob"), numbers.Real),
        }
        for key, valid in checks.items():
            if not valid:
                _fail(path, f"'{key}' is {reprlib.repr(config.get(key))}.")
        activation = config.get("activation_function")
        if activation:
            activation = _activation(path, "activation_function", activation)
        return cls(
            name=top["name"],
            num_labels=config["num_labels"],
            layers=config["layers"],
            activation=activation or None,
            use_pooler=config.get("use_pooler", False),
            bias=config.get("bias", True),
            dropout=config.get("dropout_prob"),
            labels=_labels(path, config.get("label2id"), config["num_labels"]),
        )


def _labels(path, label2id, num_labels):
    """Label names in id order from AdapterHub's `label2id`, or `None`."""
    if label2id is None or num_labels == 1:
        return None
    if not isinstance(label2id, dict) or sorted(label2id.values()) != list(
        range(num_labels)
    ):
        _fail(
            path,
            f"label2id {reprlib.repr(label2id)} does not give ids 0 to "
            f"{num_labels - 1} once each.",
        )
    return tuple(sorted(label2id, key=label2id.get))


@dataclasses.dataclass(frozen=True)
class AdapterHubConfig:
    """An AdapterHub folder's adapter (and head), parsed and checked.

    Attributes:
        directory: the folder.
        name: the adapter's name in its weight names.
        model_type: the Hugging Face model type it was trained on
            (`"bert"`, `"roberta"`, `"distilbert"`, ...).
        hidden_size: the hidden size it was trained on, or `None` when the
            config does not say (its weights do).
        adapter_config: the `AdapterConfig` computing it.
        leave_out: the blocks without adapters.
        weights_file: the adapter weights file.
        head: a `HeadConfig`, or `None` for a folder without a head.
        head_weights_file: the head weights file, or `None`.
    """

    directory: str
    name: str
    model_type: str
    hidden_size: int
    adapter_config: AdapterConfig
    leave_out: tuple
    weights_file: str
    head: HeadConfig
    head_weights_file: str

    @classmethod
    def read(cls, directory):
        """Reads and checks the folder's JSON files (no weights, no model).

        Args:
            directory: an AdapterHub folder.

        Returns:
            An `AdapterHubConfig`.

        Raises:
            ArtifactError: a missing file, a key or value that AdapterHub
                does not write or that keras_adapters does not compute
                (parallel, gated, PHM, invertible or union adapters, new
                LayerNorms, per-layer reduction factors, ...).
        """
        path = os.path.join(directory, ADAPTER_CONFIG_FILE)
        if not os.path.isfile(path):
            raise ArtifactError(
                f"No {ADAPTER_CONFIG_FILE} in '{directory}': not an "
                "AdapterHub folder (save one with model.save_adapter)."
            )
        top = _read_json(path)
        weights_file = _weights_file(directory, ADAPTER_WEIGHTS)
        if weights_file is None:
            raise ArtifactError(
                f"'{directory}' has {ADAPTER_CONFIG_FILE} but neither "
                f"{' nor '.join(ADAPTER_WEIGHTS.values())}; the AdapterHub "
                "folder is incomplete."
            )
        for key, valid in (
            ("name", isinstance(top.get("name"), str) and top.get("name")),
            ("model_type", isinstance(top.get("model_type"), str)),
            ("config", isinstance(top.get("config"), (dict, str))),
        ):
            if not valid:
                _fail(path, f"has no valid '{key}'; not an AdapterHub config.")
        if top["model_type"] not in MODEL_MODULES:
            _fail(
                path,
                f"the adapter was trained on a {top['model_type']!r} model; "
                "keras_adapters reads adapters of the model types "
                f"{', '.join(MODEL_MODULES)}.",
            )
        hidden_size = top.get("hidden_size")
        if hidden_size is not None and not _is_integer(hidden_size, 1):
            _fail(path, f"'hidden_size' is {reprlib.repr(hidden_size)}.")
        if top.get("type", "text_task") not in ("text_task", "text_lang"):
            _fail(path, f"adapter type {top.get('type')!r} is not read here.")
        config = _bn_config(
            path, top["config"], unversioned="version" not in top
        )
        _check_invertible(path, top, config)
        head_path = os.path.join(directory, HEAD_CONFIG_FILE)
        head_weights = _weights_file(directory, HEAD_WEIGHTS)
        if head_weights and not os.path.isfile(head_path):
            raise ArtifactError(
                f"'{directory}' has head weights but no {HEAD_CONFIG_FILE}; "
                "the AdapterHub folder is incomplete."
            )
        head = (
            HeadConfig.read(head_path, top["model_type"])
            if head_weights
            else None
        )
        return cls(
            directory=directory,
            name=top["name"],
            model_type=top["model_type"],
            hidden_size=hidden_size,
            adapter_config=_adapter_config(path, config),
            leave_out=tuple(sorted(set(config["leave_out"]))),
            weights_file=weights_file,
            head=head,
            head_weights_file=head_weights,
        )

    def adapter_layers(self, num_layers):
        """`adapter_layers` of a backbone of `num_layers` blocks: `None` for
        every block, `k` when `leave_out` is the bottom blocks.

        Raises:
            ArtifactError: a `leave_out` that keeps adapters out of other
                blocks (keras_adapters puts adapters in top blocks only).
        """
        if not self.leave_out:
            return None
        dropped = len(self.leave_out)
        if self.leave_out != tuple(range(dropped)) or dropped >= num_layers:
            raise ArtifactError(
                f"{os.path.join(self.directory, ADAPTER_CONFIG_FILE)}: "
                f"leave_out {list(self.leave_out)} on a {num_layers}-block "
                "model; keras_adapters leaves out the bottom blocks only "
                "(leave_out [0, ..., k-1])."
            )
        return num_layers - dropped


def _weights_file(directory, names):
    """The first weights file of `names` present (safetensors first)."""
    for name in names.values():
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def _bn_config(path, config, unversioned):
    """AdapterHub's bottleneck config with its defaults filled in, checked."""
    if isinstance(config, str):
        if config.lower() not in NAMED_CONFIGS:
            _fail(
                path,
                f"config {config!r} is not one keras_adapters computes; "
                f"supported: {', '.join(NAMED_CONFIGS)}.",
            )
        config = dict(NAMED_CONFIGS[config.lower()])
    known = set(BN_DEFAULTS) | {"invertible_adapter", "architecture"}
    unknown = sorted(set(config) - known)
    if unknown:
        _fail(
            path,
            f"unknown adapter config key(s) {', '.join(unknown)}; "
            "keras_adapters reads AdapterHub's bottleneck adapters "
            "(double_seq_bn, seq_bn).",
        )
    config = {**BN_DEFAULTS, **config}
    if config.get("architecture") is not None:
        _fail(
            path,
            f"architecture {config['architecture']!r}: keras_adapters reads "
            "bottleneck adapters only.",
        )
    for key in _FIXED_KEYS:
        if config[key] != BN_DEFAULTS[key]:
            _fail(
                path,
                f"'{key}' is {reprlib.repr(config[key])}; keras_adapters "
                f"computes only {key}={json.dumps(BN_DEFAULTS[key])}.",
            )
    for key in ("mh_adapter", "output_adapter", "original_ln_before"):
        if not isinstance(config[key], bool):
            _fail(path, f"'{key}' is {reprlib.repr(config[key])}.")
    if not (config["mh_adapter"] or config["output_adapter"]):
        _fail(path, "neither mh_adapter nor output_adapter is set.")
    residual = config["residual_before_ln"]
    if residual not in (True, False) or (
        config["original_ln_before"] and residual is not True
    ):
        _fail(
            path,
            f"'residual_before_ln' is {reprlib.repr(residual)} with "
            f"original_ln_before={config['original_ln_before']}; "
            "keras_adapters computes residual_before_ln=true there.",
        )
    factor = config["reduction_factor"]
    if not isinstance(factor, numbers.Real) or isinstance(factor, bool):
        _fail(
            path,
            f"'reduction_factor' is {reprlib.repr(factor)}; keras_adapters "
            "reads one reduction factor for every layer.",
        )
    if not isinstance(config["scaling"], numbers.Real) or isinstance(
        config["scaling"], bool
    ):
        _fail(
            path,
            f"'scaling' is {reprlib.repr(config['scaling'])}; keras_adapters "
            "computes a constant scaling only.",
        )
    if config["init_weights"] not in INITIALIZATIONS:
        _fail(
            path, f"'init_weights' is {reprlib.repr(config['init_weights'])}."
        )
    leave_out = config["leave_out"]
    if not isinstance(leave_out, list) or not all(
        _is_integer(layer, 0) for layer in leave_out
    ):
        _fail(path, f"'leave_out' is {reprlib.repr(leave_out)}.")
    if unversioned and isinstance(config["non_linearity"], str):
        name = config["non_linearity"].lower()
        config["non_linearity"] = UNVERSIONED_ACTIVATIONS.get(name, name)
    return config


def _adapter_config(path, config):
    """The `AdapterConfig` computing a checked bottleneck config."""
    sublayers = tuple(
        sublayer
        for sublayer, key in (
            ("self_attention", "mh_adapter"),
            ("feedforward", "output_adapter"),
        )
        if config[key]
    )
    after_layer_norm = config["original_ln_before"]
    if sublayers == ("self_attention", "feedforward") and not after_layer_norm:
        name = "houlsby"
    elif sublayers == ("feedforward",) and after_layer_norm:
        name = "pfeiffer"
    else:
        name = "custom"
    return AdapterConfig(
        name=name,
        sublayers=sublayers,
        reduction_factor=config["reduction_factor"],
        activation=_activation(path, "non_linearity", config["non_linearity"]),
        scaling=config["scaling"],
        after_layer_norm=after_layer_norm,
        train_layer_norms=False,
        **INITIALIZATIONS[config["init_weights"]],
    )


def _check_invertible(path, top, config):
    """Refuses an invertible adapter, except the one adapter-transformers
    wrote into the config of task adapters (Pfeiffer's default) without
    weights, which AdapterHub drops on load (the weights are checked to
    hold none)."""
    named = config["inv_adapter"] or config.get("invertible_adapter")
    if named and top.get("type") != "text_task":
        _fail(
            path,
            "it has an invertible adapter (inv_adapter), which "
            "keras_adapters does not compute.",
        )
