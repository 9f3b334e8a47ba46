"""Sentence (pair) classification and regression with an adapter DistilBERT."""

import keras
from keras_hub.models import DistilBertTextClassifier
from keras_hub.models import DistilBertTextClassifierPreprocessor

from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.adapter_distil_bert_backbone import (
    AdapterDistilBertBackbone,
)
from keras_adapters.models.head_layout import HeadLayout


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterDistilBertTextClassifier(
    AdapterClassifierTask, DistilBertTextClassifier
):
    """A DistilBERT classifier (or regressor) trained through adapters.

    keras-hub's `DistilBertTextClassifier` head, which is Hugging Face's
    `DistilBertForSequenceClassification` head: the `[CLS]` hidden state, a
    dense layer of `hidden_dim` with ReLU, dropout, and a dense layer
    giving `num_classes` logits. Inputs come from keras-hub's
    `DistilBertTextClassifierPreprocessor` (WordPiece, `[CLS] a [SEP] b
    [SEP]`, no segment ids). The model is put in `tuning_mode` at
    construction, as `AdapterBertTextClassifier`.

    Args:
        backbone: an `AdapterDistilBertBackbone`.
        num_classes: int. Number of classes; must be `1` with
            `regression=True` (its default then).
        regression, tuning_mode, top_k, train_pooler, freeze_below_adapters,
            train_layer_norms: as in `AdapterBertTextClassifier` (no
            pooler: `train_pooler` is refused).
        **kwargs: the other arguments of keras-hub's
            `DistilBertTextClassifier` (`preprocessor`, `activation`,
            `hidden_dim`, `dropout`, keras-hub's default `0.2`).

    Example:

    ```python
    classifier = (
        keras_adapters.models.AdapterDistilBertTextClassifier.from_preset(
            "distil_bert_base_en_uncased", num_classes=2, adapter_size=64
        )
    )
    ```
    """

    backbone_cls = AdapterDistilBertBackbone
    preprocessor_cls = DistilBertTextClassifierPreprocessor
    default_head_layout = HeadLayout.first_token("relu")
