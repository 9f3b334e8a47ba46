import keras
import numpy as np
import pytest

from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.optimization import WarmupLinearDecay


def original_update(
    params,
    grads,
    state,
    lr,
    names,
    wd=0.01,
    b1=0.9,
    b2=0.999,
    eps=1e-6,
    clip=1.0,
):
    """The TF1 BERT/adapter-bert AdamWeightDecayOptimizer, in NumPy."""
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
    scale = clip / max(norm, clip)
    out = []
    for p, g, (m, v), name in zip(params, grads, state, names):
        g = g * scale
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        update = m / (np.sqrt(v) + eps)
        if not any(key in name for key in ("LayerNorm", "layer_norm", "bias")):
            update = update + wd * p
        out.append(p - lr * update)
    return out


def variable_in_scopes(scopes, name, value):
    if not scopes:
        return keras.Variable(value.astype("float32"), name=name)
    with keras.name_scope(scopes[0]):
        return variable_in_scopes(scopes[1:], name, value)


def test_steps_match_the_original_update_rule():
    rng = np.random.default_rng(0)
    shapes = {
        "dense/kernel": (4, 3),
        "dense/bias": (3,),
        "block/layer_norm/gamma": (3,),
    }
    variables = []
    for name, shape in shapes.items():
        *scopes, leaf = name.split("/")
        variables.append(
            variable_in_scopes(scopes, leaf, rng.normal(size=shape))
        )
    names = [v.path for v in variables]
    assert names == list(shapes)
    optimizer = AdamWeightDecay(
        learning_rate=WarmupLinearDecay(
            0.1, num_train_steps=10, num_warmup_steps=2
        )
    )
    params = [v.numpy().astype(np.float64) for v in variables]
    state = [(np.zeros(p.shape), np.zeros(p.shape)) for p in params]
    for step in range(6):
        # Large gradients on some steps exercise the global-norm clipping.
        grads = [
            rng.normal(scale=3.0 if step % 2 else 0.1, size=p.shape)
            for p in params
        ]
        lr = 0.1 * step / 2 if step < 2 else 0.1 * (1 - step / 10)
        params = original_update(params, grads, state, lr, names)
        optimizer.apply_gradients(
            zip(
                [keras.ops.convert_to_tensor(g, "float32") for g in grads],
                variables,
            )
        )
        for variable, expected in zip(variables, params):
            np.testing.assert_allclose(
                variable.numpy(), expected, atol=1e-6, rtol=0
            )
    assert [optimizer.decays(v) for v in variables] == [True, False, False]


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 0.0),
        (5, 0.5e-3),
        (9, 0.9e-3),
        (10, 0.9e-3),
        (50, 0.5e-3),
        (99, 0.01e-3),
        (100, 0.0),
        (150, 0.0),
    ],
)
def test_schedule_matches_the_original_formula(step, expected):
    schedule = WarmupLinearDecay(1e-3, num_train_steps=100, num_warmup_steps=10)
    assert float(schedule(step)) == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_schedule_without_warmup_and_bad_arguments():
    schedule = WarmupLinearDecay(1e-3, num_train_steps=10, num_warmup_steps=0)
    assert float(schedule(0)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="num_train_steps"):
        WarmupLinearDecay(1e-3, 0, 0)
    with pytest.raises(ValueError, match="num_warmup_steps"):
        WarmupLinearDecay(1e-3, 10, 11)


def test_both_serialize():
    schedule = WarmupLinearDecay(2e-4, 300, 30)
    optimizer = AdamWeightDecay(
        schedule, weight_decay_rate=0.02, exclude_from_weight_decay=("bias",)
    )
    restored = keras.optimizers.deserialize(
        keras.optimizers.serialize(optimizer)
    )
    assert isinstance(restored, AdamWeightDecay)
    assert restored.weight_decay_rate == 0.02
    assert restored.weight_decay_exclusions == ("bias",)
    # Keras' own method of that name is not shadowed.
    assert callable(restored.exclude_from_weight_decay)
    assert restored.global_clipnorm == 1.0 and restored.epsilon == 1e-6
    assert isinstance(restored._learning_rate, WarmupLinearDecay)
    assert restored._learning_rate.get_config() == schedule.get_config()
