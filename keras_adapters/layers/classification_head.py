"""AdapterHub's classification head: a small MLP on BERT's [CLS] vector."""

import numbers

import keras

from keras_adapters.errors import KerasAdaptersError


@keras.saving.register_keras_serializable(package="keras_adapters")
class ClassificationHead(keras.layers.Layer):
    """A classification head of `num_layers` dense layers on [CLS].

    The head of AdapterHub's `add_classification_head` (and of Hugging
    Face's RoBERTa classifier): it reads the hidden state of the first
    token, `sequence_output[:, 0]` (or the pooler's output with
    `use_pooler=True`), then each layer is dropout and a dense layer; all
    but the last are `hidden_dim` wide with `hidden_activation`, the last
    gives `num_classes` outputs. AdapterHub's default, `num_layers=2`, is
    `dropout -> dense(hidden_dim, tanh) -> dropout -> dense(num_classes)`.

    Kernels start normal with standard deviation 0.02 and biases at zero,
    as Hugging Face initializes a new head.

    Args:
        num_classes: int. Outputs of the last layer (`1` for a regression
            score).
        num_layers: int. Dense layers, at least 1. Defaults to `2`.
        hidden_activation: activation of the layers before the last, or
            `None`. Defaults to `"tanh"`.
        use_pooler: bool. Read the pooler's output instead of the [CLS]
            hidden state. Defaults to `False`.
        dropout: float. Dropout rate before every dense layer. Defaults to
            `0.1`.
        use_bias: bool. Whether the last layer has a bias (the others
            always do). Defaults to `True`.
        activation: activation of the outputs, e.g. `"softmax"`. Defaults to
            `None` (logits).
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: the backbone's outputs: a dict with `sequence_output`
            (`[batch, seq, hidden_dim]`) and `pooled_output` (BERT,
            ELECTRA), or the sequence output itself (RoBERTa, XLM-RoBERTa,
            DistilBERT, which have no pooler).
        training: whether dropout is active.

    Returns:
        `[batch, num_classes]` outputs.

    Example:

    ```python
    head = keras_adapters.layers.ClassificationHead(num_classes=3)
    logits = head(backbone(features))  # [batch, 3]
    ```
    """

    def __init__(
        self,
        num_classes,
        num_layers=2,
        hidden_activation="tanh",
        use_pooler=False,
        dropout=0.1,
        use_bias=True,
        activation=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for key, value in (
            ("num_classes", num_classes),
            ("num_layers", num_layers),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Integral)
                or value < 1
            ):
                raise KerasAdaptersError(
                    f"`{key}` must be an integer >= 1, got {value!r}."
                )
        self.num_classes = int(num_classes)
        self.num_layers = int(num_layers)
        self.hidden_activation = keras.activations.get(hidden_activation)
        self.use_pooler = bool(use_pooler)
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)

    def build(self, inputs_shape):
        hidden_dim = _sequence_output(inputs_shape)[-1]
        self.dropout_layers = []
        self.dense_layers = []
        shape = (None, hidden_dim)
        for index in range(self.num_layers):
            last = index == self.num_layers - 1
            self.dropout_layers.append(
                keras.layers.Dropout(
                    self.dropout,
                    dtype=self.dtype_policy,
                    name=f"dropout_{index}",
                )
            )
            dense = keras.layers.Dense(
                self.num_classes if last else hidden_dim,
                activation=self.activation if last else self.hidden_activation,
                use_bias=self.use_bias or not last,
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                dtype=self.dtype_policy,
                name="logits" if last else f"hidden_dense_{index}",
            )
            dense.build(shape)
            self.dense_layers.append(dense)
        self.built = True

    def call(self, inputs, training=None):
        if self.use_pooler:
            x = inputs["pooled_output"]
        else:
            x = _sequence_output(inputs)[:, 0, :]
        for dropout, dense in zip(self.dropout_layers, self.dense_layers):
            x = dense(dropout(x, training=training))
        return x

    def compute_output_spec(self, inputs, training=None):
        batch = _sequence_output(inputs).shape[0]
        return keras.KerasTensor(
            (batch, self.num_classes), dtype=self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "num_layers": self.num_layers,
                "hidden_activation": keras.activations.serialize(
                    self.hidden_activation
                ),
                "use_pooler": self.use_pooler,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config


def _sequence_output(outputs):
    """The sequence output (or its shape) among a backbone's outputs."""
    return outputs["sequence_output"] if isinstance(outputs, dict) else outputs
