"""Routed layers: each example computed with its own task's row."""

import keras
import numpy as np
import pytest

from keras_adapters import KerasAdaptersError
from keras_adapters.layers import Adapter
from keras_adapters.layers import AdapterFusion
from keras_adapters.layers import RoutedAdapter
from keras_adapters.layers import RoutedDense
from keras_adapters.layers import RoutedLayerNormalization
from keras_adapters.layers import task_routing
from keras_adapters.layers.task_routing import route_layer_norm

HIDDEN = 8
RNG = np.random.default_rng(0)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def random_adapter(size):
    adapter = Adapter(adapter_size=size, init_scale=0.5)
    adapter.build((None, None, HIDDEN))
    for variable in adapter.weights:
        variable.assign(RNG.normal(0, 0.5, variable.shape))
    return adapter


def test_routed_adapter_equals_each_tasks_adapter():
    small, wide = random_adapter(2), random_adapter(4)
    routed = RoutedAdapter()
    routed.build((None, None, HIDDEN))
    for adapter in (small, None, wide):
        routed.add_task(
            None
            if adapter is None
            else {v.name: numpy(v) for v in adapter.weights}
        )
    assert routed.adapter_sizes == [[2], [], [4]]
    assert tuple(routed.down_kernel.shape) == (3, HIDDEN, 4)
    x = RNG.normal(size=(4, 3, HIDDEN)).astype("float32")
    task_ids = np.array([0, 1, 2, 0])
    y = numpy(routed(x, task_ids=task_ids))
    np.testing.assert_allclose(y[0], numpy(small(x[:1]))[0], atol=1e-5)
    np.testing.assert_array_equal(y[1], x[1])  # No adapter: the identity.
    np.testing.assert_allclose(y[2], numpy(wide(x[2:3]))[0], atol=1e-5)
    # The scope routes a layer called without task ids.
    with task_routing(task_ids):
        np.testing.assert_array_equal(numpy(routed(x)), y)
    # Removing the widest task narrows the stack; the others keep theirs.
    routed.remove_task(2)
    assert tuple(routed.down_kernel.shape) == (2, HIDDEN, 2)
    # One variable per parameter: 4 of adapters, 6 of (no) fusions.
    assert len(routed.weights) == 10
    np.testing.assert_allclose(
        numpy(routed(x[:2], task_ids=np.array([0, 1]))), y[:2], atol=1e-6
    )
    # A config and weights round trip.
    clone = RoutedAdapter.from_config(routed.get_config())
    clone.build((None, None, HIDDEN))
    clone.set_weights(routed.get_weights())
    np.testing.assert_array_equal(
        numpy(clone(x[:2], task_ids=np.array([0, 1]))),
        numpy(routed(x[:2], task_ids=np.array([0, 1]))),
    )


def adapter_weights(adapter):
    return {v.name: numpy(v) for v in adapter.weights}


def random_fusion(**kwargs):
    fusion = AdapterFusion(**kwargs)
    fusion.build((None, None, HIDDEN))
    for variable in fusion.weights:
        variable.assign(RNG.normal(0, 0.5, variable.shape))
    return fusion


@pytest.mark.parametrize("scaling", [1.0, 0.5])
def test_routed_fusion_equals_each_tasks_adapter_fusion(scaling):
    """Tasks fusing two or three adapters (one without a key projection,
    one at temperature 2) beside a single adapter and none: each example
    equals its own `AdapterFusion` over its own `Adapter`s, read at `x`
    and added to another residual (AdapterHub's Pfeiffer position)."""
    adapters = [random_adapter(size) for size in (2, 4, 3)]
    for adapter in adapters:
        adapter.scaling = scaling
    two = random_fusion()
    three = random_fusion(key=False, temperature=2.0)
    routed = RoutedAdapter(activation="gelu", scaling=scaling)
    routed.build((None, None, HIDDEN))
    for adapter in adapters:
        adapter.activation = keras.activations.get("gelu")
    routed.add_task(adapter_weights(adapters[0]))
    routed.add_task(
        [adapter_weights(a) for a in adapters[:2]],
        fusion={**adapter_weights(two), "temperature": 1.0},
    )
    routed.add_task(None)
    routed.add_task(
        [adapter_weights(a) for a in adapters],
        fusion={**adapter_weights(three), "temperature": 2.0},
    )
    assert routed.adapter_sizes == [[2], [2, 4], [], [2, 4, 3]]
    # With a fusing task, each task's adapters sit in slots.
    assert tuple(routed.down_kernel.shape) == (4, 3, HIDDEN, 4)
    assert tuple(routed.query_kernel.shape) == (2, HIDDEN, HIDDEN)
    x = RNG.normal(size=(4, 3, HIDDEN)).astype("float32")
    residual = RNG.normal(size=(4, 3, HIDDEN)).astype("float32")
    y = numpy(routed(x, residual=residual, task_ids=np.array([3, 1, 0, 2])))

    def fused(fusion, members, row):
        updates = np.stack(
            [
                numpy(a(x[row : row + 1], residual=np.zeros_like(x[:1])))
                for a in members
            ],
            axis=-2,
        )
        return numpy(fusion(x[row : row + 1], updates, residual[row : row + 1]))

    np.testing.assert_allclose(y[0], fused(three, adapters, 0)[0], atol=1e-5)
    np.testing.assert_allclose(y[1], fused(two, adapters[:2], 1)[0], atol=1e-5)
    np.testing.assert_allclose(
        y[2],
        numpy(adapters[0](x[2:3], residual=residual[2:3]))[0],
        atol=1e-5,
    )
    np.testing.assert_array_equal(y[3], residual[3])
    # Removing a fusing task removes its fusion row; the others keep theirs.
    routed.remove_task(1)
    assert tuple(routed.value_kernel.shape) == (1, HIDDEN, HIDDEN)
    assert tuple(routed.down_kernel.shape) == (3, 3, HIDDEN, 4)
    after = numpy(routed(x, residual=residual, task_ids=np.array([2, 1, 0, 1])))
    np.testing.assert_allclose(after[0], y[0], atol=1e-6)
    np.testing.assert_allclose(after[2], y[2], atol=1e-6)
    np.testing.assert_array_equal(after[3], residual[3])
    with pytest.raises(KerasAdaptersError, match="`fusion` goes with two"):
        routed.add_task([adapter_weights(adapters[0])] * 2)


