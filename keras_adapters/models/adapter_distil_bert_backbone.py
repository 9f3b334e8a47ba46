"""DistilBERT backbone whose Transformer blocks carry bottleneck adapters."""

import keras
from keras_hub.models import DistilBertBackbone

from keras_adapters.models.adapter_backbone import AdapterBackbone


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterDistilBertBackbone(AdapterBackbone, DistilBertBackbone):
    """A DistilBERT encoder with adapters in its Transformer blocks.

    A `keras_hub.models.DistilBertBackbone` whose blocks become
    `keras_adapters.layers.AdapterTransformerEncoder` layers; see
    `keras_adapters.models.AdapterBackbone` for the adapter arguments and
    `from_preset()`. It reads `token_ids` and `padding_mask` (no segment
    ids) and returns the sequence output, as its parent.

    Args:
        adapter_size, adapter_init_scale, adapter_activation, adapter_layers,
            adapter_config, intermediate_activation: see
            `keras_adapters.models.AdapterBackbone`.
        *args, **kwargs: the arguments of
            `keras_hub.models.DistilBertBackbone`.

    Example:

    ```python
    backbone = keras_adapters.models.AdapterDistilBertBackbone.from_preset(
        "distil_bert_base_en_uncased", adapter_size=64
    )
    ```
    """

    family = "DistilBERT"
    hugging_face_model_type = "distilbert"
