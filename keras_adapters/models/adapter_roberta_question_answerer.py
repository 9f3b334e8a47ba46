"""Extractive question answering (SQuAD) with an adapter RoBERTa."""

import keras

from keras_adapters.models.adapter_question_answerer import (
    AdapterQuestionAnswerer,
)
from keras_adapters.models.adapter_roberta_backbone import (
    AdapterRobertaBackbone,
)
from keras_adapters.models.adapter_roberta_question_answerer_preprocessor import (  # noqa: E501
    AdapterRobertaQuestionAnswererPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterRobertaQuestionAnswerer(AdapterQuestionAnswerer):
    """RoBERTa's SQuAD model, trained through adapters.

    `keras_adapters.models.AdapterQuestionAnswerer` (a start and an end
    logit per token) on an `AdapterRobertaBackbone`, fed the windows of
    `AdapterRobertaQuestionAnswererPreprocessor` (byte-pair tokens, `<s>
    question </s></s> context </s>`).

    Args:
        backbone: an `AdapterRobertaBackbone`.
        preprocessor, tuning_mode, top_k, train_pooler,
            freeze_below_adapters, train_layer_norms: see
            `AdapterQuestionAnswerer`.

    Example:

    ```python
    model = keras_adapters.models.AdapterRobertaQuestionAnswerer.from_preset(
        "roberta_base_en", adapter_size=64
    )
    windows = model.preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    logits = model.predict(windows)
    ```
    """

    backbone_cls = AdapterRobertaBackbone
    preprocessor_cls = AdapterRobertaQuestionAnswererPreprocessor
