"""A keras-hub `TransformerEncoder` with two bottleneck adapters."""

import keras
from keras import ops
from keras_hub.layers import TransformerEncoder
from keras_hub.src.layers.modeling.transformer_layer_utils import (
    merge_padding_and_attention_mask,
)
from keras_hub.src.utils.keras_utils import gelu_approximate

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
        if int(adapter_size) < 0:
            raise ValueError(
                f"`adapter_size` must be >= 0 (0 means no adapters), got "
                f"{adapter_size}."
            )
        self.adapter_size = int(adapter_size)
        self.adapter_init_scale = float(adapter_init_scale)
        self.adapter_activation = keras.activations.get(adapter_activation)

    def build(self, inputs_shape):
        super().build(inputs_shape)
        self._self_attention_adapter = self._build_adapter(
            "self_attention_adapter", inputs_shape
        )
        self._feedforward_adapter = self._build_adapter(
            "feedforward_adapter", inputs_shape
        )
        self.built = True

    def _build_adapter(self, name, inputs_shape):
        if self.adapter_size == 0:
            return None
        adapter = Adapter(
            adapter_size=self.adapter_size,
            init_scale=self.adapter_init_scale,
            activation=self.adapter_activation,
            name=name,
        )
        adapter.build(inputs_shape)
        return adapter

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

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        self_attention_mask = merge_padding_and_attention_mask(
            inputs, padding_mask, attention_mask
        )

        # Self-attention sublayer.
        residual = inputs
        x = inputs
        if self.normalize_first:
            x = self._self_attention_layer_norm(x)
        attention = self._self_attention_layer(
            query=x,
            value=x,
            attention_mask=self_attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            x, attention_scores = attention
        else:
            x = attention
        x = self._self_attention_dropout(x, training=training)
        x = self._adapt(self._self_attention_adapter, x, residual)
        if not self.normalize_first:
            x = self._self_attention_layer_norm(x)

        # Feedforward sublayer.
        residual = x
        if self.normalize_first:
            x = self._feedforward_layer_norm(x)
        x = self._feedforward_intermediate_dense(x)
        x = self._feedforward_output_dense(x)
        x = self._feedforward_dropout(x, training=training)
        x = self._adapt(self._feedforward_adapter, x, residual)
        if not self.normalize_first:
            x = self._feedforward_layer_norm(x)

        if return_attention_scores:
            return x, attention_scores
        return x

    def _adapt(self, adapter, sublayer_output, residual):
        """Applies `adapter` (if any) and the residual connection."""
        if adapter is None:
            return ops.add(sublayer_output, residual)
        adapted = adapter(sublayer_output)
        # The adapter returns float32; add in float32 under mixed precision
        # and hand the block's own compute dtype to what follows.
        summed = ops.add(adapted, ops.cast(residual, adapted.dtype))
        return ops.cast(summed, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(adapter_config(self))
        return config
