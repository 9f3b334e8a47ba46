"""AdapterFusion (Pfeiffer et al. 2021): attention over frozen adapters."""

import keras
from keras import ops

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import encoder_sublayer
from keras_adapters.keras_hub_internals import set_encoder_sublayer
from keras_adapters.layers.adapter import Adapter


@keras.saving.register_keras_serializable(package="keras_adapters")
class IdentityPenalty(keras.regularizers.Regularizer):
    """`factor * sum((I - W)^2)`: keeps a square kernel near the identity
    (AdapterFusion's regularization of its value matrix).

    Args:
        factor: float. Defaults to `0.01`, AdapterHub's.
    """

    def __init__(self, factor=0.01):
        self.factor = float(factor)

    def __call__(self, kernel):
        identity = ops.eye(kernel.shape[0], kernel.shape[1], dtype=kernel.dtype)
        return self.factor * ops.sum(ops.square(identity - kernel))

    def get_config(self):
        return {"factor": self.factor}


def _near_identity(shape, dtype=None):
    """AdapterHub's initial value matrix: 1 on the diagonal, 1e-6 off it."""
    eye = ops.eye(shape[0], shape[1], dtype=dtype)
    return eye + (1.0 - eye) * 1e-6


def fusion_attention(
    query, keys, values, temperature, mask=None, score_dropout=None
):
    """AdapterFusion's attention: `sum_i softmax_i(q . k_i / T) v_i`.

    Args:
        query: `[..., hidden]`.
        keys: `[..., N, hidden]`, one per adapter.
        values: `[..., N, hidden]`.
        temperature: the softmax temperature `T`, a float or a tensor that
            broadcasts against the `[..., N]` scores.
        mask: optional bool tensor broadcasting against the scores; the
            adapters where it is `False` get no weight.
        score_dropout: optional function applied to the scores (dropout).

    Returns:
        `[..., hidden]`, the values weighted by the attention.
    """
    scores = ops.einsum("...h,...nh->...n", query, keys)
    if score_dropout is not None:
        scores = score_dropout(scores)
    if mask is not None:
        scores = ops.where(mask, scores, float("-inf"))
    weights = ops.softmax(scores / temperature, axis=-1)
    return ops.einsum("...n,...nh->...h", weights, values)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterFusion(keras.layers.Layer):
    """AdapterFusion: per position, an attention over N adapters' updates.

    With `h` the output the adapters read (the query's source), `u_1..u_N`
    the updates of N frozen adapters (`[batch, sequence, N, hidden]`) and
    `r` the residual, it computes, as AdapterHub's `BertFusion`:

    ```
    q = h Wq + bq;  k_i = u_i Wk + bk;  v_i = u_i Wv
    p = softmax_i(q . k_i / T)            (dropout on the scores)
    output = r + sum_i p_i v_i
    ```

    `Wq`, `Wk` start from a normal distribution (standard deviation 0.02,
    BERT's), the biases at zero, and `Wv` at the identity (1e-6 off the
    diagonal, as AdapterHub), so a fresh layer outputs the residual plus a
    mean of the adapters' updates. All float32.

    Args:
        query: bool, whether `q` is a dense projection of `h` (else `h`).
            Defaults to `True`.
        key: bool, the same for the keys. Defaults to `True`.
        value: bool, whether the values go through `Wv`. Defaults to
            `True`.
        regularization: bool, whether `Wv` carries the loss
            `0.01 * sum((I - Wv)^2)` (AdapterHub's dynamic fusion).
            Defaults to `True`.
        temperature: float, the softmax temperature `T`. Defaults to `1.0`
            (AdapterHub's fusion configs without `temperature`).
        dropout: float, dropout on the attention scores. Defaults to `0.1`
            (BERT's attention dropout, which AdapterHub uses).
        **kwargs: other `keras.layers.Layer` arguments, e.g. `name`.

    Call arguments:
        query: `[batch, sequence, hidden]`, the query's source `h`.
        updates: `[batch, sequence, N, hidden]`, the adapters' updates.
        residual: `[batch, sequence, hidden]`, added to the result.
        training: bool, whether dropout applies.

    Returns:
        `[batch, sequence, hidden]` float32.

    Example:

    ```python
    fusion = keras_adapters.layers.AdapterFusion(name="fusion")
    h = np.random.normal(size=(2, 5, 32)).astype("float32")
    updates = np.random.normal(size=(2, 5, 3, 32)).astype("float32")
    y = fusion(h, updates, h)  # [2, 5, 32]
    ```
    """

    def __init__(
        self,
        query=True,
        key=True,
        value=True,
        regularization=True,
        temperature=1.0,
        dropout=0.1,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if float(temperature) <= 0:
            raise KerasAdaptersError(
                f"`temperature` must be > 0, got {temperature}."
            )
        self.use_query = bool(query)
        self.use_key = bool(key)
        self.use_value = bool(value)
        self.regularization = bool(regularization)
        self.temperature = float(temperature)
        self.dropout = float(dropout)
        self.score_dropout = keras.layers.Dropout(
            self.dropout, dtype="float32", name="score_dropout"
        )

    def build(self, query_shape, updates_shape=None, residual_shape=None):
        hidden = int(query_shape[-1])
        init = keras.initializers.RandomNormal(stddev=0.02)
        for name, used in (("query", self.use_query), ("key", self.use_key)):
            if used:
                setattr(
                    self,
                    f"{name}_kernel",
                    self.add_weight(
                        name=f"{name}_kernel",
                        shape=(hidden, hidden),
                        initializer=init,
                    ),
                )
                setattr(
                    self,
                    f"{name}_bias",
                    self.add_weight(
                        name=f"{name}_bias",
                        shape=(hidden,),
                        initializer="zeros",
                    ),
                )
        if self.use_value:
            self.value_kernel = self.add_weight(
                name="value_kernel",
                shape=(hidden, hidden),
                initializer=_near_identity,
                regularizer=IdentityPenalty() if self.regularization else None,
            )
        self.built = True

    def call(self, query, updates, residual, training=None):
        query = ops.cast(query, "float32")
        updates = ops.cast(updates, "float32")
        keys = updates
        if self.use_query:
            query = ops.matmul(query, self.query_kernel) + self.query_bias
        if self.use_key:
            keys = ops.matmul(updates, self.key_kernel) + self.key_bias
        values = updates
        if self.use_value:
            values = ops.matmul(updates, self.value_kernel)
        context = fusion_attention(
            query,
            keys,
            values,
            self.temperature,
            score_dropout=lambda scores: self.score_dropout(
                scores, training=training
            ),
        )
        return ops.cast(residual, "float32") + context

    def compute_output_spec(self, query, updates, residual, training=None):
        return keras.KerasTensor(query.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "query": self.use_query,
                "key": self.use_key,
                "value": self.use_value,
                "regularization": self.regularization,
                "temperature": self.temperature,
                "dropout": self.dropout,
            }
        )
        return config


