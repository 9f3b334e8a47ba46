"""ELECTRA backbone whose Transformer blocks carry bottleneck adapters."""

import keras
from keras_hub.models import ElectraBackbone

from keras_adapters.models.adapter_backbone import AdapterBackbone


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterElectraBackbone(AdapterBackbone, ElectraBackbone):
    """An ELECTRA discriminator with adapters in its Transformer blocks.

    A `keras_hub.models.ElectraBackbone` whose blocks become
    `keras_adapters.layers.AdapterTransformerEncoder` layers; see
    `keras_adapters.models.AdapterBackbone` for the adapter arguments and
    `from_preset()`. It reads `token_ids`, `segment_ids` and
    `padding_mask` and returns `sequence_output` and `pooled_output`, as
    its parent. keras-hub 0.32 has no converter for Hugging Face ELECTRA
    folders; this package's
    (`keras_adapters.models.transformers.convert_electra`) reads them, with
    the checkpoint's `hidden_act` and a zero pooler (ELECTRA has none).

    Args:
        adapter_size, adapter_init_scale, adapter_activation, adapter_layers,
            adapter_config, intermediate_activation: see
            `keras_adapters.models.AdapterBackbone`.
        *args, **kwargs: the arguments of `keras_hub.models.ElectraBackbone`
            (`vocab_size`, `num_layers`, `num_heads`, `hidden_dim`,
            `embedding_dim`, `intermediate_dim`, ...).

    Example:

    ```python
    backbone = keras_adapters.models.AdapterElectraBackbone.from_preset(
        "electra_base_discriminator_en", adapter_size=64
    )
    ```
    """

    family = "ELECTRA"
    hugging_face_model_type = "electra"
