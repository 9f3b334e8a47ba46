"""Per-example task routing: layers that hold a row of parameters per task.

A `MultiTaskClassifier` runs one frozen encoder on batches in which every
example names its task. The layers here hold what differs between tasks,
stacked along a leading task axis (one variable per parameter, a row per
task), and compute each example with its own task's row:
`RoutedAdapter` (a block's adapter, where adapter-bert puts it),
`RoutedLayerNormalization` (every LayerNorm) and `RoutedDense` (the heads).
They sit in the backbone's own blocks (`add_task_routing`), so the
backbone's own forward pass runs; each example's task index reaches them
through `task_routing()`, a scope the model opens around the backbone
call. The rows change only when a task is added or removed.
"""

import contextlib
import threading

import keras
import numpy as np
from keras import ops

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import adding_state
from keras_adapters.keras_hub_internals import encoder_sublayer
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.keras_hub_internals import refresh_call_signature
from keras_adapters.keras_hub_internals import replace_variable
from keras_adapters.keras_hub_internals import set_encoder_sublayer
from keras_adapters.layers.adapter_transformer_encoder import _AdaptedOutput

# The sublayers of a Transformer block that end with an adapter.
SUBLAYERS = ("self_attention", "feedforward")
# The parameters of an adapter, by their variable name in `Adapter`.
ADAPTER_PARAMETERS = ("down_kernel", "down_bias", "up_kernel", "up_bias")

_ROUTING = threading.local()


@contextlib.contextmanager
def task_routing(task_ids):
    """Routes each example through its own task in the routed layers.

    The routed layers called inside the scope (directly, or by a backbone's
    forward pass) read each example's task from `task_ids` unless they are
    given `task_ids` themselves. Scopes nest; each thread has its own.

    Args:
        task_ids: `[batch]` int tensor, each example's task index.

    Example:

    ```python
    with task_routing(features["task_ids"]):
        outputs = backbone(features)
    ```
    """
    previous = getattr(_ROUTING, "task_ids", None)
    _ROUTING.task_ids = ops.cast(task_ids, "int32")
    try:
        yield
    finally:
        _ROUTING.task_ids = previous


def _routed_task_ids(task_ids):
    """`task_ids`, else those of the enclosing `task_routing` scope."""
    if task_ids is None:
        task_ids = getattr(_ROUTING, "task_ids", None)
    if task_ids is None:
        raise KerasAdaptersError(
            "A routed layer was called without task ids; pass `task_ids=` or "
            "call it inside `task_routing(task_ids)`."
        )
    return ops.cast(task_ids, "int32")


def _per_example(stacked, task_ids, rank):
    """Row `task_ids[b]` of `stacked` for each example `b`, with `rank - 2`
    axes of size 1 after the batch axis (to broadcast over a sequence)."""
    rows = ops.take(stacked, task_ids, axis=0)
    for _ in range(rank - 2):
        rows = ops.expand_dims(rows, 1)
    return rows


def _padded(value, shape, fill=0.0):
    """`value` padded at the end of each axis up to `shape` with `fill`, or
    cut down to it."""
    value = np.asarray(value, "float32")
    value = value[tuple(slice(0, size) for size in shape)]
    return np.pad(
        value,
        [(0, size - now) for size, now in zip(shape, value.shape)],
        constant_values=fill,
    )


class _TaskRows:
    """Stacked task parameters of a layer: one variable per parameter, a
    row per task, replaced whole when a task is added or removed."""

    def _stacked(self, name):
        return keras.ops.convert_to_numpy(getattr(self, name))

    def _set_rows(self, values):
        """Replaces the stacked variables by `{name: [tasks, ...] array}`."""
        with adding_state(self):
            for name, value in values.items():
                variable = self.add_weight(
                    name=name,
                    shape=value.shape,
                    initializer="zeros",
                    dtype="float32",
                    trainable=False,
                )
                variable.assign(value)
                replace_variable(self, name, variable)

    def _restack(self, shapes, rows, fills, index=None):
        """Every stacked parameter at its new per-task `shapes`, with a new
        last row (`rows`: `{name: array}`), or without row `index`.

        Args:
            shapes: `{name: shape of one task's row}` after the change.
            rows: the new task's row of each parameter, or `None`.
            fills: `{name: padding value}`.
            index: the row to remove, or `None`.
        """
        values = {}
        for name, shape in shapes.items():
            old = [
                _padded(row, shape, fills[name]) for row in self._stacked(name)
            ]
            if index is not None:
                del old[index]
            if rows is not None:
                old.append(_padded(rows[name], shape, fills[name]))
            values[name] = np.stack(old) if old else np.zeros((0, *shape))
        self._set_rows(values)


