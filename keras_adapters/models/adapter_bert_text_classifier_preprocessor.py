"""BERT classifier preprocessing, registered for adapter-backbone presets."""

import keras
from keras_hub.models import BertTextClassifierPreprocessor

from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_tokenizer import AdapterBertTokenizer


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertTextClassifierPreprocessor(BertTextClassifierPreprocessor):
    """`keras_hub.models.BertTextClassifierPreprocessor` for adapter presets.

    Tokenizes raw strings (one segment or a pair) into `[CLS] a [SEP] b
    [SEP]` with segment ids and a padding mask, exactly like
    `BertTextClassifierPreprocessor`; registered so that keras-hub finds a
    preprocessor for presets saved from an `AdapterBertBackbone`.

    Example:

    ```python
    preprocessor = (
        keras_adapters.models.AdapterBertTextClassifierPreprocessor(
            tokenizer=keras_hub.models.BertTokenizer(vocabulary="vocab.txt"),
            sequence_length=128,
        )
    )
    # A pair is one input; `y=None` keeps keras-hub from reading the second
    # sentence as labels.
    preprocessor(("The first sentence.", "The second sentence."), y=None)
    ```
    """

    backbone_cls = AdapterBertBackbone
    tokenizer_cls = AdapterBertTokenizer
