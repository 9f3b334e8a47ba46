"""A keras-hub `TransformerEncoder` with two bottleneck adapters."""

import keras
from keras import ops
from keras_hub.layers import TransformerEncoder

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers.adapter import Adapter


def adapter_config(owner):
    """The serialized adapter arguments of a block or a backbone."""
    return {
        "adapter_size": owner.adapter_size,
        "adapter_init_scale": owner.adapter_init_scale,
        "adapter_activation": keras.activations.serialize(
            owner.adapter_activation
        ),
    }


def validate_adapter_size(adapter_size):
    """Returns `adapter_size` as an int; raises if it is negative."""
    if int(adapter_size) < 0:
        raise KerasAdaptersError(
            f"`adapter_size` must be >= 0 (0 means no adapters), got "
            f"{adapter_size}."
        )
    return int(adapter_size)


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


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterTransformerEncoder(TransformerEncoder):
    """Transformer encoder block with Houlsby adapters.

    Identical to `keras_hub.layers.TransformerEncoder` (same sublayers, same
    variable paths, so pretrained weights load unchanged) plus two `Adapter`
    modules, placed as in google-research/adapter-bert: each adapter reads
    the output of a sublayer's projection *after its dropout* and *before*
    the residual add.

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

    The layer runs its parent's `call()`: `build()` puts each adapter after
    the dropout layer that ends its sublayer. The adapters compute in
    float32 under any dtype policy; under mixed precision their output is
    rounded to the block's compute dtype before the residual add.

    Args:
        adapter_size: int. Bottleneck width of both adapters. `0` builds no
            adapter and the layer computes exactly what its parent does.
            Defaults to `64`.
        adapter_init_scale: float. Initializer standard deviation of the
            adapter kernels. Defaults to `1e-3`.
        adapter_activation: string or callable. Adapter non-linearity.
            Defaults to tanh-approximated GELU.
        **kwargs: every argument of `keras_hub.layers.TransformerEncoder`
            (`intermediate_dim`, `num_heads`, `dropout`, `activation`,
            `layer_norm_epsilon`, `normalize_first`, ...).

    Example:

    ```python
    encoder = keras_adapters.layers.AdapterTransformerEncoder(
        intermediate_dim=64, num_heads=2, adapter_size=8
    )
    x = np.random.normal(size=(2, 10, 32)).astype("float32")
    y = encoder(x, padding_mask=np.ones((2, 10), dtype="int32"))
    ```
    """

    def __init__(
        self,
        adapter_size=64,
        adapter_init_scale=1e-3,
        adapter_activation=gelu_approximate,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_adapter_config(
            adapter_size, adapter_init_scale, adapter_activation
        )

    def _init_adapter_config(
        self, adapter_size, adapter_init_scale, adapter_activation
    ):
        self.adapter_size = validate_adapter_size(adapter_size)
        self.adapter_init_scale = float(adapter_init_scale)
        self.adapter_activation = keras.activations.get(adapter_activation)

    def build(self, inputs_shape):
        super().build(inputs_shape)
        self._add_adapters(inputs_shape)

    def _add_adapters(self, inputs_shape):
        """Builds the adapters and puts each after its sublayer's dropout."""
        self._self_attention_adapter = None
        self._feedforward_adapter = None
        if self.adapter_size == 0:
            return
        self._self_attention_adapter = self._build_adapter(
            "self_attention_adapter", inputs_shape
        )
        self._feedforward_adapter = self._build_adapter(
            "feedforward_adapter", inputs_shape
        )
        self._self_attention_dropout = self._followed_by(
            self._self_attention_dropout, self._self_attention_adapter
        )
        self._feedforward_dropout = self._followed_by(
            self._feedforward_dropout, self._feedforward_adapter
        )

    def _build_adapter(self, name, inputs_shape):
        adapter = Adapter(
            adapter_size=self.adapter_size,
            init_scale=self.adapter_init_scale,
            activation=self.adapter_activation,
            name=name,
        )
        adapter.build(inputs_shape)
        return adapter

    def _followed_by(self, dropout, adapter):
        return _AdaptedOutput(
            dropout, adapter, dtype=self.dtype_policy, name=dropout.name
        )

    @property
    def adapters(self):
        """The adapter layers of this block (empty when `adapter_size=0`)."""
        return [
            adapter
            for adapter in (
                self._self_attention_adapter,
                self._feedforward_adapter,
            )
            if adapter is not None
        ]

    @property
    def layer_norms(self):
        """The two pretrained LayerNormalization layers of this block."""
        return [self._self_attention_layer_norm, self._feedforward_layer_norm]

    def get_config(self):
        config = super().get_config()
        config.update(adapter_config(self))
        return config


def add_adapters(
    encoder,
    adapter_size=64,
    adapter_init_scale=1e-3,
    adapter_activation=gelu_approximate,
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
            to `64`.
        adapter_init_scale: float. Initializer standard deviation of the
            adapter kernels. Defaults to `1e-3`.
        adapter_activation: string or callable. Adapter non-linearity.
            Defaults to tanh-approximated GELU.

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
    validate_adapter_size(adapter_size)
    keras.activations.get(adapter_activation)
    encoder.__class__ = AdapterTransformerEncoder
    encoder._init_adapter_config(
        adapter_size, adapter_init_scale, adapter_activation
    )
    # A built layer refuses new sublayers; Keras lifts the same lock to
    # add state after `build()` (`Layer.quantize()`, `Dense.enable_lora()`).
    encoder._tracker.unlock()
    try:
        with keras.name_scope(encoder.name, caller=encoder):
            encoder._add_adapters(encoder.get_build_config()["input_shape"])
    finally:
        encoder._tracker.lock()
    return encoder
