"""Adapter configurations as data: where adapters sit and what they compute.

Three configurations are named: adapter-bert's (the default), and
AdapterHub's `houlsby` (`double_seq_bn`) and `pfeiffer` (`seq_bn`). Each is
an `AdapterConfig`; one code path (`AdapterTransformerEncoder`) computes
any of them.
"""

import dataclasses
import numbers

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate

SUBLAYERS = ("self_attention", "feedforward")
INITIALIZERS = ("truncated_normal", "normal")


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
    """Where the adapters of a BERT block sit and what they compute.

    Every adapter computes `residual + scaling * (act(x W1 + b1) W2 + b2)`;
    the configuration says which sublayers have one, what `x` and
    `residual` are, the width, the activation and the initializer, and
    whether the pretrained LayerNorms train along with the adapters.

    Positions, with `h` a sublayer's output after its dropout, `x` the
    block input it is added to, and `LN` the sublayer's pretrained
    LayerNorm (post-LN BERT):

    - `after_layer_norm=False` (adapter-bert, Houlsby): the adapter reads
      `h` and adds its update to `h`: `LN(x + h + A(h))`.
    - `after_layer_norm=True` (Pfeiffer): the adapter reads the sublayer's
      normalized output `LN(x + h)` and its update joins the same residual
      sum, normalized by the same LayerNorm once more:
      `LN(x + h + A(LN(x + h)))`, AdapterHub's `original_ln_before=True,
      residual_before_ln=True`.

    Args:
        name: string. The configuration's family, for messages and file
            formats: `"adapter-bert"`, `"houlsby"`, `"pfeiffer"` or
            `"custom"`. Defaults to `"custom"`.
        sublayers: tuple of `"self_attention"` and/or `"feedforward"`: the
            sublayers that get an adapter. Defaults to both.
        adapter_size: int. The bottleneck width `m` (`0`: no adapters).
            Give this or `reduction_factor`. Defaults to `None`.
        reduction_factor: number. The width is
            `max(1, int(hidden_dim // reduction_factor))`, AdapterHub's
            rule. Defaults to `None`.
        activation: a Keras activation (name, function or its serialized
            form). Stored serialized. Defaults to BERT's tanh GELU.
        initializer: `"truncated_normal"` (cut at two standard deviations,
            adapter-bert) or `"normal"` (AdapterHub's `init_weights="bert"`)
            for both kernels; biases start at zero. Defaults to
            `"truncated_normal"`.
        init_scale: float. The kernels' standard deviation. Defaults to
            `1e-3`.
        scaling: float. Factor on the adapter's update. Defaults to `1.0`.
        after_layer_norm: bool. Pfeiffer's position (above). Defaults to
            `False`.
        train_layer_norms: bool. Whether tuning mode `"adapters"` trains the
            pretrained LayerNorms too (adapter-bert) or leaves them frozen
            (AdapterHub). Defaults to `True`.

    Example:

    ```python
    config = AdapterConfig.get("pfeiffer")
    config.size_for(768)  # 48
    backbone = keras_adapters.models.AdapterBertBackbone.from_preset(
        "bert_base_en_uncased", adapter_config=config
    )
    ```
    """

    name: str = "custom"
    sublayers: tuple = SUBLAYERS
    adapter_size: int = None
    reduction_factor: float = None
    activation: object = dataclasses.field(
        default_factory=lambda: gelu_approximate
    )
    initializer: str = "truncated_normal"
    init_scale: float = 1e-3
    scaling: float = 1.0
    after_layer_norm: bool = False
    train_layer_norms: bool = True

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise KerasAdaptersError(
                f"An adapter config's `name` must be a non-empty string, got "
                f"{self.name!r}."
            )
        sublayers = tuple(self.sublayers) if self.sublayers else ()
        if not sublayers or not set(sublayers) <= set(SUBLAYERS):
            raise KerasAdaptersError(
                f"`sublayers` must name one or both of {', '.join(SUBLAYERS)}"
                f"; got {self.sublayers!r}."
            )
        object.__setattr__(
            self, "sublayers", tuple(s for s in SUBLAYERS if s in sublayers)
        )
        if (self.adapter_size is None) == (self.reduction_factor is None):
            raise KerasAdaptersError(
                "Give an adapter config exactly one of `adapter_size` and "
                f"`reduction_factor`; got {self.adapter_size!r} and "
                f"{self.reduction_factor!r}."
            )
        if self.adapter_size is not None and not (
            _is_integer(self.adapter_size) and self.adapter_size >= 0
        ):
            raise KerasAdaptersError(
                f"`adapter_size` must be an integer >= 0 (0 means no "
                f"adapters), got {self.adapter_size!r}."
            )
        if self.reduction_factor is not None and not (
            _is_number(self.reduction_factor) and self.reduction_factor > 0
        ):
            raise KerasAdaptersError(
                f"`reduction_factor` must be a number > 0, got "
                f"{self.reduction_factor!r}."
            )
        if self.initializer not in INITIALIZERS:
            raise KerasAdaptersError(
                f"`initializer` must be one of {', '.join(INITIALIZERS)}, "
                f"got {self.initializer!r}."
            )
        for key in ("init_scale", "scaling"):
            value = getattr(self, key)
            if not _is_number(value) or (key == "init_scale" and value < 0):
                raise KerasAdaptersError(
                    f"`{key}` must be a number"
                    f"{' >= 0' if key == 'init_scale' else ''}, got {value!r}."
                )
            object.__setattr__(self, key, float(value))
        for key in ("after_layer_norm", "train_layer_norms"):
            if not isinstance(getattr(self, key), bool):
                raise KerasAdaptersError(
                    f"`{key}` must be True or False, got "
                    f"{getattr(self, key)!r}."
                )
        try:
            activation = keras.activations.get(self.activation)
        except (ValueError, TypeError):
            activation = None
        if activation is None:
            raise KerasAdaptersError(
                f"Unknown adapter activation {self.activation!r}; give a "
                "Keras activation such as 'relu', 'swish' or 'gelu'."
            )
        object.__setattr__(
            self, "activation", keras.activations.serialize(activation)
        )

    @property
    def activation_fn(self):
        """The activation as a callable."""
        return keras.activations.get(self.activation)

    def computes_like(self, other):
        """Whether adapters of config `other` compute as this config's,
        whatever their widths and initialization: the same sublayers,
        position, activation and scaling."""
        return all(
            getattr(self, key) == getattr(other, key)
            for key in (
                "sublayers",
                "after_layer_norm",
                "activation",
                "scaling",
            )
        )

    def size_for(self, hidden_dim):
        """The adapter width on a model of width `hidden_dim`."""
        if self.adapter_size is not None:
            return self.adapter_size
        return max(1, int(hidden_dim // self.reduction_factor))

    def with_settings(
        self, adapter_size=None, init_scale=None, activation=None
    ):
        """This config with the given settings (`None`: keep its own).

        A given `adapter_size` replaces `reduction_factor`.
        """
        changes = {}
        if adapter_size is not None:
            changes.update(adapter_size=adapter_size, reduction_factor=None)
        if init_scale is not None:
            changes["init_scale"] = init_scale
        if activation is not None:
            changes["activation"] = activation
        return dataclasses.replace(self, **changes) if changes else self

    def get_config(self):
        """The config as a JSON-ready dict (`from_config` reads it)."""
        config = dataclasses.asdict(self)
        config["sublayers"] = list(self.sublayers)
        return config

    @classmethod
    def from_config(cls, config):
        """Builds a config from `get_config()`'s dict.

        Raises:
            KerasAdaptersError: an unknown key or a bad value.
        """
        if not isinstance(config, dict):
            raise KerasAdaptersError(
                "An adapter config must be a dict, got "
                f"{type(config).__name__}."
            )
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise KerasAdaptersError(
                f"Unknown adapter config key(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}."
            )
        return cls(**config)

    @classmethod
    def get(cls, identifier):
        """The config an identifier names.

        Args:
            identifier: `None` (adapter-bert's), a name of
                `ADAPTER_CONFIGS` or one of its aliases (`"double_seq_bn"`,
                `"seq_bn"`), a dict from `get_config()`, or an
                `AdapterConfig`.

        Returns:
            An `AdapterConfig`.
        """
        if identifier is None:
            return ADAPTER_CONFIGS[DEFAULT_ADAPTER_CONFIG]
        if isinstance(identifier, cls):
            return identifier
        if isinstance(identifier, dict):
            return cls.from_config(identifier)
        if isinstance(identifier, str):
            name = ALIASES.get(identifier.lower(), identifier.lower())
            if name in ADAPTER_CONFIGS:
                return ADAPTER_CONFIGS[name]
        raise KerasAdaptersError(
            f"Unknown adapter config {identifier!r}; choose one of "
            f"{', '.join([*ADAPTER_CONFIGS, *ALIASES])}, or give an "
            "AdapterConfig."
        )


DEFAULT_ADAPTER_CONFIG = "adapter-bert"
ADAPTER_CONFIGS = {
    # google-research/adapter-bert: GELU, truncated normal 1e-3, m = 64,
    # the LayerNorms train with the adapters.
    "adapter-bert": AdapterConfig(name="adapter-bert", adapter_size=64),
    # AdapterHub's DoubleSeqBnConfig: swish, normal 0.02 ("bert" init),
    # width hidden // 16, LayerNorms frozen.
    "houlsby": AdapterConfig(
        name="houlsby",
        reduction_factor=16,
        activation="swish",
        initializer="normal",
        init_scale=0.02,
        train_layer_norms=False,
    ),
    # AdapterHub's SeqBnConfig: the feedforward sublayer only, relu, reading
    # the LayerNorm's output.
    "pfeiffer": AdapterConfig(
        name="pfeiffer",
        sublayers=("feedforward",),
        reduction_factor=16,
        activation="relu",
        initializer="normal",
        init_scale=0.02,
        after_layer_norm=True,
        train_layer_norms=False,
    ),
}
# AdapterHub's current names of its two configurations.
ALIASES = {"double_seq_bn": "houlsby", "seq_bn": "pfeiffer"}
