"""What one task trains on a shared frozen BERT, and running many at once.

`TaskAdapters` holds one task's own parameters: the two adapters of each
Transformer block, every LayerNorm (adapters mode trains them per task) and
the classification head. The `routed_*` functions run the parameters of
many tasks, stacked along a leading task axis, on one batch in which every
example names its task: each example is computed with its own task's
parameters, in one pass, by gathering them per example.
"""

import keras
from keras import ops

from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers.adapter import Adapter

# The sublayer names of a BERT block that carry per-task parameters.
SELF_ATTENTION_ADAPTER = "self_attention_adapter"
SELF_ATTENTION_LAYER_NORM = "self_attention_layer_norm"
FEEDFORWARD_ADAPTER = "feedforward_adapter"
FEEDFORWARD_LAYER_NORM = "feedforward_layer_norm"


class _BlockParameters(keras.layers.Layer):
    """One block's adapters (or none) and LayerNorms, for one task."""

    def __init__(
        self,
        adapter_size,
        adapter_activation,
        layer_norm_epsilon,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.self_attention_adapter = None
        self.feedforward_adapter = None
        if adapter_size:
            self.self_attention_adapter = Adapter(
                adapter_size,
                activation=adapter_activation,
                name=SELF_ATTENTION_ADAPTER,
            )
            self.feedforward_adapter = Adapter(
                adapter_size,
                activation=adapter_activation,
                name=FEEDFORWARD_ADAPTER,
            )
        self.self_attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype="float32",
            name=SELF_ATTENTION_LAYER_NORM,
        )
        self.feedforward_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype="float32",
            name=FEEDFORWARD_LAYER_NORM,
        )

    def build(self, inputs_shape):
        for layer in self.sublayers:
            layer.build(inputs_shape)
        self.built = True

    @property
    def sublayers(self):
        """The parameter layers of this block, by their name in a block."""
        return [
            layer
            for layer in (
                self.self_attention_adapter,
                self.self_attention_layer_norm,
                self.feedforward_adapter,
                self.feedforward_layer_norm,
            )
            if layer is not None
        ]


@keras.saving.register_keras_serializable(package="keras_adapters")
class TaskAdapters(keras.layers.Layer):
    """One task's own parameters over a frozen BERT encoder.

    For every Transformer block: its two `Adapter`s (only in the blocks
    listed in `adapter_blocks`) and its two LayerNormalizations; the
    embeddings LayerNormalization; and the head, a dense layer from the
    pooled output to `num_classes` outputs. These are exactly the variables
    an adapters-mode `AdapterBertTextClassifier` trains, so a trained task's
    values load here by their path in that classifier (`weights_by_path`).
    All of them are float32. The layer holds parameters only: the
    `routed_*` functions of this module compute with them.

    Args:
        num_layers: int. Number of Transformer blocks.
        hidden_dim: int. Width of the encoder.
        num_classes: int. Outputs of the head (`1` for regression).
        adapter_size: int. Bottleneck width, `0` for no adapters.
        adapter_blocks: optional list of the block indices with adapters.
            Defaults to every block.
        adapter_activation: the adapters' non-linearity. Defaults to
            tanh-approximated GELU.
        layer_norm_epsilon: float. The LayerNorms' epsilon. Defaults to
            `1e-12`, BERT's.
        block_names: optional list of the blocks' layer names in the BERT
            backbone, for `weights_by_path`. Defaults to keras-hub's
            `transformer_layer_{i}`.
        **kwargs: other `keras.layers.Layer` arguments, e.g. `name`.

    Example:

    ```python
    task = keras_adapters.layers.TaskAdapters(
        num_layers=2, hidden_dim=32, num_classes=3, adapter_size=8
    )
    task.build()
    sorted(task.weights_by_path())[:2]
    # ['embeddings_layer_norm/beta', 'embeddings_layer_norm/gamma']
    ```
    """

    def __init__(
        self,
        num_layers,
        hidden_dim,
        num_classes,
        adapter_size,
        adapter_blocks=None,
        adapter_activation=gelu_approximate,
        layer_norm_epsilon=1e-12,
        block_names=None,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.num_layers = int(num_layers)
        self.hidden_dim = int(hidden_dim)
        self.num_classes = int(num_classes)
        self.adapter_size = int(adapter_size)
        if adapter_blocks is None:
            adapter_blocks = range(self.num_layers)
        self.adapter_blocks = sorted(int(i) for i in adapter_blocks)
        self.adapter_activation = keras.activations.get(adapter_activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        if block_names is None:
            block_names = [f"transformer_layer_{i}" for i in range(num_layers)]
        self.block_names = list(block_names)
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype="float32",
            name="embeddings_layer_norm",
        )
        self.blocks = [
            _BlockParameters(
                adapter_size if i in self.adapter_blocks else 0,
                self.adapter_activation,
                layer_norm_epsilon,
                dtype="float32",
                name=name,
            )
            for i, name in enumerate(self.block_names)
        ]
        self.head = keras.layers.Dense(
            self.num_classes, dtype="float32", name="logits"
        )

    def build(self, inputs_shape=None):
        shape = (None, None, self.hidden_dim)
        self.embeddings_layer_norm.build(shape)
        for block in self.blocks:
            block.build(shape)
        self.head.build((None, self.hidden_dim))
        self.built = True

    def weights_by_path(self):
        """This task's variables by their path in a single-task classifier.

        Returns:
            A dict from paths such as `"embeddings_layer_norm/gamma"`,
            `"transformer_layer_0/self_attention_adapter/down_kernel"` and
            `"logits/kernel"` (an adapters-mode artifact's keys) to the
            variables of this layer.
        """
        layers = {"embeddings_layer_norm": self.embeddings_layer_norm}
        layers["logits"] = self.head
        for block in self.blocks:
            for layer in block.sublayers:
                layers[f"{block.name}/{layer.name}"] = layer
        return {
            f"{prefix}/{variable.name}": variable
            for prefix, layer in layers.items()
            for variable in layer.weights
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "hidden_dim": self.hidden_dim,
                "num_classes": self.num_classes,
                "adapter_size": self.adapter_size,
                "adapter_blocks": self.adapter_blocks,
                "adapter_activation": keras.activations.serialize(
                    self.adapter_activation
                ),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "block_names": self.block_names,
            }
        )
        return config


