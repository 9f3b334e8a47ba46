"""The optimizer and learning-rate schedule of the original BERT/adapter-bert.

`keras.optimizers.AdamW` applies bias correction and puts epsilon inside a
bias-corrected denominator, so it is a different optimizer; these classes
reproduce the original update for parity with the paper's numbers.
"""

import re

import keras
from keras import ops

from keras_adapters.errors import KerasAdaptersError

DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdamWeightDecay(keras.optimizers.Optimizer):
    """Adam with decoupled weight decay and no bias correction (BERT's).

    For each trained variable `p` with gradient `g`:

    ```
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    update = m / (sqrt(v) + epsilon) + weight_decay_rate * p  # unless excluded
    p = p - learning_rate * update
    ```

    Gradients are first clipped to a global norm of `global_clipnorm` over
    the trained variables only (the ones the optimizer receives).

    Args:
        learning_rate: float or a `LearningRateSchedule` such as
            `WarmupLinearDecay`.
        weight_decay_rate: float. Decoupled weight decay. Defaults to `0.01`.
        beta_1: float. Defaults to `0.9`.
        beta_2: float. Defaults to `0.999`.
        epsilon: float, added outside the square root. Defaults to `1e-6`.
        exclude_from_weight_decay: regular expressions; variables whose path
            (e.g. `transformer_layer_0/self_attention_layer_norm/gamma`)
            matches any of them get no decay. Defaults to
            `("LayerNorm", "layer_norm", "bias")`.
        global_clipnorm: float or `None`. Defaults to `1.0`.
        name: string. Defaults to `"adam_weight_decay"`.
        **kwargs: other `keras.optimizers.Optimizer` arguments.

    Example:

    ```python
    schedule = keras_adapters.optimization.WarmupLinearDecay(
        initial_learning_rate=3e-4, num_train_steps=1000, num_warmup_steps=100
    )
    classifier.compile(
        optimizer=keras_adapters.optimization.AdamWeightDecay(schedule)
    )
    ```
    """

    def __init__(
        self,
        learning_rate=1e-3,
        weight_decay_rate=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
        global_clipnorm=1.0,
        name="adam_weight_decay",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        self.weight_decay_rate = float(weight_decay_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        # Not `exclude_from_weight_decay`: that name is a method of
        # `keras.optimizers.Optimizer`, which this attribute would shadow.
        self.weight_decay_exclusions = tuple(exclude_from_weight_decay or ())

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        # Decided once, on the Keras variables: under a distribution
        # strategy `update_step` may receive the backend's own variables.
        self._decay_flags = [self.decays(variable) for variable in var_list]

    def decays(self, variable):
        """Whether `variable` receives weight decay."""
        if not self.weight_decay_rate:
            return False
        return not any(
            re.search(pattern, variable.path)
            for pattern in self.weight_decay_exclusions
        )

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign(
            m,
            ops.add(ops.multiply(m, self.beta_1), (1 - self.beta_1) * gradient),
        )
        self.assign(
            v,
            ops.add(
                ops.multiply(v, self.beta_2),
                (1 - self.beta_2) * ops.square(gradient),
            ),
        )
        update = ops.divide(m, ops.add(ops.sqrt(v), self.epsilon))
        if self._decay_flags[index]:
            update = ops.add(update, self.weight_decay_rate * variable)
        self.assign_sub(variable, ops.multiply(lr, update))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weight_decay_rate": self.weight_decay_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "exclude_from_weight_decay": list(self.weight_decay_exclusions),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_adapters")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then linear decay to 0 counted from step 0 (BERT's).

    ```
    W = num_warmup_steps, N = num_train_steps
    lr(step) = initial_learning_rate * step / W          if step < W
    lr(step) = initial_learning_rate * (1 - min(step, N) / N)   otherwise
    ```

    Because the decay counts from step 0, the rate drops to
    `(1 - num_warmup_steps / N)` of its peak (0.9x with the default 10 %
    warmup) when warmup ends, exactly as in the original `optimization.py`.

    Args:
        initial_learning_rate: float. The peak learning rate.
        num_train_steps: int. Total number of training steps `N`.
        num_warmup_steps: int. Warmup steps; `0` disables warmup.

    Example:

    ```python
    num_train_steps = int(8551 / 32 * 3)
    schedule = keras_adapters.optimization.WarmupLinearDecay(
        1e-3, num_train_steps, int(0.1 * num_train_steps)
    )
    ```
    """

    def __init__(
        self, initial_learning_rate, num_train_steps, num_warmup_steps
    ):
        if int(num_train_steps) <= 0:
            raise KerasAdaptersError(
                f"`num_train_steps` must be positive, got {num_train_steps}."
            )
        if not 0 <= int(num_warmup_steps) <= int(num_train_steps):
            raise KerasAdaptersError(
                "`num_warmup_steps` must be between 0 and num_train_steps "
                f"({num_train_steps}), got {num_warmup_steps}."
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.initial_learning_rate
        done = ops.minimum(step, float(self.num_train_steps))
        decayed = peak * (1.0 - done / float(self.num_train_steps))
        if self.num_warmup_steps == 0:
            return decayed
        warmup = peak * step / float(self.num_warmup_steps)
        return ops.where(step < self.num_warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
        }
