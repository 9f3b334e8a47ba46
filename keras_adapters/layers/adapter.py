"""The bottleneck adapter module of Houlsby et al. (2019)."""

import keras
from keras import ops

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers.adapter_config import INITIALIZERS


@keras.saving.register_keras_serializable(package="keras_adapters")
class Adapter(keras.layers.Layer):
    """A bottleneck adapter with an identity skip connection.

    Computes `x + scaling * (act(x @ W1 + b1) @ W2 + b2)` with `W1: [d, m]`
    and `W2: [m, d]`, as in "Parameter-Efficient Transfer Learning for NLP"
    (Houlsby et al., 2019) and google-research/adapter-bert. Both kernels are
    drawn from a normal distribution with standard deviation `init_scale`
    (truncated at two standard deviations by default), and both biases start
    at zero, so a fresh adapter is close to the identity. Called with
    `residual=r`, it adds its update to `r` instead of `x` (AdapterHub's
    Pfeiffer position: the adapter reads the normalized sum, the update
    joins the sum itself).

    The adapter always keeps its variables and its arithmetic in float32,
    whatever the dtype policy of the model around it: under `mixed_float16`
    or `mixed_bfloat16` the initial contribution of a fresh adapter (about
    `1e-4` of the input) would otherwise be rounded away in the residual
    sum. Its output is float32; `AdapterTransformerEncoder` casts it to the
    block's compute dtype, the dtype of the residual it is added to.

    Args:
        adapter_size: int. The bottleneck width `m`. Defaults to `64`.
        init_scale: float. Standard deviation of the truncated normal
            initializer of both kernels. Defaults to `1e-3`, the value of
            the released code.
        activation: string or callable. The bottleneck non-linearity.
            Defaults to BERT's tanh-approximated GELU.
        initializer: `"truncated_normal"` (cut at two standard deviations,
            adapter-bert) or `"normal"` (AdapterHub's "bert" init). Defaults
            to `"truncated_normal"`.
        scaling: float. Factor on the update. Defaults to `1.0`.
        **kwargs: other keyword arguments of `keras.layers.Layer`, e.g.
            `name`. A `dtype` argument is accepted and replaced by float32.

    Example:

    ```python
    adapter = keras_adapters.layers.Adapter(adapter_size=8)
    x = np.random.normal(size=(2, 5, 32)).astype("float32")
    y = adapter(x)  # Same shape as `x`, and very close to it.
    ```
    """

    def __init__(
        self,
        adapter_size=64,
        init_scale=1e-3,
        activation=gelu_approximate,
        initializer="truncated_normal",
        scaling=1.0,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if int(adapter_size) <= 0:
            raise KerasAdaptersError(
                f"`adapter_size` must be a positive integer, got "
                f"{adapter_size}. Use no adapter layer for a plain model."
            )
        if float(init_scale) < 0:
            raise KerasAdaptersError(
                f"`init_scale` must be >= 0, got {init_scale}."
            )
        if initializer not in INITIALIZERS:
            raise KerasAdaptersError(
                f"`initializer` must be one of {', '.join(INITIALIZERS)}, "
                f"got {initializer!r}."
            )
        self.adapter_size = int(adapter_size)
        self.init_scale = float(init_scale)
        self.activation = keras.activations.get(activation)
        self.initializer = initializer
        self.scaling = float(scaling)
        self.supports_masking = True

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        self.down_kernel = self.add_weight(
            name="down_kernel",
            shape=(hidden_dim, self.adapter_size),
            initializer=self._kernel_initializer(),
        )
        self.down_bias = self.add_weight(
            name="down_bias", shape=(self.adapter_size,), initializer="zeros"
        )
        self.up_kernel = self.add_weight(
            name="up_kernel",
            shape=(self.adapter_size, hidden_dim),
            initializer=self._kernel_initializer(),
        )
        self.up_bias = self.add_weight(
            name="up_bias", shape=(hidden_dim,), initializer="zeros"
        )
        self.built = True

    def _kernel_initializer(self):
        if self.initializer == "normal":
            return keras.initializers.RandomNormal(stddev=self.init_scale)
        return keras.initializers.TruncatedNormal(stddev=self.init_scale)

    def call(self, inputs, residual=None):
        x = ops.cast(inputs, "float32")
        hidden = self.activation(
            ops.add(ops.matmul(x, self.down_kernel), self.down_bias)
        )
        update = ops.add(ops.matmul(hidden, self.up_kernel), self.up_bias)
        if self.scaling != 1.0:
            update = ops.multiply(update, self.scaling)
        skip = x if residual is None else ops.cast(residual, "float32")
        return ops.add(skip, update)

    def compute_output_spec(self, inputs, residual=None):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "adapter_size": self.adapter_size,
                "init_scale": self.init_scale,
                "activation": keras.activations.serialize(self.activation),
                "initializer": self.initializer,
                "scaling": self.scaling,
            }
        )
        return config
