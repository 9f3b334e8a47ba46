"""Extractive question answering (SQuAD) with an adapter ELECTRA."""

import keras

from keras_adapters.models.adapter_electra_backbone import (
    AdapterElectraBackbone,
)
from keras_adapters.models.adapter_electra_question_answerer_preprocessor import (  # noqa: E501
    AdapterElectraQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_question_answerer import (
    AdapterQuestionAnswerer,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterElectraQuestionAnswerer(AdapterQuestionAnswerer):
    """ELECTRA's SQuAD model, trained through adapters.

    `keras_adapters.models.AdapterQuestionAnswerer` (a start and an end
    logit per token) on an `AdapterElectraBackbone`, fed the windows of
    `AdapterElectraQuestionAnswererPreprocessor` (WordPiece, `[CLS] question
    [SEP] context [SEP]` with segment ids).

    Args:
        backbone: an `AdapterElectraBackbone`.
        preprocessor, tuning_mode, top_k, train_pooler,
            freeze_below_adapters, train_layer_norms: see
            `AdapterQuestionAnswerer`.

    Example:

    ```python
    model = keras_adapters.models.AdapterElectraQuestionAnswerer.from_preset(
        "electra_base_discriminator_en", adapter_size=64
    )
    windows = model.preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    logits = model.predict(windows)
    ```
    """

    backbone_cls = AdapterElectraBackbone
    preprocessor_cls = AdapterElectraQuestionAnswererPreprocessor
