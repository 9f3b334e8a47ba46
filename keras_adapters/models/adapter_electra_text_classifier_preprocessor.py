"""ELECTRA classifier preprocessing: BERT's packing, ELECTRA's tokenizer."""

import keras
from keras_hub.models import BertTextClassifierPreprocessor
from keras_hub.models import ElectraTokenizer

from keras_adapters.models.adapter_electra_backbone import (
    AdapterElectraBackbone,
)


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterElectraTextClassifierPreprocessor(BertTextClassifierPreprocessor):
    """Text classifier preprocessing for ELECTRA, which keras-hub lacks.

    ELECTRA reads BERT's inputs: `[CLS] a [SEP] b [SEP]` WordPiece tokens
    with segment ids and a padding mask, packed exactly as
    `keras_hub.models.BertTextClassifierPreprocessor` packs them, from a
    `keras_hub.models.ElectraTokenizer`.

    Args:
        tokenizer: a `keras_hub.models.ElectraTokenizer`.
        sequence_length: int. Length of the packed inputs. Defaults to
            `512`.
        truncate: string. How to truncate a pair, `"round_robin"` (the
            default) or `"waterfall"`.

    Example:

    ```python
    preprocessor = (
        keras_adapters.models.AdapterElectraTextClassifierPreprocessor(
            tokenizer=keras_hub.models.ElectraTokenizer("vocab.txt"),
            sequence_length=128,
        )
    )
    preprocessor(("The first sentence.", "The second sentence."), y=None)
    ```
    """

    backbone_cls = AdapterElectraBackbone
    tokenizer_cls = ElectraTokenizer
