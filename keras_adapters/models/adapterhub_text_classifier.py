"""A BERT text classifier with AdapterHub's classification head."""

import keras
from keras_hub.models import TextClassifier

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.classification_head import ClassificationHead
from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterHubTextClassifier(AdapterClassifierTask, TextClassifier):
    """A BERT classifier (or regressor) with AdapterHub's head.

    The model AdapterHub builds with `add_classification_head`: the
    backbone (an `AdapterBertBackbone`, usually with the `"houlsby"` or
    `"pfeiffer"` adapter config) and a `keras_adapters.layers.
    ClassificationHead` on the [CLS] hidden state (by default dropout,
    dense `hidden_dim` with tanh, dropout, dense `num_classes`).
    `keras_adapters.load_adapters` returns one for an AdapterHub folder, and
    `keras_adapters.save_adapters(..., format="adapterhub")` writes one
    back.

    The model is put in `tuning_mode` at construction (`"adapters"` unless
    told otherwise; with AdapterHub's adapter configs only the adapters and
    the head train, as in AdapterHub's `train_adapter`), and the mode is
    part of its config.

    Args:
        backbone: an `AdapterBertBackbone`.
        num_classes: int. Number of classes; must be `1` with
            `regression=True` (its default then).
        preprocessor: an `AdapterBertTextClassifierPreprocessor`, or `None`
            for models fed with token ids.
        activation: optional activation of the outputs, e.g. `"softmax"`.
            Defaults to `None` (logits).
        dropout: float. Dropout before each dense layer of the head.
            Defaults to `0.1`.
        regression: bool. One real-valued output (mean squared error).
            Defaults to `False`.
        head_layers: int. Dense layers of the head (AdapterHub's `layers`).
            Defaults to `2`.
        head_activation: activation of the head's hidden layers (AdapterHub's
            `activation_function`). Defaults to `"tanh"`.
        use_pooler: bool. The head reads the pooler's output instead of the
            [CLS] hidden state. Defaults to `False`.
        head_bias: bool. Whether the head's last layer has a bias. Defaults
            to `True`.
        labels: optional list of the class names in class-id order
            (AdapterHub's `label2id`), kept with the model for
            `export_saved_model(..., labels=model.labels)` and written back
            by `save_adapters(..., format="adapterhub")`.
        tuning_mode, top_k, train_pooler, freeze_below_adapters,
            train_layer_norms: the tuning mode (see
            `keras_adapters.set_tuning_mode`); `train_layer_norms=None`
            follows the backbone's adapter config.

    Example:

    ```python
    classifier = keras_adapters.models.AdapterHubTextClassifier.from_preset(
        "bert_base_en_uncased", num_classes=2, adapter_config="houlsby"
    )
    classifier.fit(x=["a fine film", "a dull film"], y=[1, 0], batch_size=2)
    keras_adapters.save_adapters(classifier, "sst2", format="adapterhub")
    ```
    """

    # keras-hub's `keras_hub.models.TextClassifier.from_preset` picks the
    # one task class whose `backbone_cls` is the preset's: for adapter
    # presets, `AdapterBertTextClassifier`. This class loads its own presets
    # with `from_preset` (see `AdapterTask.from_preset`).
    backbone_cls = None

    def __init__(
        self,
        backbone,
        num_classes=None,
        preprocessor=None,
        activation=None,
        dropout=0.1,
        regression=False,
        head_layers=2,
        head_activation="tanh",
        use_pooler=False,
        head_bias=True,
        labels=None,
        tuning_mode="adapters",
        top_k=None,
        train_pooler=False,
        freeze_below_adapters=False,
        train_layer_norms=None,
        **kwargs,
    ):
        num_classes = self._init_classifier(
            backbone,
            num_classes,
            regression,
            tuning_mode,
            top_k,
            train_pooler,
            freeze_below_adapters,
            train_layer_norms,
        )
        if labels is not None:
            labels = [str(label) for label in labels]
            if regression or len(labels) != num_classes:
                raise KerasAdaptersError(
                    f"`labels` must name each of the {num_classes} classes "
                    f"(none for regression); got {labels!r}."
                )
        self.labels = labels
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
        inputs = backbone.input
        outputs = self.head(backbone(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.num_classes = num_classes
        self.activation = self.head.activation
        self.dropout = dropout
        self._apply_tuning()

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
                "labels": self.labels,
            }
        )
        return config
