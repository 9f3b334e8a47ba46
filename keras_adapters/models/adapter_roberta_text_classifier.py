"""Sentence (pair) classification and regression with an adapter RoBERTa."""

import keras
from keras_hub.models import RobertaTextClassifier
from keras_hub.models import RobertaTextClassifierPreprocessor

from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.adapter_roberta_backbone import (
    AdapterRobertaBackbone,
)
from keras_adapters.models.head_layout import HeadLayout


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterRobertaTextClassifier(
    AdapterClassifierTask, RobertaTextClassifier
):
    """A RoBERTa classifier (or regressor) trained through adapters.

    keras-hub's `RobertaTextClassifier` head, which is Hugging Face's
    `RobertaClassificationHead`: the first token's (`<s>`) hidden state,
    dropout, a dense layer of `hidden_dim` with tanh, dropout, and a dense
    layer giving `num_classes` logits (one score with `regression=True`).
    Inputs come from keras-hub's `RobertaTextClassifierPreprocessor`
    (byte-pair tokens, `<s> a </s></s> b </s>`, no segment ids). The model
    is put in `tuning_mode` at construction, as `AdapterBertTextClassifier`.

    Args:
        backbone: an `AdapterRobertaBackbone`.
        num_classes: int. Number of classes; must be `1` with
            `regression=True` (its default then).
        regression, tuning_mode, top_k, train_pooler, freeze_below_adapters,
            train_layer_norms: as in `AdapterBertTextClassifier` (RoBERTa
            has no pooler: `train_pooler` is refused; the head always
            trains).
        **kwargs: the other arguments of keras-hub's `RobertaTextClassifier`:
            `preprocessor`, `activation`, `hidden_dim`, `dropout` (keras-hub's
            default, `0.0`).

    Example:

    ```python
    classifier = (
        keras_adapters.models.AdapterRobertaTextClassifier.from_preset(
            "roberta_base_en", num_classes=2, adapter_size=64
        )
    )
    classifier.fit(x=["a fine film", "a dull film"], y=[1, 0], batch_size=2)
    ```
    """

    backbone_cls = AdapterRobertaBackbone
    preprocessor_cls = RobertaTextClassifierPreprocessor
    default_head_layout = HeadLayout.first_token("tanh")
