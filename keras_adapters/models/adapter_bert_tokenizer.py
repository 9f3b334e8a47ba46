"""The BERT WordPiece tokenizer, registered for adapter-backbone presets."""

import json
import os

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


def hugging_face_strip_accents(preset):
    """Whether a Hugging Face BERT folder's tokenizer strips accents.

    Hugging Face's `BertTokenizer` strips accents when its
    `tokenizer_config.json` says `strip_accents: true`, or says nothing
    (`null`) and lowercases (`do_lower_case: true`, as every uncased BERT).
    keras-hub's conversion keeps accents, so an uncased checkpoint would
    read "José" as `[UNK]` where it was trained on "jose".

    Args:
        preset: a preset id or folder.

    Returns:
        `True` or `False` for a local Hugging Face folder, `None` for any
        other preset (its own tokenizer config decides).
    """
    path = os.path.join(os.fspath(preset), "tokenizer_config.json")
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        config = json.load(handle)
    strip = config.get("strip_accents")
    return bool(config.get("do_lower_case", False) if strip is None else strip)