def _updates(adapters, inputs):
    """`[batch, sequence, N, hidden]`: each adapter's update of `inputs`."""
    zeros = ops.zeros_like(ops.cast(inputs, "float32"))
    return ops.stack(
        [adapter(inputs, residual=zeros) for adapter in adapters], axis=-2
    )


class _FusedOutput(keras.layers.Layer):
    """A sublayer's dropout followed by its adapters and their fusion, in
    the dropout's place (adapter-bert's and Houlsby's position): the output
    `h` of the sublayer becomes `h + sum_i p_i Wv u_i(h)`, which the block
    adds to its residual and normalizes."""

    def __init__(self, layer, adapters, fusion, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.adapters = adapters
        self.fusion = fusion
        self.supports_masking = True

    def call(self, inputs, training=None):
        outputs = self.layer(inputs, training=training)
        fused = self.fusion(
            outputs,
            _updates(self.adapters, outputs),
            outputs,
            training=training,
        )
        return ops.cast(fused, self.compute_dtype)


class _FusedLayerNorm(keras.layers.Layer):
    """A post-LN sublayer's LayerNorm with fused adapters reading its output
    (AdapterHub's Pfeiffer position): given the residual sum `s`, it
    computes `LN(s + sum_i p_i Wv u_i(LN(s)))`, the query from `LN(s)`."""

    def __init__(self, layer_norm, adapters, fusion, **kwargs):
        super().__init__(**kwargs)
        self.layer_norm = layer_norm
        self.adapters = adapters
        self.fusion = fusion
        self.supports_masking = True

    def call(self, inputs, training=None):
        normalized = self.layer_norm(inputs)
        fused = self.fusion(
            normalized,
            _updates(self.adapters, normalized),
            inputs,
            training=training,
        )
        return self.layer_norm(ops.cast(fused, self.compute_dtype))


def add_adapter_fusion(block, adapter_config, adapter_sizes, **fusion_args):
    """Gives a built Transformer block N adapters and their fusion.

    For each sublayer of `adapter_config`, N `Adapter`s (one per entry of
    `adapter_sizes`, named `{sublayer}_adapter_{i}`) and one
    `AdapterFusion` (`{sublayer}_fusion`) go where the config puts a single
    adapter: after the sublayer's dropout, or around its LayerNorm for
    `after_layer_norm` (Pfeiffer). The block's own `call()` runs them.

    Args:
        block: a built `AdapterTransformerEncoder` without adapters
            (`adapter_size=0`).
        adapter_config: the adapters' `AdapterConfig`.
        adapter_sizes: list of each adapter's width.
        **fusion_args: the arguments of `AdapterFusion`.

    Returns:
        `{sublayer: (adapters, fusion)}`.
    """
    if len(adapter_sizes) < 2:
        raise KerasAdaptersError(
            "AdapterFusion fuses two or more adapters, got "
            f"{len(adapter_sizes)}."
        )
    shape = block.get_build_config()["input_shape"]
    part = "layer_norm" if adapter_config.after_layer_norm else "dropout"
    wrapper = (
        _FusedLayerNorm if adapter_config.after_layer_norm else _FusedOutput
    )
    fused = {}
    with keras.name_scope(block.name, caller=block):
        for sublayer in adapter_config.sublayers:
            adapters = []
            for index, size in enumerate(adapter_sizes):
                adapter = Adapter(
                    adapter_size=size,
                    activation=adapter_config.activation_fn,
                    scaling=adapter_config.scaling,
                    name=f"{sublayer}_adapter_{index}",
                )
                adapter.build(shape)
                adapters.append(adapter)
            fusion = AdapterFusion(name=f"{sublayer}_fusion", **fusion_args)
            fusion.build(shape)
            inner = encoder_sublayer(block, sublayer, part)
            set_encoder_sublayer(
                block,
                sublayer,
                part,
                wrapper(
                    inner,
                    adapters,
                    fusion,
                    dtype=block.dtype_policy,
                    name=inner.name,
                ),
            )
            fused[sublayer] = (adapters, fusion)
    return fused
