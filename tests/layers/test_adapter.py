import keras
import numpy as np
import pytest

from keras_adapters.layers import Adapter


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def reference(x, w1, b1, w2, b2):
    """SPEC section 1, in NumPy."""
    return x + gelu_tanh(x @ w1 + b1) @ w2 + b2


def test_output_matches_numpy_reference_for_random_weights():
    rng = np.random.default_rng(0)
    adapter = Adapter(adapter_size=8)
    x = rng.normal(size=(2, 5, 16)).astype("float32")
    adapter.build(x.shape)
    weights = [
        rng.normal(size=(16, 8)),
        rng.normal(size=(8,)),
        rng.normal(size=(8, 16)),
        rng.normal(size=(16,)),
    ]
    weights = [w.astype("float32") for w in weights]
    adapter.set_weights(weights)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(adapter(x)),
        reference(x, *weights),
        rtol=1e-5,
        atol=1e-5,
    )


def test_initialization_statistics_and_parameter_count():
    d, m = 768, 256
    adapter = Adapter(adapter_size=m)
    adapter.build((None, d))
    assert adapter.count_params() == 2 * m * d + m + d
    for kernel in (adapter.down_kernel, adapter.up_kernel):
        values = kernel.numpy()
        # A normal truncated at 2 stddev has std 0.880 * stddev.
        assert 0.86e-3 < values.std() < 0.90e-3
        assert abs(values.mean()) < 2e-5
        # Keras' torch backend keeps an untruncated draw when four draws in
        # a row fall outside 2 stddev: 0.0455**4, about 4e-6 of the values.
        untruncated = 1e-4 if keras.backend.backend() == "torch" else 0
        assert np.mean(np.abs(values) > 2e-3) <= untruncated
    assert not adapter.down_bias.numpy().any()
    assert not adapter.up_bias.numpy().any()


def test_fresh_adapter_is_near_identity():
    x = np.random.default_rng(1).normal(size=(4, 7, 64)).astype("float32")
    y = keras.ops.convert_to_numpy(Adapter(adapter_size=64)(x))
    delta = np.abs(y - x).max()
    assert 0 < delta < 1e-3


def test_config_round_trip_and_registered_name():
    adapter = Adapter(
        adapter_size=3, init_scale=0.02, activation="relu", name="a"
    )
    config = adapter.get_config()
    assert config["adapter_size"] == 3 and config["init_scale"] == 0.02
    restored = Adapter.from_config(config)
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(adapter)
    assert serialized["registered_name"] == "keras_adapters>Adapter"
    again = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(again, Adapter) and again.adapter_size == 3


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_and_the_small_update(policy):
    x = np.random.default_rng(2).normal(size=(2, 3, 32)).astype("float16")
    adapter = Adapter(adapter_size=8, dtype=policy)
    y = adapter(keras.ops.convert_to_tensor(x, policy.split("_")[1]))
    assert all(v.dtype == "float32" for v in adapter.weights)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    x32 = keras.ops.convert_to_numpy(
        keras.ops.cast(
            keras.ops.convert_to_tensor(x, policy.split("_")[1]), "float32"
        )
    )
    expected = reference(x32, *[w.numpy() for w in adapter.weights]) - x32
    got = keras.ops.convert_to_numpy(y) - x32
    assert np.abs(expected).max() > 0
    # float32 rounding of (x + delta) - x is at most ~1e-7 here; in float16
    # the whole update (~1e-5) would be rounded away.
    np.testing.assert_allclose(got, expected, rtol=1e-2, atol=3e-7)


def test_invalid_adapter_size_is_a_clear_error():
    with pytest.raises(ValueError, match="adapter_size"):
        Adapter(adapter_size=0)


def test_normal_initializer_scaling_and_residual():
    """AdapterHub's "bert" init (normal, not truncated) and its update
    `residual + scaling * up(act(down(x)))`."""
    rng = np.random.default_rng(1)
    adapter = Adapter(
        adapter_size=256,
        init_scale=0.02,
        activation="relu",
        initializer="normal",
        scaling=0.5,
    )
    x = rng.normal(size=(2, 3, 768)).astype("float32")
    adapter.build(x.shape)
    kernel = adapter.down_kernel.numpy()
    assert abs(kernel.std() - 0.02) < 1e-3
    assert np.abs(kernel).max() > 3 * 0.02  # Not cut at two deviations.
    residual = rng.normal(size=x.shape).astype("float32")
    w1, b1, w2, b2 = (w.numpy() for w in adapter.weights)
    update = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(adapter(x, residual=residual)),
        residual + 0.5 * update,
        rtol=1e-5,
        atol=1e-5,
    )
    config = adapter.get_config()
    assert (config["initializer"], config["scaling"]) == ("normal", 0.5)
    assert Adapter.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="initializer"):
        Adapter(initializer="uniform")
