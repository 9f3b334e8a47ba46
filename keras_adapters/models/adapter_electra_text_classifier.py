"""Sentence (pair) classification and regression with an adapter ELECTRA."""

import keras

from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.adapter_electra_backbone import (
    AdapterElectraBackbone,
)
from keras_adapters.models.adapter_electra_text_classifier_preprocessor import (
    AdapterElectraTextClassifierPreprocessor,
)
from keras_adapters.models.classification_head_text_classifier import (
    ClassificationHeadTextClassifier,
)
from keras_adapters.models.head_layout import HeadLayout


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterElectraTextClassifier(
    AdapterClassifierTask, ClassificationHeadTextClassifier
):
    """An ELECTRA classifier (or regressor) trained through adapters.

    The head of Hugging Face's `ElectraForSequenceClassification`, which
    keras-hub does not have: the first token's (`[CLS]`) hidden state,
    dropout, a dense layer of `hidden_dim` with the exact GELU, dropout,
    and a dense layer giving `num_classes` logits (one score with
    `regression=True`). ELECTRA's pooler (zero in a converted Hugging Face
    checkpoint) is not used. Inputs come from
    `AdapterElectraTextClassifierPreprocessor` (WordPiece, segment ids).

    Args:
        backbone: an `AdapterElectraBackbone`.
        num_classes: int. Number of classes; must be `1` with
            `regression=True` (its default then).
        head_activation: activation of the head's hidden layer. Defaults to
            `"gelu"`, Hugging Face's.
        regression, tuning_mode, top_k, train_pooler, freeze_below_adapters,
            train_layer_norms: as in `AdapterBertTextClassifier`.
        **kwargs: the other arguments of `ClassificationHeadTextClassifier`
            (`preprocessor`, `activation`, `dropout`, ...).

    Example:

    ```python
    classifier = (
        keras_adapters.models.AdapterElectraTextClassifier.from_preset(
            "electra_base_discriminator_en", num_classes=2, adapter_size=64
        )
    )
    classifier.fit(x=["a fine film", "a dull film"], y=[1, 0], batch_size=2)
    ```
    """

    backbone_cls = AdapterElectraBackbone
    preprocessor_cls = AdapterElectraTextClassifierPreprocessor

    @classmethod
    def head_layout(cls, config=None):
        return HeadLayout.of_classification_head(config or {}, "gelu")

    def __init__(
        self, backbone, num_classes=None, head_activation="gelu", **kwargs
    ):
        super().__init__(
            backbone, num_classes, head_activation=head_activation, **kwargs
        )
