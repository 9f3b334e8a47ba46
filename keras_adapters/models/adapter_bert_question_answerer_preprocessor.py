"""SQuAD windows for an adapter BERT: its tokenizer, its packing."""

import keras

from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_tokenizer import AdapterBertTokenizer
from keras_adapters.models.adapter_question_answerer_preprocessor import (
    AdapterQuestionAnswererPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertQuestionAnswererPreprocessor(
    AdapterQuestionAnswererPreprocessor
):
    """Question and context windows for BERT's SQuAD model.

    `keras_adapters.models.AdapterQuestionAnswererPreprocessor` with BERT's
    tokenizer and packing: WordPiece, `[CLS] question [SEP] context [SEP]`
    with segment ids.

    Args:
        tokenizer: a `AdapterBertTokenizer`.
        sequence_length, doc_stride, max_query_length: see
            `AdapterQuestionAnswererPreprocessor`.

    Example:

    ```python
    preprocessor = (
        keras_adapters.models.AdapterBertQuestionAnswerer.preset_preprocessor(
            "bert_base_en_uncased", sequence_length=384
        )
    )
    windows = preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    ```
    """

    backbone_cls = AdapterBertBackbone
    tokenizer_cls = AdapterBertTokenizer
