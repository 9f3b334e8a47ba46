"""A text classifier with AdapterHub's classification head."""

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.classification_head_text_classifier import (
    ClassificationHeadTextClassifier,
)
from keras_adapters.models.head_layout import HeadLayout


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterHubTextClassifier(
    AdapterClassifierTask, ClassificationHeadTextClassifier
):
    """A classifier (or regressor) of any family with AdapterHub's head.

    The model AdapterHub builds with `add_classification_head`: the
    backbone (an adapter backbone of any family, usually with the
    `"houlsby"` or `"pfeiffer"` adapter config) and a `keras_adapters.layers.
    ClassificationHead` on the first token's hidden state (by default
    dropout, dense `hidden_dim` with tanh, dropout, dense `num_classes`;
    see `ClassificationHeadTextClassifier`). Its preprocessor is its
    family's (BERT's, RoBERTa's, ...).
    `keras_adapters.load_adapters` returns one for an AdapterHub folder, and
    `keras_adapters.save_adapters(..., format="adapterhub")` writes one
    back.

    The model is put in `tuning_mode` at construction (`"adapters"` unless
    told otherwise; with AdapterHub's adapter configs only the adapters and
    the head train, as in AdapterHub's `train_adapter`), and the mode is
    part of its config.

    Args:
        backbone: an adapter backbone of any family.
        num_classes: int. Number of classes; must be `1` with
            `regression=True` (its default then).
        preprocessor: the family's text classifier preprocessor, or `None`
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
            first token's hidden state (BERT, ELECTRA). Defaults to `False`.
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

    @classmethod
    def head_layout(cls, config=None):
        return HeadLayout.of_classification_head(config or {}, "tanh")

    def __init__(self, backbone, num_classes=None, labels=None, **kwargs):
        super().__init__(backbone, num_classes, **kwargs)
        if labels is not None:
            labels = [str(label) for label in labels]
            if self.regression or len(labels) != self.num_classes:
                raise KerasAdaptersError(
                    f"`labels` must name each of the {self.num_classes} "
                    f"classes (none for regression); got {labels!r}."
                )
        self.labels = labels

    def get_config(self):
        config = super().get_config()
        config["labels"] = self.labels
        return config
