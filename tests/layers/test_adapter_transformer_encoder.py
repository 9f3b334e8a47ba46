import keras
import numpy as np
import pytest
from keras_hub.layers import TransformerEncoder

from keras_adapters.layers import Adapter
from keras_adapters.layers import AdapterTransformerEncoder
from keras_adapters.layers.adapter_transformer_encoder import add_adapters
from tests.conftest import transfer_weights

KWARGS = dict(intermediate_dim=32, num_heads=2, dropout=0.0, activation="gelu")


def build(layer, x, mask):
    layer(x, padding_mask=mask)
    return layer


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 6, 16)).astype("float32")
    mask = np.ones((2, 6), "int32")
    mask[1, 4:] = 0
    return x, mask


@pytest.mark.parametrize("normalize_first", [False, True])
def test_keeps_every_parent_path_and_adds_only_adapters(normalize_first):
    x, mask = inputs()
    plain = build(
        TransformerEncoder(
            **KWARGS, normalize_first=normalize_first, name="blk"
        ),
        x,
        mask,
    )
    adapted = build(
        AdapterTransformerEncoder(
            **KWARGS,
            normalize_first=normalize_first,
            adapter_size=4,
            name="blk",
        ),
        x,
        mask,
    )
    plain_paths = {v.path for v in plain.weights}
    adapted_paths = {v.path for v in adapted.weights}
    assert plain_paths < adapted_paths
    assert sorted(adapted_paths - plain_paths) == sorted(
        f"blk/{where}_adapter/{name}"
        for where in ("self_attention", "feedforward")
        for name in ("down_kernel", "down_bias", "up_kernel", "up_bias")
    )


@pytest.mark.parametrize("normalize_first", [False, True])
def test_zero_size_and_zeroed_up_projection_compute_the_parent(normalize_first):
    x, mask = inputs()
    plain = build(
        TransformerEncoder(
            **KWARGS, normalize_first=normalize_first, name="blk"
        ),
        x,
        mask,
    )
    expected = keras.ops.convert_to_numpy(plain(x, padding_mask=mask))
    for size in (0, 4):
        adapted = build(
            AdapterTransformerEncoder(
                **KWARGS,
                normalize_first=normalize_first,
                adapter_size=size,
                name="blk",
            ),
            x,
            mask,
        )
        transfer_weights(
            plain, adapted, allow_unfilled=lambda p: "_adapter/" in p
        )
        for adapter in adapted.adapters:
            adapter.up_kernel.assign(np.zeros(adapter.up_kernel.shape))
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(adapted(x, padding_mask=mask)), expected
        )


def manual_block(layer, x, mask, normalize_first):
    """SPEC section 2 written out with the layer's own sublayers."""
    attention_mask = (mask[:, None, :] * np.ones((1, mask.shape[1], 1))).astype(
        bool
    )

    def attend(h):
        return layer._self_attention_layer(
            query=h, value=h, attention_mask=attention_mask
        )

    ln1, ln2 = layer._self_attention_layer_norm, layer._feedforward_layer_norm

    def ffn(h):
        return layer._feedforward_output_dense(
            layer._feedforward_intermediate_dense(h)
        )

    a1, a2 = layer._self_attention_adapter, layer._feedforward_adapter
    x = keras.ops.convert_to_tensor(x)
    if normalize_first:
        x = x + a1(attend(ln1(x)))
        return x + a2(ffn(ln2(x)))
    x = ln1(x + a1(attend(x)))
    return ln2(x + a2(ffn(x)))


@pytest.mark.parametrize("normalize_first", [False, True])
def test_adapters_sit_after_the_projection_and_before_the_residual(
    normalize_first,
):
    x, mask = inputs(1)
    layer = build(
        AdapterTransformerEncoder(
            **KWARGS,
            normalize_first=normalize_first,
            adapter_size=4,
            adapter_init_scale=0.5,
        ),
        x,
        mask,
    )
    expected = keras.ops.convert_to_numpy(
        manual_block(layer, x, mask, normalize_first)
    )
    got = keras.ops.convert_to_numpy(layer(x, padding_mask=mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # The adapters matter at this scale: the block differs from its parent.
    assert isinstance(layer.adapters[0], Adapter) and len(layer.adapters) == 2
    for adapter in layer.adapters:
        adapter.up_kernel.assign(np.zeros(adapter.up_kernel.shape))
    plain = keras.ops.convert_to_numpy(layer(x, padding_mask=mask))
    assert np.abs(plain - got).max() > 1e-2


def test_config_round_trip():
    layer = AdapterTransformerEncoder(
        **KWARGS, adapter_size=5, adapter_init_scale=0.01, normalize_first=True
    )
    config = layer.get_config()
    assert config["adapter_config"]["adapter_size"] == 5
    assert config["adapter_config"]["init_scale"] == 0.01
    assert config["normalize_first"] is True
    restored = AdapterTransformerEncoder.from_config(config)
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert (
        serialized["registered_name"]
        == "keras_adapters>AdapterTransformerEncoder"
    )


def test_negative_adapter_size_is_a_clear_error():
    with pytest.raises(ValueError, match="adapter_size"):
        AdapterTransformerEncoder(**KWARGS, adapter_size=-1)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_mixed_precision_adds_the_adapter_output_in_the_compute_dtype(
    normalize_first,
):
    x, mask = inputs(1)
    kwargs = dict(
        **KWARGS,
        normalize_first=normalize_first,
        adapter_size=4,
        adapter_init_scale=0.5,
        name="blk",
    )
    layer = build(
        AdapterTransformerEncoder(**kwargs, dtype="mixed_float16"), x, mask
    )
    twin = build(AdapterTransformerEncoder(**kwargs), x, mask)
    transfer_weights(layer, twin)
    got = layer(x, padding_mask=mask)
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    assert all(
        v.dtype == "float32"
        for adapter in layer.adapters
        for v in adapter.weights
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got).astype("float32"),
        keras.ops.convert_to_numpy(twin(x, padding_mask=mask)),
        atol=2e-2,
    )


@pytest.mark.parametrize("normalize_first", [False, True])
def test_add_adapters_makes_a_built_block_the_adapter_block(normalize_first):
    x, mask = inputs()
    kwargs = dict(**KWARGS, normalize_first=normalize_first, name="blk")
    expected = build(
        AdapterTransformerEncoder(
            **kwargs, adapter_size=4, adapter_init_scale=0.5
        ),
        x,
        mask,
    )
    block = build(TransformerEncoder(**kwargs), x, mask)
    assert add_adapters(block, adapter_size=4, adapter_init_scale=0.5) is block
    assert type(block) is AdapterTransformerEncoder
    assert block.get_config() == expected.get_config()
    assert [v.path for v in block.weights] == [v.path for v in expected.weights]
    transfer_weights(expected, block)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(block(x, padding_mask=mask)),
        keras.ops.convert_to_numpy(expected(x, padding_mask=mask)),
    )


