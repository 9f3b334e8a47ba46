"""Per-example task routing: layers that hold a row of parameters per task.

A `MultiTaskClassifier` runs one frozen encoder on batches in which every
example names its task. The layers here hold what differs between tasks,
stacked along a leading task axis (one variable per parameter, a row per
task), and compute each example with its own task's row:
`RoutedAdapter` (a block's adapters, single or fused, where the tasks'
adapter config puts them),
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
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.keras_hub_internals import refresh_call_signature
from keras_adapters.keras_hub_internals import replace_variable
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.layers.adapter_fusion import fusion_attention
from keras_adapters.layers.adapter_transformer_encoder import place_adapter

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


def _expand(per_example, rank):
    """`[batch, ...]` with `rank - 2` axes of size 1 after the batch axis."""
    for _ in range(rank - 2):
        per_example = ops.expand_dims(per_example, 1)
    return per_example


def _per_example(stacked, task_ids, rank):
    """Row `task_ids[b]` of `stacked` for each example `b`, with `rank - 2`
    axes of size 1 after the batch axis (to broadcast over a sequence)."""
    return _expand(ops.take(stacked, task_ids, axis=0), rank)


def _padded(value, shape, fill=0.0):
    """`value` padded at the end of each axis up to `shape` with `fill`, or
    cut down to it."""
    value = np.asarray(value, "float32")
    # A row gains or loses a leading slot axis (`RoutedAdapter`).
    while value.ndim < len(shape):
        value = value[None]
    while value.ndim > len(shape):
        value = value[0]
    if not shape:
        return value
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

    Each task has, at this place of the encoder, no adapter, one adapter,
    or two or more adapters and their AdapterFusion (`keras_adapters.
    layers.AdapterFusion`). Their `Adapter` parameters are stored stacked,
    zero-padded to the widest adapter and the most adapters of a task
    (`[tasks, slots, hidden, m]`, `[tasks, slots, m]`, `[tasks, slots, m,
    hidden]`, `[tasks, slots, hidden]`); the fusion parameters of the
    fusing tasks are stacked apart (`[fusions, hidden, hidden]`,
    `[fusions, hidden]`, `[fusions]` temperatures). Each example is
    computed with its own task's rows:

    - one adapter: `r + scaling * (act(x @ W1 + b1) @ W2 + b2)`, with `r`
      the residual (`x` unless given), as `Adapter`;
    - fused adapters: `r + sum_i p_i u_i Wv`, the attention of
      `AdapterFusion` over their updates `u_i`;
    - no adapter: `r` (zero rows: AdapterDrop, layer_norm mode).

    Zero padding adds `act(0) = 0` units and updates that a fusion's
    attention masks out, so each task computes exactly what its own layers
    do. Float32, like `Adapter`.

    Args:
        adapter_sizes: list, per task, of the widths of its adapters here
            (`[]`: none; `[m]`: one; two or more: fused). An int `m` stands
            for `[m]` (`0` for `[]`). Defaults to no task; `add_task` adds
            them.
        activation: the bottleneck non-linearity, shared by the tasks.
            Defaults to BERT's tanh-approximated GELU.
        scaling: float, the factor on every update (the adapter config's).
            Defaults to `1.0`.
        **kwargs: other `keras.layers.Layer` arguments, e.g. `name`.

    Call arguments:
        inputs: `[batch, ..., hidden]` tensor, what the adapters read.
        residual: optional tensor of the same shape, what the update is
            added to. Defaults to `inputs`.
        task_ids: optional `[batch]` int tensor; defaults to the enclosing
            `task_routing` scope's.

    Returns:
        `residual + update`, float32.

    Example:

    ```python
    adapter = RoutedAdapter(name="self_attention_adapter")
    adapter.build((None, None, 32))
    adapter.add_task(None)  # Task 0: no adapter here.
    adapter.add_task({"down_kernel": w1, "down_bias": b1,
                      "up_kernel": w2, "up_bias": b2})  # Task 1, width 8.
    adapter.add_task([weights_a, weights_b], fusion=fusion_weights)
    y = adapter(x, task_ids=np.array([1, 0]))
    ```
    """

    def __init__(
        self,
        adapter_sizes=(),
        activation=gelu_approximate,
        scaling=1.0,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.adapter_sizes = [_task_sizes(sizes) for sizes in adapter_sizes]
        self.activation = keras.activations.get(activation)
        self.scaling = float(scaling)
        self.supports_masking = True

    @property
    def adapter_size(self):
        """The stacked width: the widest adapter."""
        return max(
            (size for sizes in self.adapter_sizes for size in sizes), default=0
        )

    @property
    def num_slots(self):
        """The stacked adapters per task: the most any task has."""
        return max(map(len, self.adapter_sizes), default=0)

    @property
    def fusing(self):
        """Per task, whether it fuses adapters here."""
        return [len(sizes) > 1 for sizes in self.adapter_sizes]

    def _adapter_shapes(self):
        """Each parameter's shape for one adapter, at the stacked width."""
        hidden, width = self.hidden_dim, self.adapter_size
        return dict(
            zip(
                ADAPTER_PARAMETERS,
                ((hidden, width), (width,), (width, hidden), (hidden,)),
            )
        )

    def _shapes(self):
        """Each parameter's per-task shape; with a fusing task, a leading
        slot axis (one adapter per slot)."""
        slots = (self.num_slots,) if any(self.fusing) else ()
        return {
            name: (*slots, *shape)
            for name, shape in self._adapter_shapes().items()
        }

    def _fusion_shapes(self):
        hidden = self.hidden_dim
        return {
            "query_kernel": (hidden, hidden),
            "query_bias": (hidden,),
            "key_kernel": (hidden, hidden),
            "key_bias": (hidden,),
            "value_kernel": (hidden, hidden),
            "temperature": (),
        }

    def build(self, inputs_shape, residual_shape=None):
        self.hidden_dim = int(inputs_shape[-1])
        counts = {
            "adapters": len(self.adapter_sizes),
            "fusions": sum(self.fusing),
        }
        self._set_rows(
            {
                name: np.zeros((counts[kind], *shape))
                for kind, shapes in (
                    ("adapters", self._shapes()),
                    ("fusions", self._fusion_shapes()),
                )
                for name, shape in shapes.items()
            }
        )
        self.built = True

    def add_task(self, adapters, fusion=None):
        """Adds a last task.

        Args:
            adapters: the task's adapter here, `{name: array}` for the names
                of `ADAPTER_PARAMETERS` (an `Adapter`'s variables); a list
                of two or more such dicts, the adapters it fuses; or `None`
                (or `[]`) for no adapter here.
            fusion: for fused adapters, the `AdapterFusion`'s `{name:
                array}` (`query_kernel`, `query_bias`, `key_kernel`,
                `key_bias`, `value_kernel`) and its `"temperature"`; a
                missing kernel is the identity and a missing bias zero (an
                `AdapterFusion` without that projection). Defaults to
                `None`.

        Raises:
            KerasAdaptersError: fused adapters without `fusion`, or a
                `fusion` for fewer than two adapters.
        """
        if adapters is None:
            adapters = []
        elif isinstance(adapters, dict):
            adapters = [adapters]
        if (len(adapters) > 1) != (fusion is not None):
            raise KerasAdaptersError(
                "`fusion` goes with two or more adapters, and only then; got "
                f"{len(adapters)} adapter(s) and "
                f"{'a' if fusion is not None else 'no'} fusion."
            )
        self.adapter_sizes.append(
            [int(weights["down_bias"].shape[0]) for weights in adapters]
        )
        shapes = self._shapes()
        one = self._adapter_shapes()
        row = {
            name: np.stack(
                [_padded(weights[name], one[name]) for weights in adapters]
            )
            if adapters
            else np.zeros(one[name])
            for name in shapes
        }
        self._restack(shapes, row, dict.fromkeys(shapes, 0.0))
        # Restacked even when unchanged: the variables keep their order.
        shapes = self._fusion_shapes()
        self._restack(
            shapes,
            None if fusion is None else _fusion_row(fusion, self.hidden_dim),
            dict.fromkeys(shapes, 0.0),
        )

    def task_adapters(self, index):
        """Task `index`'s adapters here: a list of `{name: array}` (the
        names of `ADAPTER_PARAMETERS`), each at its own width."""
        rows = {
            name: _padded(self._stacked(name)[index], (self.num_slots, *shape))
            for name, shape in self._adapter_shapes().items()
        }
        return [
            {
                "down_kernel": rows["down_kernel"][slot, :, :size],
                "down_bias": rows["down_bias"][slot, :size],
                "up_kernel": rows["up_kernel"][slot, :size],
                "up_bias": rows["up_bias"][slot],
            }
            for slot, size in enumerate(self.adapter_sizes[index])
        ]

    def remove_task(self, index):
        """Removes task `index`; the others keep their rows."""
        fusion_index = sum(self.fusing[:index]) if self.fusing[index] else None
        del self.adapter_sizes[index]
        shapes = self._shapes()
        self._restack(shapes, None, dict.fromkeys(shapes, 0.0), index)
        shapes = self._fusion_shapes()
        self._restack(shapes, None, dict.fromkeys(shapes, 0.0), fusion_index)

    def call(self, inputs, residual=None, task_ids=None):
        x = ops.cast(inputs, "float32")
        residual = x if residual is None else ops.cast(residual, "float32")
        if self.adapter_size == 0:
            return residual
        task_ids = _routed_task_ids(task_ids)
        rank = len(x.shape)
        if not any(self.fusing):
            # One adapter per task at most: the one-slot matmuls.
            return residual + self._single_update(x, task_ids, rank)
        updates = self._updates(x, task_ids, rank)
        single = residual + updates[..., 0, :]
        fused = residual + self._fuse(x, updates, task_ids, rank)
        is_fused = ops.take(ops.convert_to_tensor(self.fusing), task_ids)
        return ops.where(_expand(is_fused, rank + 1), fused, single)

    def _single_update(self, x, task_ids, rank):
        """`[batch, ..., hidden]`: each example's update by its task's only
        adapter (the variables have no slot axis)."""
        hidden = _per_example_einsum(
            "bnh,bhm->bnm", x, _per_example(self.down_kernel, task_ids, 2)
        )
        hidden = self.activation(
            hidden + _per_example(self.down_bias, task_ids, rank)
        )
        update = _per_example_einsum(
            "bnm,bmh->bnh", hidden, _per_example(self.up_kernel, task_ids, 2)
        ) + _per_example(self.up_bias, task_ids, rank)
        if self.scaling != 1.0:
            update = update * self.scaling
        return update

    def _updates(self, x, task_ids, rank):
        """`[batch, ..., slots, hidden]`: each stacked adapter's update."""
        hidden = _per_example_einsum(
            "bnh,bkhm->bnkm", x, _per_example(self.down_kernel, task_ids, 2)
        )
        hidden = self.activation(
            hidden + _per_example(self.down_bias, task_ids, rank)
        )
        updates = _per_example_einsum(
            "bnkm,bkmh->bnkh",
            hidden,
            _per_example(self.up_kernel, task_ids, 2),
            trailing_axes=2,
        ) + _per_example(self.up_bias, task_ids, rank)
        if self.scaling != 1.0:
            updates = updates * self.scaling
        return updates

    def _fuse(self, x, updates, task_ids, rank):
        """Each example's fusion of its adapters' `updates`, read by `x`."""
        fusion_of_task = np.maximum(np.cumsum(self.fusing) - 1, 0).astype(
            "int32"
        )
        rows = ops.take(ops.convert_to_tensor(fusion_of_task), task_ids)
        query = _per_example_einsum(
            "bnh,bhg->bng", x, _per_example(self.query_kernel, rows, 2)
        ) + _per_example(self.query_bias, rows, rank)
        # The slots join the flattened middle axes: TensorFlow's oneDNN
        # einsum `"b...kh,bhg->b...kg"` corrupts memory on CPU once the
        # sequence is longer than 8 (TF 2.21).
        keys = _per_example_einsum(
            "bnh,bhg->bng", updates, _per_example(self.key_kernel, rows, 2)
        ) + _per_example(self.key_bias, rows, rank + 1)
        values = _per_example_einsum(
            "bnh,bhg->bng", updates, _per_example(self.value_kernel, rows, 2)
        )
        counts = ops.take(
            ops.convert_to_tensor([max(len(s), 1) for s in self.adapter_sizes]),
            task_ids,
        )
        used = ops.arange(self.num_slots)[None, :] < counts[:, None]
        return fusion_attention(
            query,
            keys,
            values,
            temperature=_per_example(self.temperature, rows, rank + 1),
            mask=_expand(used, rank),
        )

    def compute_output_spec(self, inputs, residual=None, task_ids=None):
        return keras.KerasTensor(inputs.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "adapter_sizes": [list(sizes) for sizes in self.adapter_sizes],
                "activation": keras.activations.serialize(self.activation),
                "scaling": self.scaling,
            }
        )
        return config


