"""SQuAD windows for an adapter ELECTRA: its tokenizer, its packing."""

import keras
from keras_hub.models import ElectraTokenizer

from keras_adapters.models.adapter_electra_backbone import (
    AdapterElectraBackbone,
)
from keras_adapters.models.adapter_question_answerer_preprocessor import (
    AdapterQuestionAnswererPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterElectraQuestionAnswererPreprocessor(
    AdapterQuestionAnswererPreprocessor
):
    """Question and context windows for ELECTRA's SQuAD model.

    `keras_adapters.models.AdapterQuestionAnswererPreprocessor` with
    ELECTRA's tokenizer and packing: WordPiece, `[CLS] question [SEP]
    context [SEP]` with segment ids.

    Args:
        tokenizer: a `ElectraTokenizer`.
        sequence_length, doc_stride, max_query_length: see
            `AdapterQuestionAnswererPreprocessor`.

    Example:

    ```python
    preprocessor = (
    keras_adapters.models.AdapterElectraQuestionAnswerer.preset_preprocessor(
            "electra_base_discriminator_en", sequence_length=384
        )
    )
    windows = preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    ```
    """

    backbone_cls = AdapterElectraBackbone
    tokenizer_cls = ElectraTokenizer