def test_add_adapters_rejects_what_it_cannot_convert():
    with pytest.raises(
        ValueError, match="built keras_hub.layers.TransformerEncoder"
    ):
        add_adapters(TransformerEncoder(**KWARGS))
    with pytest.raises(ValueError, match="got AdapterTransformerEncoder"):
        add_adapters(build(AdapterTransformerEncoder(**KWARGS), *inputs()))
    block = build(TransformerEncoder(**KWARGS), *inputs())
    with pytest.raises(ValueError, match="adapter_size"):
        add_adapters(block, adapter_size=-1)
    assert type(block) is TransformerEncoder
    assert not hasattr(block, "adapter_size")


def numpy_update(adapter, x, activation):
    """An adapter's update `up(act(down(x)))` in NumPy."""
    w1, b1, w2, b2 = (np.asarray(w.numpy(), "float64") for w in adapter.weights)
    return activation(np.asarray(x, "float64") @ w1 + b1) @ w2 + b2


def sublayer_outputs(layer, x, mask):
    """The block's own sublayers, as callables of NumPy arrays."""
    attention_mask = (mask[:, None, :] * np.ones((1, mask.shape[1], 1))).astype(
        bool
    )

    def attend(h):
        return keras.ops.convert_to_numpy(
            layer._self_attention_layer(
                query=h, value=h, attention_mask=attention_mask
            )
        )

    def ffn(h):
        return keras.ops.convert_to_numpy(
            layer._feedforward_output_dense(
                layer._feedforward_intermediate_dense(h)
            )
        )

    ln1, ln2 = (
        lambda h, norm=norm: keras.ops.convert_to_numpy(
            norm(np.asarray(h, "float32"))
        )
        for norm in layer.layer_norms
    )
    return attend, ffn, ln1, ln2


def relu(x):
    return np.maximum(x, 0)


def swish(x):
    return x / (1 + np.exp(-x))


def test_houlsby_is_adapterhubs_double_seq_bn():
    """AdapterHub's `original_ln_before=False, residual_before_ln=True`:
    LN(x + h + up(swish(down(h)))) after each sublayer."""
    x, mask = inputs(2)
    layer = build(
        AdapterTransformerEncoder(
            **KWARGS, adapter_config="houlsby", adapter_init_scale=0.5
        ),
        x,
        mask,
    )
    assert layer.adapter_size == 1  # 16 // 16, AdapterHub's width.
    attend, ffn, ln1, ln2 = sublayer_outputs(layer, x, mask)
    a1, a2 = layer.adapters
    h = attend(x)
    x1 = ln1(x + h + numpy_update(a1, h, swish))
    f = ffn(x1)
    expected = ln2(x1 + f + numpy_update(a2, f, swish))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x, padding_mask=mask)),
        expected,
        rtol=1e-4,
        atol=1e-4,
    )


def test_pfeiffer_is_adapterhubs_seq_bn():
    """AdapterHub's `original_ln_before=True, residual_before_ln=True`: the
    feedforward adapter reads LN(x + f), its update joins x + f, and the
    same LayerNorm runs again; the attention sublayer is plain."""
    x, mask = inputs(3)
    layer = build(
        AdapterTransformerEncoder(
            **KWARGS,
            adapter_config="pfeiffer",
            adapter_size=8,
            adapter_init_scale=0.5,
            name="blk",
        ),
        x,
        mask,
    )
    assert list(layer.sublayer_adapters) == ["feedforward"]
    assert sorted(v.path for v in layer.weights if "_adapter/" in v.path) == [
        f"blk/feedforward_adapter/{name}"
        for name in ("down_bias", "down_kernel", "up_bias", "up_kernel")
    ]
    attend, ffn, ln1, ln2 = sublayer_outputs(layer, x, mask)
    x1 = ln1(x + attend(x))
    f = ffn(x1)
    update = numpy_update(layer.adapters[0], ln2(x1 + f), relu)
    expected = ln2(f + update + x1)
    got = keras.ops.convert_to_numpy(layer(x, padding_mask=mask))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(got - ln2(x1 + f)).max() > 1e-2  # The adapter matters.


def test_pfeiffer_needs_a_post_ln_block():
    with pytest.raises(ValueError, match="normalize_first=False"):
        AdapterTransformerEncoder(
            **KWARGS, adapter_config="pfeiffer", normalize_first=True
        )
