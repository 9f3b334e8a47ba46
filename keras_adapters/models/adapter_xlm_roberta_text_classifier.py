"""Sentence (pair) classification and regression with an adapter XLM-R."""

import keras
from keras_hub.models import XLMRobertaTextClassifier
from keras_hub.models import XLMRobertaTextClassifierPreprocessor

from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.adapter_xlm_roberta_backbone import (
    AdapterXLMRobertaBackbone,
)
from keras_adapters.models.head_layout import HeadLayout


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterXLMRobertaTextClassifier(
    AdapterClassifierTask, XLMRobertaTextClassifier
):
    """An XLM-RoBERTa classifier (or regressor) trained through adapters.

    keras-hub's `XLMRobertaTextClassifier` head (RoBERTa's: first token,
    dropout, dense with tanh, dropout, dense to `num_classes`), on inputs of
    keras-hub's `XLMRobertaTextClassifierPreprocessor` (SentencePiece
    tokens, `<s> a </s></s> b </s>`, no segment ids). The model is put in
    `tuning_mode` at construction, as `AdapterBertTextClassifier`.

    Args:
        backbone: an `AdapterXLMRobertaBackbone`.
        num_classes: int. Number of classes; must be `1` with
            `regression=True` (its default then).
        regression, tuning_mode, top_k, train_pooler, freeze_below_adapters,
            train_layer_norms: as in `AdapterBertTextClassifier` (no
            pooler: `train_pooler` is refused).
        **kwargs: the other arguments of keras-hub's
            `XLMRobertaTextClassifier` (`preprocessor`, `activation`,
            `hidden_dim`, `dropout`).

    Example:

    ```python
    classifier = (
        keras_adapters.models.AdapterXLMRobertaTextClassifier.from_preset(
            "xlm_roberta_base_multi", num_classes=3, adapter_size=64
        )
    )
    ```
    """

    backbone_cls = AdapterXLMRobertaBackbone
    preprocessor_cls = XLMRobertaTextClassifierPreprocessor
    default_head_layout = HeadLayout.first_token("tanh")
