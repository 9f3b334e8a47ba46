"""A keras-hub `TransformerEncoder` with two bottleneck adapters."""

import keras
from keras import ops
from keras_hub.layers import TransformerEncoder

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import adding_state
from keras_adapters.keras_hub_internals import encoder_sublayer
from keras_adapters.keras_hub_internals import set_encoder_sublayer
from keras_adapters.layers.adapter import Adapter
from keras_adapters.layers.adapter_config import AdapterConfig


class _AdaptedOutput(keras.layers.Layer):
    """A sublayer followed by an adapter, in the sublayer's place.

    `AdapterTransformerEncoder` puts one in place of the dropout that ends
    each of its sublayers, so the adapter reads the sublayer's output after
    dropout and the parent's residual add follows. The adapter computes in
    float32; its output is cast to the block's compute dtype, the dtype of
    the residual it is added to.

    Args:
        layer: the layer to run first.
        adapter: the `Adapter` to run on its output.
        **kwargs: other arguments of `keras.layers.Layer` (`name`, `dtype`).

    Returns:
        The adapter's output, in the compute dtype of this layer.
    """

    def __init__(self, layer, adapter, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.adapter = adapter
        self.supports_masking = True

    def call(self, inputs, training=None):
        outputs = self.adapter(self.layer(inputs, training=training))
        return ops.cast(outputs, self.compute_dtype)


class _AdaptedLayerNorm(keras.layers.Layer):
    """A post-LN sublayer's LayerNorm with an adapter reading its output.

    `AdapterTransformerEncoder` puts one in place of a sublayer's LayerNorm
    for adapters with `after_layer_norm=True` (AdapterHub's Pfeiffer
    position). Given the residual sum `s = x + h`, it computes
    `LN(s + A(LN(s)))`: the adapter reads the normalized sum, its update is
    added to the sum, and the same LayerNorm normalizes the result.

    Args:
        layer_norm: the sublayer's pretrained LayerNormalization.
        adapter: the `Adapter`.
        **kwargs: other arguments of `keras.layers.Layer` (`name`, `dtype`).

    Returns:
        The normalized output, in the compute dtype of this layer.
    """

    def __init__(self, layer_norm, adapter, **kwargs):
        super().__init__(**kwargs)
        self.layer_norm = layer_norm
        self.adapter = adapter
        self.supports_masking = True

    def call(self, inputs):
        updated = self.adapter(self.layer_norm(inputs), residual=inputs)
        return self.layer_norm(ops.cast(updated, self.compute_dtype))


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterTransformerEncoder(TransformerEncoder):
    """Transformer encoder block with bottleneck adapters.

    Identical to `keras_hub.layers.TransformerEncoder` (same sublayers, same
    variable paths, so pretrained weights load unchanged) plus an `Adapter`
    per sublayer named by the adapter config (`keras_adapters.layers.
    AdapterConfig`). With adapter-bert's config (the default) and Houlsby's,
    each adapter reads the output of a sublayer's projection *after its
    dropout* and *before* the residual add, as in google-research/adapter-bert.

    Post-LN (`normalize_first=False`, BERT):

    ```
    a = Dropout(SelfAttention(x));     x = LayerNorm(x + Adapter_attn(a))
    f = Dropout(FFN(x));               x = LayerNorm(x + Adapter_ffn(f))
    ```

    Pre-LN (`normalize_first=True`): the same positions, between the
    sublayer's dropout and its residual add; the LayerNorms stay at the
    sublayer inputs:

    ```
    a = Dropout(SelfAttention(LayerNorm(x)));  x = x + Adapter_attn(a)
    f = Dropout(FFN(LayerNorm(x)));            x = x + Adapter_ffn(f)
    ```

    With `after_layer_norm=True` (Pfeiffer; post-LN only) the adapter reads
    the sublayer's LayerNorm output and adds its update to the residual sum,
    which the same LayerNorm normalizes again:

    ```
    f = Dropout(FFN(x));  s = x + f;  x = LayerNorm(s + Update(LayerNorm(s)))
    ```

    The layer runs its parent's `call()`: `build()` puts each adapter after
    the dropout layer that ends its sublayer (or around its LayerNorm). The
    adapters compute in float32 under any dtype policy; under mixed
    precision their output is rounded to the block's compute dtype.

    Args:
        adapter_size: int. Bottleneck width of the adapters, replacing the
            config's. `0` builds no adapter and the layer computes exactly
            what its parent does. Defaults to `None`, the config's.
        adapter_init_scale: float. Initializer standard deviation of the
            adapter kernels, replacing the config's. Defaults to `None`.
        adapter_activation: string or callable. Adapter non-linearity,
            replacing the config's. Defaults to `None`.
        adapter_config: an `AdapterConfig`, its name (`"adapter-bert"`,
            `"houlsby"`, `"pfeiffer"`) or its dict. Defaults to `None`,
            adapter-bert's (width 64, truncated normal 1e-3, tanh GELU).
        **kwargs: every argument of `keras_hub.layers.TransformerEncoder`
            (`intermediate_dim`, `num_heads`, `dropout`, `activation`,
            `layer_norm_epsilon`, `normalize_first`, ...).

    Example:

    ```python
    encoder = keras_adapters.layers.AdapterTransformerEncoder(
        intermediate_dim=64, num_heads=2, adapter_config="pfeiffer"
    )
    x = np.random.normal(size=(2, 10, 32)).astype("float32")
    y = encoder(x, padding_mask=np.ones((2, 10), dtype="int32"))
    ```
    """

    def __init__(
        self,
        adapter_size=None,
        adapter_init_scale=None,
        adapter_activation=None,
        adapter_config=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_adapter_config(
            resolve_adapter_config(
                adapter_config,
                adapter_size,
                adapter_init_scale,
                adapter_activation,
            )
        )

    def _init_adapter_config(self, config):
        if config.after_layer_norm and self.normalize_first:
            raise KerasAdaptersError(
                f"Adapter config '{config.name}' reads a post-LN sublayer's "
                "LayerNorm output; it needs `normalize_first=False`."
            )
        self.adapter_config = config
        # Known before `build()` unless the width is a reduction factor.
        self.adapter_size = config.adapter_size
        self.adapter_init_scale = config.init_scale
        self.adapter_activation = config.activation_fn

    def build(self, inputs_shape):
        super().build(inputs_shape)
        self._add_adapters(inputs_shape)

    def _add_adapters(self, inputs_shape):
        """Builds the adapters and puts each in its sublayer."""
        config = self.adapter_config
        self.adapter_size = config.size_for(inputs_shape[-1])
        self._self_attention_adapter = None
        self._feedforward_adapter = None
        if self.adapter_size == 0:
            return
        for sublayer in config.sublayers:
            adapter = Adapter(
                adapter_size=self.adapter_size,
                init_scale=config.init_scale,
                activation=config.activation_fn,
                initializer=config.initializer,
                scaling=config.scaling,
                name=f"{sublayer}_adapter",
            )
            adapter.build(inputs_shape)
            setattr(self, f"_{sublayer}_adapter", adapter)
            place_adapter(self, sublayer, adapter, config.after_layer_norm)

    @property
    def adapters(self):
        """The adapter layers of this block (empty when `adapter_size=0`)."""
        return list(self.sublayer_adapters.values())

    @property
    def sublayer_adapters(self):
        """`{sublayer: adapter}` for the sublayers that have one
        (`"self_attention"`, `"feedforward"`)."""
        return {
            sublayer: adapter
            for sublayer, adapter in (
                ("self_attention", self._self_attention_adapter),
                ("feedforward", self._feedforward_adapter),
            )
            if adapter is not None
        }

    @property
    def layer_norms(self):
        """The two pretrained LayerNormalization layers of this block."""
        return [
            getattr(layer, "layer_norm", layer)
            for layer in (
                self._self_attention_layer_norm,
                self._feedforward_layer_norm,
            )
        ]

    def get_config(self):
        config = super().get_config()
        config["adapter_config"] = self.adapter_config.get_config()
        return config


def place_adapter(block, sublayer, adapter, after_layer_norm=False):
    """Puts an adapter in a built block's sublayer, where adapter configs
    put theirs.

    The adapter joins the dropout that ends the sublayer (adapter-bert's
    and Houlsby's position: it reads the sublayer's output, before the
    residual add) or, with `after_layer_norm` (Pfeiffer's), the sublayer's
    LayerNorm (it reads the normalized sum and updates the sum). The
    block's own `call()` then runs it.

    Args:
        block: a built `keras_hub.layers.TransformerEncoder`.
        sublayer: `"self_attention"` or `"feedforward"`.
        adapter: a layer called as `adapter(inputs, residual=None)`, e.g.
            an `Adapter`.
        after_layer_norm: bool, Pfeiffer's position.
    """
    part = "layer_norm" if after_layer_norm else "dropout"
    wrapper = _AdaptedLayerNorm if after_layer_norm else _AdaptedOutput
    inner = encoder_sublayer(block, sublayer, part)
    set_encoder_sublayer(
        block,
        sublayer,
        part,
        wrapper(inner, adapter, dtype=block.dtype_policy, name=inner.name),
    )


def resolve_adapter_config(
    adapter_config=None,
    adapter_size=None,
    adapter_init_scale=None,
    adapter_activation=None,
):
    """The `AdapterConfig` named by `adapter_config`, with the given
    settings (`None`: the config's own) in place of its own.

    Raises:
        KerasAdaptersError: an unknown config or a bad setting.
    """
    return AdapterConfig.get(adapter_config).with_settings(
        adapter_size, adapter_init_scale, adapter_activation
    )


def set_intermediate_activation(encoder, activation):
    """Sets the activation of a block's feedforward intermediate dense.

    keras-hub builds every BERT block with the tanh approximation of GELU;
    a Hugging Face BERT whose `hidden_act` is `"gelu"` computes the exact
    (erf) GELU, about 3e-3 apart in MiniLM's outputs. This gives a built
    block the activation its checkpoint was trained with.

    Args:
        encoder: a built `keras_hub.layers.TransformerEncoder`.
        activation: string or callable, e.g. `"gelu"` (exact).
    """
    activation = keras.activations.get(activation)
    encoder.activation = activation
    encoder._feedforward_intermediate_dense.activation = activation


def add_adapters(
    encoder,
    adapter_size=None,
    adapter_init_scale=None,
    adapter_activation=None,
    adapter_config=None,
):
    """Turns a built `TransformerEncoder` into an `AdapterTransformerEncoder`.

    The block keeps its sublayers and variables and becomes an
    `AdapterTransformerEncoder` in place (its class is replaced), with
    adapters created in its name scope: the result has the variable paths,
    config and outputs of an `AdapterTransformerEncoder` built with the same
    arguments. This is how `AdapterBertBackbone` adds adapters to the blocks
    keras-hub's `BertBackbone` builds and wires, as keras-hub's
    `Backbone.enable_lora()` adds LoRA weights to built layers.

    Args:
        encoder: a built `keras_hub.layers.TransformerEncoder` (not an
            instance of a subclass).
        adapter_size: int. Bottleneck width, `0` for no adapters. Defaults
            to `None`, the config's.
        adapter_init_scale: float. Initializer standard deviation of the
            adapter kernels. Defaults to `None`, the config's.
        adapter_activation: string or callable. Adapter non-linearity.
            Defaults to `None`, the config's.
        adapter_config: an `AdapterConfig` or its name. Defaults to `None`,
            adapter-bert's.

    Returns:
        `encoder`, now an `AdapterTransformerEncoder`.

    Example:

    ```python
    block = keras_hub.layers.TransformerEncoder(intermediate_dim=64,
                                                num_heads=2)
    block.build((None, None, 32))
    add_adapters(block, adapter_size=8)
    block.adapters  # [<Adapter name=self_attention_adapter>, ...]
    ```
    """
    if type(encoder) is not TransformerEncoder or not encoder.built:
        raise KerasAdaptersError(
            "`add_adapters` takes a built keras_hub.layers.TransformerEncoder,"
            f" got {type(encoder).__name__} (built={encoder.built})."
        )
    # Checked before the class changes, so a bad value leaves `encoder` as
    # it was.
    config = resolve_adapter_config(
        adapter_config, adapter_size, adapter_init_scale, adapter_activation
    )
    encoder.__class__ = AdapterTransformerEncoder
    try:
        encoder._init_adapter_config(config)
    except KerasAdaptersError:
        encoder.__class__ = TransformerEncoder
        raise
    with adding_state(encoder), keras.name_scope(encoder.name, caller=encoder):
        encoder._add_adapters(encoder.get_build_config()["input_shape"])
    return encoder
