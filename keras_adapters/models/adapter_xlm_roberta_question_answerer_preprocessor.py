"""SQuAD windows for an adapter XLM-RoBERTa: its tokenizer, its packing."""

import keras
from keras_hub.models import XLMRobertaTokenizer

from keras_adapters.models.adapter_question_answerer_preprocessor import (
    AdapterQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_xlm_roberta_backbone import (
    AdapterXLMRobertaBackbone,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterXLMRobertaQuestionAnswererPreprocessor(
    AdapterQuestionAnswererPreprocessor
):
    """Question and context windows for XLM-RoBERTa's SQuAD model.

    `keras_adapters.models.AdapterQuestionAnswererPreprocessor` with
    XLM-RoBERTa's tokenizer and packing: SentencePiece tokens, `<s> question
    </s></s> context </s>`.

    Args:
        tokenizer: a `XLMRobertaTokenizer`.
        sequence_length, doc_stride, max_query_length: see
            `AdapterQuestionAnswererPreprocessor`.

    Example:

    ```python
    preprocessor = (
    keras_adapters.models.AdapterXLMRobertaQuestionAnswerer.preset_preprocessor(
            "xlm_roberta_base_multi", sequence_length=384
        )
    )
    windows = preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    ```
    """

    backbone_cls = AdapterXLMRobertaBackbone
    tokenizer_cls = XLMRobertaTokenizer
    separators = 2
    word_pattern = "whitespace"
