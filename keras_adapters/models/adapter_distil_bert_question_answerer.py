"""Extractive question answering (SQuAD) with an adapter DistilBERT."""

import keras

from keras_adapters.models.adapter_distil_bert_backbone import (
    AdapterDistilBertBackbone,
)
from keras_adapters.models.adapter_distil_bert_question_answerer_preprocessor import (  # noqa: E501
    AdapterDistilBertQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_question_answerer import (
    AdapterQuestionAnswerer,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterDistilBertQuestionAnswerer(AdapterQuestionAnswerer):
    """DistilBERT's SQuAD model, trained through adapters.

    `keras_adapters.models.AdapterQuestionAnswerer` (a start and an end
    logit per token) on an `AdapterDistilBertBackbone`, fed the windows of
    `AdapterDistilBertQuestionAnswererPreprocessor` (WordPiece, `[CLS]
    question [SEP] context [SEP]`).

    Args:
        backbone: an `AdapterDistilBertBackbone`.
        preprocessor, tuning_mode, top_k, train_pooler,
            freeze_below_adapters, train_layer_norms: see
            `AdapterQuestionAnswerer`.

    Example:

    ```python
    model = keras_adapters.models.AdapterDistilBertQuestionAnswerer.from_preset(
        "distil_bert_base_en_uncased", adapter_size=64
    )
    windows = model.preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    logits = model.predict(windows)
    ```
    """

    backbone_cls = AdapterDistilBertBackbone
    preprocessor_cls = AdapterDistilBertQuestionAnswererPreprocessor
