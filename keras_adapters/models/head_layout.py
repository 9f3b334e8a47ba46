"""What a text classifier's head computes, as a model serving many of its
tasks needs to know it."""

import dataclasses

import keras


def _activation_name(activation):
    """An activation as its serialized name (`None` for none)."""
    activation = keras.activations.get(activation)
    if activation is keras.activations.linear:
        return None
    return keras.activations.serialize(activation)


@dataclasses.dataclass(frozen=True)
class HeadLayout:
    """The dense layers of a text classifier's head, input to output.

    Each adapter classifier says how its head reads the backbone (the
    pooler's output, or the first token's hidden state) and which dense
    layers follow, by the path of their variables in a saved artifact.
    `keras_adapters.MultiTaskClassifier` builds its per-task heads from it,
    and serves together only the tasks whose heads have the same layout.

    Attributes:
        reads_pooler: bool, whether the head reads the pooler's output
            (BERT's head) rather than the first token's hidden state.
        dense_layers: tuple of `(path, activation)`, one per dense layer:
            the prefix of its variables in an artifact (`"logits"` for
            `logits/kernel` and `logits/bias`) and its activation's
            serialized name (`None` for the last layer's logits).

    Example:

    ```python
    HeadLayout.first_token("tanh")  # RoBERTa's head: dense, tanh, logits.
    ```
    """

    reads_pooler: bool
    dense_layers: tuple

    def __post_init__(self):
        object.__setattr__(
            self,
            "dense_layers",
            tuple(
                (path, _activation_name(activation))
                for path, activation in self.dense_layers
            ),
        )

    @classmethod
    def first_token(cls, hidden_activation):
        """keras-hub's first-token head (RoBERTa, XLM-RoBERTa, DistilBERT):
        `pooled_dense` with `hidden_activation`, then `logits`."""
        return cls(
            reads_pooler=False,
            dense_layers=(
                ("pooled_dense", hidden_activation),
                ("logits", None),
            ),
        )

    @classmethod
    def of_classification_head(cls, config, hidden_activation):
        """The layout of a `ClassificationHeadTextClassifier`'s head from
        its config (`head_layers`, `head_activation`, `use_pooler`; a
        missing one takes its default, `hidden_activation` for the
        activation)."""
        return cls.classification_head(
            num_layers=config.get("head_layers", 2),
            hidden_activation=config.get("head_activation", hidden_activation),
            use_pooler=config.get("use_pooler", False),
        )

    @classmethod
    def classification_head(cls, num_layers, hidden_activation, use_pooler):
        """A `keras_adapters.layers.ClassificationHead` named
        `classification_head` (ELECTRA's, AdapterHub's)."""
        hidden = tuple(
            (f"classification_head/hidden_dense_{index}", hidden_activation)
            for index in range(num_layers - 1)
        )
        return cls(
            reads_pooler=use_pooler,
            dense_layers=hidden + (("classification_head/logits", None),),
        )