def _per_example_einsum(equation, x, kernels, trailing_axes=1):
    """`ops.einsum(equation, x, kernels)` with the middle axes of `x` (all
    but the batch axis and the last `trailing_axes`) flattened into the
    `n` of `equation`, and restored in the result.

    TensorFlow's einsum with an ellipsis (`"b...h,bhm->b...m"`) runs twice
    as slow on CPU as the same product written with one middle axis (TF
    2.21, oneDNN).

    Args:
        equation: an einsum of `[batch, n, *trailing]` by each example's
            kernels, e.g. `"bnh,bhm->bnm"`.
        x: `[batch, ..., *trailing]` tensor.
        kernels: `[batch, ...]` tensor, each example's kernels.
        trailing_axes: how many last axes of `x` the equation names after
            `n`.

    Returns:
        `[batch, ..., *outputs]`: `x`'s middle axes, then the axes the
        equation gives after `n`.
    """
    shape = ops.shape(x)
    middle = len(shape) - trailing_axes
    flat = ops.reshape(x, (shape[0], -1, *shape[middle:]))
    outputs = ops.einsum(equation, flat, kernels)
    return ops.reshape(outputs, (*shape[:middle], *ops.shape(outputs)[2:]))


def _task_sizes(sizes):
    """A task's adapter widths as a list (an int `m` is `[m]`, `0` none)."""
    if isinstance(sizes, (int, np.integer)):
        return [int(sizes)] if sizes else []
    return [int(size) for size in sizes]


