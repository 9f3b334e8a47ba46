"""The span head of BERT's SQuAD model: start and end logits per token."""

import keras
from keras import ops

# Logit given to padding positions: they can never start or end an answer.
PADDING_LOGIT = -1e4


@keras.saving.register_keras_serializable(package="keras_adapters")
class SpanHead(keras.layers.Layer):
    """Start and end logits over every token of a sequence output.

    As the original SQuAD model: one dense layer (truncated-normal 0.02
    initializer, zero bias) maps each token's hidden state to a start and
    an end logit. Padding positions get a logit of `-1e4`, so the softmax
    over positions, and thus the loss, does not depend on how far a batch
    is padded. The logits are float32 under any dtype policy.

    Call arguments:
        sequence_output: `[batch, sequence, hidden]`.
        padding_mask: `[batch, sequence]`, 1 (or True) for real tokens.

    Returns:
        `[batch, 2, sequence]` float32: `[:, 0]` start and `[:, 1]` end
        logits. Sparse categorical cross-entropy on it with `[batch, 2]`
        gold positions is the original's loss, the mean of the start and
        end cross-entropies.

    Example:

    ```python
    head = keras_adapters.layers.SpanHead()
    logits = head(backbone(inputs)["sequence_output"], inputs["padding_mask"])
    ```
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(
            2,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=self.dtype_policy,
            name="logits",
        )

    def build(self, sequence_output_shape, padding_mask_shape=None):
        self.dense.build(sequence_output_shape)

    def call(self, sequence_output, padding_mask):
        logits = ops.cast(self.dense(sequence_output), "float32")
        real = ops.expand_dims(ops.cast(padding_mask, "bool"), -1)
        logits = ops.where(real, logits, PADDING_LOGIT)
        return ops.transpose(logits, (0, 2, 1))

    def compute_output_shape(
        self, sequence_output_shape, padding_mask_shape=None
    ):
        batch, length = sequence_output_shape[0], sequence_output_shape[1]
        return (batch, 2, length)

    def compute_output_spec(self, sequence_output, padding_mask):
        return keras.KerasTensor(
            self.compute_output_shape(sequence_output.shape), "float32"
        )
