"""XLM-RoBERTa backbone whose Transformer blocks carry bottleneck adapters."""

import keras
from keras_hub.models import XLMRobertaBackbone

from keras_adapters.models.adapter_backbone import AdapterBackbone


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterXLMRobertaBackbone(AdapterBackbone, XLMRobertaBackbone):
    """An XLM-RoBERTa encoder with adapters in its Transformer blocks.

    A `keras_hub.models.XLMRobertaBackbone` (RoBERTa's architecture, a
    SentencePiece vocabulary) whose blocks become
    `keras_adapters.layers.AdapterTransformerEncoder` layers; see
    `keras_adapters.models.AdapterBackbone` for the adapter arguments and
    `from_preset()`. It reads `token_ids` and `padding_mask` and returns
    the sequence output, as its parent.

    Args:
        adapter_size, adapter_init_scale, adapter_activation, adapter_layers,
            adapter_config, intermediate_activation: see
            `keras_adapters.models.AdapterBackbone`.
        *args, **kwargs: the arguments of
            `keras_hub.models.XLMRobertaBackbone`.

    Example:

    ```python
    backbone = keras_adapters.models.AdapterXLMRobertaBackbone.from_preset(
        "xlm_roberta_base_multi", adapter_size=64
    )
    ```
    """

    family = "XLM-RoBERTa"
    hugging_face_model_type = "xlm-roberta"