def _fusion_row(fusion, hidden):
    """A fusion's row: its parameters, the identity (kernels) or zeros
    (biases) for the projections it does not have."""
    row = {"temperature": np.float32(fusion["temperature"])}
    for name in ("query", "key", "value"):
        row[f"{name}_kernel"] = fusion.get(
            f"{name}_kernel", np.eye(hidden, dtype="float32")
        )
        if name != "value":
            row[f"{name}_bias"] = fusion.get(
                f"{name}_bias", np.zeros(hidden, "float32")
            )
    return row


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


def add_task_routing(block, adapter_config=None):
    """Gives a built Transformer block task routing, in place.

    Its two LayerNorms become `RoutedLayerNormalization`s and a
    `RoutedAdapter` goes in each sublayer of `adapter_config`, where the
    config puts its adapters (`place_adapter`); the block's own `call()`
    then runs each example with its task's rows (none yet).

    Args:
        block: a built `AdapterTransformerEncoder` without adapters
            (`adapter_size=0`: a plain block of its encoder).
        adapter_config: the `AdapterConfig` (or its name) of the tasks'
            adapters: their sublayers, position, activation and scaling.
            Defaults to adapter-bert's.

    Returns:
        `{sublayer: RoutedAdapter}`, for the config's sublayers.
    """
    config = AdapterConfig.get(adapter_config)
    adapters = {}
    for layer_norm in block.layer_norms:
        route_layer_norm(layer_norm)
    with keras.name_scope(block.name, caller=block):
        for sublayer in config.sublayers:
            adapter = RoutedAdapter(
                activation=config.activation_fn,
                scaling=config.scaling,
                name=f"{sublayer}_adapter",
            )
            adapter.build(block.get_build_config()["input_shape"])
            place_adapter(block, sublayer, adapter, config.after_layer_norm)
            adapters[sublayer] = adapter
    return adapters
