"""SQuAD windows for an adapter DistilBERT: its tokenizer, its packing."""

import keras
from keras_hub.models import DistilBertTokenizer

from keras_adapters.models.adapter_distil_bert_backbone import (
    AdapterDistilBertBackbone,
)
from keras_adapters.models.adapter_question_answerer_preprocessor import (
    AdapterQuestionAnswererPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterDistilBertQuestionAnswererPreprocessor(
    AdapterQuestionAnswererPreprocessor
):
    """Question and context windows for DistilBERT's SQuAD model.

    `keras_adapters.models.AdapterQuestionAnswererPreprocessor` with
    DistilBERT's tokenizer and packing: WordPiece, `[CLS] question [SEP]
    context [SEP]`.

    Args:
        tokenizer: a `DistilBertTokenizer`.
        sequence_length, doc_stride, max_query_length: see
            `AdapterQuestionAnswererPreprocessor`.

    Example:

    ```python
    preprocessor = (
    keras_adapters.models.AdapterDistilBertQuestionAnswerer.preset_preprocessor(
            "distil_bert_base_en_uncased", sequence_length=384
        )
    )
    windows = preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    ```
    """

    backbone_cls = AdapterDistilBertBackbone
    tokenizer_cls = DistilBertTokenizer
