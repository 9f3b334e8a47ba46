"""The BERT WordPiece tokenizer, registered for adapter-backbone presets."""

import keras
from keras_hub.models import BertTokenizer

from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertTokenizer(BertTokenizer):
    """`keras_hub.models.BertTokenizer` for `AdapterBertBackbone` presets.

    Behaves exactly like `BertTokenizer`; it exists so that keras-hub's
    `Tokenizer.from_preset()` finds a tokenizer class for presets saved from
    an `AdapterBertBackbone`.

    Example:

    ```python
    tokenizer = keras_adapters.models.AdapterBertTokenizer.from_preset(
        "./my_adapter_preset"
    )
    tokenizer("The quick brown fox.")
    ```
    """

    backbone_cls = AdapterBertBackbone
