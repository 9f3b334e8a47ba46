"""RoBERTa backbone whose Transformer blocks carry bottleneck adapters."""

import keras
from keras_hub.models import RobertaBackbone

from keras_adapters.models.adapter_backbone import AdapterBackbone


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterRobertaBackbone(AdapterBackbone, RobertaBackbone):
    """A RoBERTa encoder with bottleneck adapters in its Transformer blocks.

    A `keras_hub.models.RobertaBackbone` whose blocks become
    `keras_adapters.layers.AdapterTransformerEncoder` layers; see
    `keras_adapters.models.AdapterBackbone` for the adapter arguments and
    `from_preset()`. It reads `token_ids` and `padding_mask` (no segment
    ids) and returns the sequence output `[batch, sequence, hidden_dim]`,
    as its parent. A Hugging Face RoBERTa folder loads through keras-hub's
    converter, with its token type embedding added to the position
    embeddings (`keras_adapters.models.transformers.convert_roberta`).

    Args:
        adapter_size, adapter_init_scale, adapter_activation, adapter_layers,
            adapter_config, intermediate_activation: see
            `keras_adapters.models.AdapterBackbone`.
        *args, **kwargs: the arguments of `keras_hub.models.RobertaBackbone`
            (`vocabulary_size`, `num_layers`, `num_heads`, `hidden_dim`,
            `intermediate_dim`, `dropout`, `max_sequence_length`, `dtype`).

    Example:

    ```python
    backbone = keras_adapters.models.AdapterRobertaBackbone.from_preset(
        "roberta_base_en", adapter_size=64
    )
    backbone({
        "token_ids": np.ones((1, 12), "int32"),
        "padding_mask": np.ones((1, 12), "int32"),
    }).shape  # (1, 12, 768)
    ```
    """

    family = "RoBERTa"
    hugging_face_model_type = "roberta"