@keras.saving.register_keras_serializable(package="keras_adapters")
class RoutedAdapter(_TaskRows, keras.layers.Layer):
    """Bottleneck adapters of many tasks, each example through its own.

    Holds the `Adapter` parameters of every task stacked, zero-padded to the
    widest task (`[tasks, hidden, m]`, `[tasks, m]`, `[tasks, m, hidden]`,
    `[tasks, hidden]`), and computes `x + act(x @ W1 + b1) @ W2 + b2` with
    each example's own task's row. A task without an adapter here has zeros
    (AdapterDrop, layer_norm mode), and zero padding adds `act(0) = 0`
    units: both compute exactly the identity. Float32, like `Adapter`.

    Args:
        adapter_sizes: list of ints, each task's adapter width (`0`: no
            adapter). Defaults to no task; `add_task` adds them.
        activation: the bottleneck non-linearity, shared by the tasks.
            Defaults to BERT's tanh-approximated GELU.
        **kwargs: other `keras.layers.Layer` arguments, e.g. `name`.

    Call arguments:
        inputs: `[batch, ..., hidden]` tensor.
        task_ids: optional `[batch]` int tensor; defaults to the enclosing
            `task_routing` scope's.

    Returns:
        `inputs + update`, float32.

    Example:

    ```python
    adapter = RoutedAdapter(name="self_attention_adapter")
    adapter.build((None, None, 32))
    adapter.add_task(None)  # Task 0: no adapter here.
    adapter.add_task({"down_kernel": w1, "down_bias": b1,
                      "up_kernel": w2, "up_bias": b2})  # Task 1, width 8.
    y = adapter(x, task_ids=np.array([1, 0]))
    ```
    """

    def __init__(self, adapter_sizes=(), activation=gelu_approximate, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.adapter_sizes = [int(size) for size in adapter_sizes]
        self.activation = keras.activations.get(activation)
        self.supports_masking = True

    @property
    def adapter_size(self):
        """The stacked width: the widest task's adapter."""
        return max(self.adapter_sizes, default=0)

    def _shapes(self):
        hidden, width = self.hidden_dim, self.adapter_size
        return dict(
            zip(
                ADAPTER_PARAMETERS,
                ((hidden, width), (width,), (width, hidden), (hidden,)),
            )
        )

    def build(self, inputs_shape):
        self.hidden_dim = int(inputs_shape[-1])
        shapes = self._shapes()
        self._set_rows(
            {
                name: np.zeros((len(self.adapter_sizes), *shape))
                for name, shape in shapes.items()
            }
        )
        self.built = True

    def add_task(self, weights):
        """Adds a last task.

        Args:
            weights: the task's adapter, `{name: array}` for the names of
                `ADAPTER_PARAMETERS` (an `Adapter`'s variables), or `None`
                for a task without an adapter here.
        """
        size = 0 if weights is None else int(weights["down_bias"].shape[0])
        self.adapter_sizes.append(size)
        shapes = self._shapes()
        if weights is None:
            weights = {name: np.zeros(shape) for name, shape in shapes.items()}
        self._restack(shapes, weights, dict.fromkeys(shapes, 0.0))

    def remove_task(self, index):
        """Removes task `index`; the others keep their rows."""
        del self.adapter_sizes[index]
        shapes = self._shapes()
        self._restack(shapes, None, dict.fromkeys(shapes, 0.0), index)

    def call(self, inputs, task_ids=None):
        x = ops.cast(inputs, "float32")
        if self.adapter_size == 0:
            return x
        task_ids = _routed_task_ids(task_ids)
        rank = len(x.shape)
        hidden = ops.einsum(
            "b...h,bhm->b...m", x, _per_example(self.down_kernel, task_ids, 2)
        )
        hidden = self.activation(
            hidden + _per_example(self.down_bias, task_ids, rank)
        )
        update = ops.einsum(
            "b...m,bmh->b...h",
            hidden,
            _per_example(self.up_kernel, task_ids, 2),
        )
        return x + update + _per_example(self.up_bias, task_ids, rank)

    def compute_output_spec(self, inputs, task_ids=None):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "adapter_sizes": list(self.adapter_sizes),
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_adapters")
class RoutedLayerNormalization(_TaskRows, keras.layers.LayerNormalization):
    """A LayerNormalization with a scale and offset row per task.

    Normalizes each example and applies its own task's `task_gamma` and
    `task_beta` (`[tasks, hidden]`). Its own `gamma` and `beta` stay those
    of the pretrained LayerNorm it was made from (`route_layer_norm`): the
    row of a task that left the LayerNorms frozen.

    Args:
        num_tasks: int, the number of task rows. Defaults to `0`;
            `add_task` adds them.
        **kwargs: the arguments of `keras.layers.LayerNormalization`
            (normalizing over the last axis, with a scale and an offset).

    Call arguments:
        inputs: `[batch, ..., hidden]` tensor.
        task_ids: optional `[batch]` int tensor; defaults to the enclosing
            `task_routing` scope's.

    Returns:
        The normalized inputs, float32.

    Example:

    ```python
    layer_norm = RoutedLayerNormalization(epsilon=1e-12)
    layer_norm.build((None, None, 32))
    layer_norm.add_task()  # The pretrained scale and offset.
    layer_norm.add_task(gamma=g, beta=b)
    y = layer_norm(x, task_ids=np.array([1, 0]))
    ```
    """

    def __init__(self, num_tasks=0, **kwargs):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)

    def build(self, inputs_shape):
        super().build(inputs_shape)
        self._add_rows()

    def _add_rows(self):
        self._set_rows(
            {
                f"task_{name}": np.repeat(
                    self._stacked(name)[None], self.num_tasks, axis=0
                )
                for name in ("gamma", "beta")
            }
        )

    def add_task(self, gamma=None, beta=None):
        """Adds a last task with scale `gamma` and offset `beta` (`[hidden]`
        arrays; `None`: the pretrained one)."""
        rows = {
            "task_gamma": self._stacked("gamma") if gamma is None else gamma,
            "task_beta": self._stacked("beta") if beta is None else beta,
        }
        self.num_tasks += 1
        shapes = {name: value.shape for name, value in rows.items()}
        self._restack(shapes, rows, dict.fromkeys(rows, 0.0))

    def remove_task(self, index):
        """Removes task `index`; the others keep their rows."""
        self.num_tasks -= 1
        shapes = {
            name: self.gamma.shape for name in ("task_gamma", "task_beta")
        }
        self._restack(shapes, None, dict.fromkeys(shapes, 0.0), index)

    def call(self, inputs, task_ids=None):
        task_ids = _routed_task_ids(task_ids)
        x = ops.layer_normalization(
            ops.cast(inputs, "float32"), axis=-1, epsilon=self.epsilon
        )
        rank = len(x.shape)
        return x * _per_example(self.task_gamma, task_ids, rank) + _per_example(
            self.task_beta, task_ids, rank
        )

    def get_config(self):
        config = super().get_config()
        config["num_tasks"] = self.num_tasks
        return config


