"""Extractive question answering (SQuAD) with an adapter BERT."""

import keras

from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_question_answerer_preprocessor import (
    AdapterBertQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_question_answerer import (
    AdapterQuestionAnswerer,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertQuestionAnswerer(AdapterQuestionAnswerer):
    """BERT's SQuAD model, trained through adapters.

    `keras_adapters.models.AdapterQuestionAnswerer` (a start and an end
    logit per token) on an `AdapterBertBackbone`, fed the windows of
    `AdapterBertQuestionAnswererPreprocessor` (WordPiece, `[CLS] question
    [SEP] context [SEP]` with segment ids).

    Args:
        backbone: an `AdapterBertBackbone`.
        preprocessor, tuning_mode, top_k, train_pooler,
            freeze_below_adapters, train_layer_norms: see
            `AdapterQuestionAnswerer`.

    Example:

    ```python
    model = keras_adapters.models.AdapterBertQuestionAnswerer.from_preset(
        "bert_base_en_uncased", adapter_size=64
    )
    windows = model.preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    logits = model.predict(windows)
    ```
    """

    backbone_cls = AdapterBertBackbone
    preprocessor_cls = AdapterBertQuestionAnswererPreprocessor
