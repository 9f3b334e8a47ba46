"""Extractive question answering (SQuAD) with an adapter XLM-RoBERTa."""

import keras

from keras_adapters.models.adapter_question_answerer import (
    AdapterQuestionAnswerer,
)
from keras_adapters.models.adapter_xlm_roberta_backbone import (
    AdapterXLMRobertaBackbone,
)
from keras_adapters.models.adapter_xlm_roberta_question_answerer_preprocessor import (  # noqa: E501
    AdapterXLMRobertaQuestionAnswererPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterXLMRobertaQuestionAnswerer(AdapterQuestionAnswerer):
    """XLM-RoBERTa's SQuAD model, trained through adapters.

    `keras_adapters.models.AdapterQuestionAnswerer` (a start and an end
    logit per token) on an `AdapterXLMRobertaBackbone`, fed the windows of
    `AdapterXLMRobertaQuestionAnswererPreprocessor` (SentencePiece tokens,
    `<s> question </s></s> context </s>`).

    Args:
        backbone: an `AdapterXLMRobertaBackbone`.
        preprocessor, tuning_mode, top_k, train_pooler,
            freeze_below_adapters, train_layer_norms: see
            `AdapterQuestionAnswerer`.

    Example:

    ```python
    model = keras_adapters.models.AdapterXLMRobertaQuestionAnswerer.from_preset(
        "xlm_roberta_base_multi", adapter_size=64
    )
    windows = model.preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    logits = model.predict(windows)
    ```
    """

    backbone_cls = AdapterXLMRobertaBackbone
    preprocessor_cls = AdapterXLMRobertaQuestionAnswererPreprocessor