@keras.saving.register_keras_serializable(package="keras_adapters")
class RoutedDense(_TaskRows, keras.layers.Layer):
    """Dense layers of many tasks (their heads), each example through its own.

    Holds every task's kernel and bias stacked, padded to the widest task
    (`[tasks, input_dim, units]`, `[tasks, units]`). A task's padded
    outputs have a zero kernel and a `-inf` bias: they are `-inf`, so a
    softmax over a row gives that task's own probabilities. With an
    `activation` (a head's hidden layer) their bias is zero instead, and
    they are `activation(0)`: zero for tanh, ReLU and GELU.

    Args:
        task_units: list of ints, each task's number of outputs. Defaults
            to no task; `add_task` adds them.
        activation: optional activation of the outputs, shared by the
            tasks. Defaults to `None` (logits).
        **kwargs: other `keras.layers.Layer` arguments, e.g. `name`.

    Call arguments:
        inputs: `[batch, input_dim]` tensor.
        task_ids: optional `[batch]` int tensor; defaults to the enclosing
            `task_routing` scope's.

    Returns:
        `[batch, max(task_units)]` float32 outputs.

    Example:

    ```python
    head = RoutedDense(name="logits")
    head.build((None, 32))
    head.add_task(kernel_2, bias_2)  # Two classes.
    head.add_task(kernel_3, bias_3)  # Three.
    logits = head(pooled, task_ids=np.array([0, 1]))  # [2, 3]
    ```
    """

    def __init__(self, task_units=(), activation=None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.task_units = [int(units) for units in task_units]
        self.activation = keras.activations.get(activation)

    @property
    def _fills(self):
        """The padding of each parameter."""
        logits = self.activation is keras.activations.linear
        return {"kernel": 0.0, "bias": -np.inf if logits else 0.0}

    @property
    def units(self):
        """The stacked width: the widest task's outputs."""
        return max(self.task_units, default=0)

    def _shapes(self):
        return {
            "kernel": (self.input_dim, self.units),
            "bias": (self.units,),
        }

    def build(self, inputs_shape):
        self.input_dim = int(inputs_shape[-1])
        count = len(self.task_units)
        self._set_rows(
            {
                "kernel": np.zeros((count, self.input_dim, self.units)),
                "bias": np.zeros((count, self.units)),
            }
        )
        self.built = True

    def add_task(self, kernel, bias):
        """Adds a last task: `kernel` `[input_dim, units]`, `bias`
        `[units]`."""
        self.task_units.append(int(bias.shape[0]))
        rows = {"kernel": kernel, "bias": bias}
        self._restack(self._shapes(), rows, self._fills)

    def remove_task(self, index):
        """Removes task `index`; the others keep their rows."""
        del self.task_units[index]
        self._restack(self._shapes(), None, self._fills, index)

    def call(self, inputs, task_ids=None):
        task_ids = _routed_task_ids(task_ids)
        outputs = ops.einsum(
            "bh,bhu->bu",
            ops.cast(inputs, "float32"),
            _per_example(self.kernel, task_ids, 2),
        )
        return self.activation(outputs + _per_example(self.bias, task_ids, 2))

    def compute_output_spec(self, inputs, task_ids=None):
        return keras.KerasTensor((inputs.shape[0], self.units), "float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "task_units": list(self.task_units),
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config


def route_layer_norm(layer_norm):
    """Turns a built LayerNormalization into a `RoutedLayerNormalization`
    with no task, in place (its variables and its place in a model stay).

    Args:
        layer_norm: a built `keras.layers.LayerNormalization` over the last
            axis, with scale and offset.

    Returns:
        `layer_norm`, now a `RoutedLayerNormalization`.
    """
    if type(layer_norm) is not keras.layers.LayerNormalization or not (
        layer_norm.built and layer_norm.center and layer_norm.scale
    ):
        raise KerasAdaptersError(
            "`route_layer_norm` takes a built keras.layers.LayerNormalization "
            f"with scale and offset, got {type(layer_norm).__name__}."
        )
    layer_norm.__class__ = RoutedLayerNormalization
    refresh_call_signature(layer_norm)
    layer_norm.num_tasks = 0
    with keras.name_scope(layer_norm.name, caller=layer_norm):
        layer_norm._add_rows()
    return layer_norm


def add_task_routing(block, activation=gelu_approximate):
    """Gives a built Transformer block task routing, in place.

    Its two LayerNorms become `RoutedLayerNormalization`s and a
    `RoutedAdapter` follows the dropout that ends each sublayer, where
    `AdapterTransformerEncoder` puts its adapters; the block's own `call()`
    then runs each example with its task's rows (none yet).

    Args:
        block: a built `AdapterTransformerEncoder` without adapters
            (`adapter_size=0`: a plain block of its encoder).
        activation: the adapters' non-linearity.

    Returns:
        `{sublayer: RoutedAdapter}`, for `"self_attention"` and
        `"feedforward"`.
    """
    adapters = {}
    for layer_norm in block.layer_norms:
        route_layer_norm(layer_norm)
    with keras.name_scope(block.name, caller=block):
        for sublayer in SUBLAYERS:
            dropout = encoder_sublayer(block, sublayer, "dropout")
            adapter = RoutedAdapter(
                activation=activation, name=f"{sublayer}_adapter"
            )
            adapter.build(block.get_build_config()["input_shape"])
            set_encoder_sublayer(
                block,
                sublayer,
                "dropout",
                _AdaptedOutput(
                    dropout,
                    adapter,
                    dtype=block.dtype_policy,
                    name=dropout.name,
                ),
            )
            adapters[sublayer] = adapter
    return adapters
