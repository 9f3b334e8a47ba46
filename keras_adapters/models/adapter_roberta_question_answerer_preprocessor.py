"""SQuAD windows for an adapter RoBERTa: its tokenizer, its packing."""

import keras
from keras_hub.models import RobertaTokenizer

from keras_adapters.models.adapter_question_answerer_preprocessor import (
    AdapterQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_roberta_backbone import (
    AdapterRobertaBackbone,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterRobertaQuestionAnswererPreprocessor(
    AdapterQuestionAnswererPreprocessor
):
    """Question and context windows for RoBERTa's SQuAD model.

    `keras_adapters.models.AdapterQuestionAnswererPreprocessor` with
    RoBERTa's tokenizer and packing: byte-pair tokens, `<s> question
    </s></s> context </s>`.

    Args:
        tokenizer: a `RobertaTokenizer`.
        sequence_length, doc_stride, max_query_length: see
            `AdapterQuestionAnswererPreprocessor`.

    Example:

    ```python
    preprocessor = (
    keras_adapters.models.AdapterRobertaQuestionAnswerer.preset_preprocessor(
            "roberta_base_en", sequence_length=384
        )
    )
    windows = preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    ```
    """

    backbone_cls = AdapterRobertaBackbone
    tokenizer_cls = RobertaTokenizer
    separators = 2
    word_pattern = "whitespace"
    space_before_words = True