def test_routed_layer_norm_uses_each_tasks_scale_and_offset():
    layer_norm = keras.layers.LayerNormalization(epsilon=1e-6)
    layer_norm.build((None, None, HIDDEN))
    layer_norm.gamma.assign(RNG.normal(size=HIDDEN))
    pretrained = numpy(layer_norm(np.ones((1, 1, HIDDEN)) * np.arange(HIDDEN)))
    routed = route_layer_norm(layer_norm)
    assert isinstance(routed, RoutedLayerNormalization)
    gamma, beta = RNG.normal(size=(2, HIDDEN))
    routed.add_task()  # The pretrained LayerNorm.
    routed.add_task(gamma=gamma, beta=beta)
    x = RNG.normal(size=(2, 3, HIDDEN)).astype("float32")
    y = numpy(routed(x, task_ids=np.array([1, 0])))
    reference = keras.layers.LayerNormalization(epsilon=1e-6)
    reference.build((None, None, HIDDEN))
    reference.set_weights([gamma, beta])
    np.testing.assert_allclose(y[0], numpy(reference(x[:1]))[0], atol=1e-5)
    reference.set_weights([numpy(routed.gamma), numpy(routed.beta)])
    np.testing.assert_allclose(y[1], numpy(reference(x[1:]))[0], atol=1e-5)
    np.testing.assert_allclose(
        numpy(
            routed(np.ones((1, 1, HIDDEN)) * np.arange(HIDDEN), task_ids=[0])
        ),
        pretrained,
        atol=1e-5,
    )
    config = routed.get_config()
    assert config["num_tasks"] == 2
    clone = RoutedLayerNormalization.from_config(config)
    clone.build((None, None, HIDDEN))
    assert tuple(clone.task_gamma.shape) == (2, HIDDEN)


def routed_dense(task_units, **kwargs):
    """A `RoutedDense` with a task of random weights per width in
    `task_units`; returns it, the kernels and the biases."""
    layer = RoutedDense(**kwargs)
    layer.build((None, HIDDEN))
    kernels = [RNG.normal(size=(HIDDEN, units)) for units in task_units]
    biases = [RNG.normal(size=units) for units in task_units]
    for kernel, bias in zip(kernels, biases):
        layer.add_task(kernel, bias)
    return layer, kernels, biases


def test_routed_dense_pads_narrow_heads_with_minus_infinity():
    head, kernels, biases = routed_dense((2, 3), name="logits")
    x = RNG.normal(size=(2, HIDDEN)).astype("float32")
    logits = numpy(head(x, task_ids=np.array([0, 1])))
    assert logits.shape == (2, 3)
    np.testing.assert_allclose(
        logits[0, :2], x[0] @ kernels[0] + biases[0], rtol=1e-5
    )
    assert logits[0, 2] == -np.inf
    np.testing.assert_allclose(logits[1], x[1] @ kernels[1] + biases[1], 1e-5)
    head.remove_task(1)
    assert head.task_units == [2] and tuple(head.bias.shape) == (1, 2)
    assert RoutedDense.from_config(head.get_config()).task_units == [2]


def test_routed_hidden_dense_applies_its_activation_and_pads_with_zeros():
    """A head's hidden layer: each task's `tanh(x W + b)`, a narrower
    task's padded units zero (not `tanh(-inf)`)."""
    hidden, kernels, biases = routed_dense(
        (3, 4), activation="tanh", name="pooled_dense"
    )
    x = RNG.normal(size=(2, HIDDEN)).astype("float32")
    outputs = numpy(hidden(x, task_ids=np.array([0, 1])))
    np.testing.assert_allclose(
        outputs[0],
        np.append(np.tanh(x[0] @ kernels[0] + biases[0]), 0.0),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        outputs[1], np.tanh(x[1] @ kernels[1] + biases[1]), atol=1e-6
    )
    config = RoutedDense.from_config(hidden.get_config()).get_config()
    assert config["activation"] == "tanh"


def test_routed_layers_need_task_ids():
    head = RoutedDense()
    head.build((None, HIDDEN))
    with pytest.raises(KerasAdaptersError, match="without task ids"):
        head(np.zeros((1, HIDDEN), "float32"))