def _per_example(stacked, task_ids):
    """Row `task_ids[b]` of a `[tasks, ...]` tensor for each example `b`."""
    return ops.take(stacked, task_ids, axis=0)


def routed_layer_norm(x, task_ids, gammas, betas, epsilon):
    """LayerNorm of each example with its own task's scale and offset.

    Args:
        x: `[batch, sequence, hidden]` tensor.
        task_ids: `[batch]` int tensor, each example's task index.
        gammas: `[tasks, hidden]` scales.
        betas: `[tasks, hidden]` offsets.
        epsilon: float added to the variance.

    Returns:
        The normalized `x`, float32.
    """
    normalized = ops.layer_normalization(
        ops.cast(x, "float32"), axis=-1, epsilon=epsilon
    )
    gamma = _per_example(gammas, task_ids)[:, None, :]
    beta = _per_example(betas, task_ids)[:, None, :]
    return normalized * gamma + beta


def routed_adapter(x, task_ids, kernels, activation):
    """Each example through its own task's adapter (with the skip path).

    Args:
        x: `[batch, sequence, hidden]` tensor.
        task_ids: `[batch]` int tensor, each example's task index.
        kernels: `(down_kernels, down_biases, up_kernels, up_biases)`,
            stacked over tasks: `[tasks, hidden, m]`, `[tasks, m]`,
            `[tasks, m, hidden]`, `[tasks, hidden]`. A task without an
            adapter here has zeros, which is exactly the identity.
        activation: the bottleneck non-linearity.

    Returns:
        `x + adapter(x)`, float32.
    """
    down_kernels, down_biases, up_kernels, up_biases = kernels
    x = ops.cast(x, "float32")
    hidden = ops.einsum("bsh,bhm->bsm", x, _per_example(down_kernels, task_ids))
    hidden = activation(
        hidden + _per_example(down_biases, task_ids)[:, None, :]
    )
    update = ops.einsum(
        "bsm,bmh->bsh", hidden, _per_example(up_kernels, task_ids)
    )
    return x + update + _per_example(up_biases, task_ids)[:, None, :]


def routed_dense(x, task_ids, kernels, biases):
    """Each example's `[hidden]` vector through its own task's dense layer.

    Args:
        x: `[batch, hidden]` tensor.
        task_ids: `[batch]` int tensor, each example's task index.
        kernels: `[tasks, hidden, units]` kernels.
        biases: `[tasks, units]` biases.

    Returns:
        `[batch, units]` float32 outputs.
    """
    outputs = ops.einsum(
        "bh,bhu->bu", ops.cast(x, "float32"), _per_example(kernels, task_ids)
    )
    return outputs + _per_example(biases, task_ids)
