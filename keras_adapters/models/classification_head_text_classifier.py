"""A text classifier with a small MLP head on the first token."""

import keras
from keras_hub.models import TextClassifier

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.classification_head import ClassificationHead


@keras.saving.register_keras_serializable(package="keras_adapters")
class ClassificationHeadTextClassifier(TextClassifier):
    """A keras-hub text classifier whose head is a `ClassificationHead`.

    The backbone (any keras-hub encoder backbone of a supported family) and
    a `keras_adapters.layers.ClassificationHead` on the first token's hidden
    state (or the pooler's output with `use_pooler=True`): by default
    dropout, dense `hidden_dim` with tanh, dropout, dense `num_classes`.
    That is the head of AdapterHub's `add_classification_head` and, with
    `head_activation="gelu"`, Hugging Face's ELECTRA classifier, which
    keras-hub does not have. The adapter classifiers built on it are
    `AdapterHubTextClassifier` and `AdapterElectraTextClassifier`.

    Args:
        backbone: a keras-hub backbone.
        num_classes: int. Number of outputs.
        preprocessor: the family's text classifier preprocessor, or `None`
            for models fed with token ids.
        activation: optional activation of the outputs, e.g. `"softmax"`.
            Defaults to `None` (logits).
        dropout: float. Dropout before each dense layer of the head.
            Defaults to `0.1`.
        head_layers: int. Dense layers of the head (AdapterHub's `layers`).
            Defaults to `2`.
        head_activation: activation of the head's hidden layers (AdapterHub's
            `activation_function`). Defaults to `"tanh"`.
        use_pooler: bool. The head reads the pooler's output instead of the
            first token's hidden state (families with a pooler only).
            Defaults to `False`.
        head_bias: bool. Whether the head's last layer has a bias. Defaults
            to `True`.
        **kwargs: other `keras_hub.models.Task` arguments.

    Example:

    ```python
    classifier = keras_adapters.models.ClassificationHeadTextClassifier(
        keras_hub.models.ElectraBackbone.from_preset(
            "electra_base_discriminator_en"
        ),
        num_classes=2,
        head_activation="gelu",
    )
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        activation=None,
        dropout=0.1,
        head_layers=2,
        head_activation="tanh",
        use_pooler=False,
        head_bias=True,
        **kwargs,
    ):
        if use_pooler and not (
            isinstance(backbone.output, dict)
            and "pooled_output" in backbone.output
        ):
            raise KerasAdaptersError(
                f"A {type(backbone).__name__} has no pooler; drop "
                "`use_pooler` (the head reads the first token)."
            )
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.head = ClassificationHead(
            num_classes,
            num_layers=head_layers,
            hidden_activation=head_activation,
            use_pooler=use_pooler,
            dropout=dropout,
            use_bias=head_bias,
            activation=activation,
            dtype=backbone.dtype_policy,
            name="classification_head",
        )

        # === Functional Model ===
        inputs = backbone.input
        outputs = self.head(backbone(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.activation = self.head.activation
        self.dropout = dropout

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "head_layers": self.head.num_layers,
                "head_activation": keras.activations.serialize(
                    self.head.hidden_activation
                ),
                "use_pooler": self.head.use_pooler,
                "head_bias": self.head.use_bias,
            }
        )
        return config
