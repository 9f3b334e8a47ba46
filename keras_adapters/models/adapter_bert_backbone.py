"""BERT backbone whose Transformer blocks carry bottleneck adapters."""

import keras
from keras_hub.models import BertBackbone

from keras_adapters.models.adapter_backbone import AdapterBackbone


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertBackbone(AdapterBackbone, BertBackbone):
    """A BERT encoder with bottleneck adapters in its Transformer blocks.

    A `keras_hub.models.BertBackbone`, built by keras-hub's own constructor,
    whose blocks then become `keras_adapters.layers.AdapterTransformerEncoder`
    layers (none in the embeddings or the pooler); see
    `keras_adapters.models.AdapterBackbone` for the adapter arguments, the
    configs, AdapterDrop and `from_preset()`. The architecture, layer names
    and variable paths are those of `BertBackbone`, plus the adapters'. With
    `adapter_size=0` it is a plain BERT encoder, which is what the full
    fine-tuning baseline uses. Its blocks keep keras-hub's tanh GELU unless
    `intermediate_activation` says otherwise (`"gelu"`, or `"auto"` in
    `from_preset()`, gives the exact GELU of Hugging Face BERTs whose
    `hidden_act` is `"gelu"`).

    Args:
        adapter_size, adapter_init_scale, adapter_activation, adapter_layers,
            adapter_config, intermediate_activation: see
            `keras_adapters.models.AdapterBackbone`.
        *args, **kwargs: the arguments of `keras_hub.models.BertBackbone`:
            `vocabulary_size`, `num_layers`, `num_heads`, `hidden_dim`,
            `intermediate_dim`, `dropout`, `max_sequence_length`,
            `num_segments`, and `dtype` for the model computations and
            weights (adapters always stay float32).

    Example:

    ```python
    backbone = keras_adapters.models.AdapterBertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=16, adapter_size=8,
        adapter_layers=1,  # Adapters in the top block only.
    )
    outputs = backbone({
        "token_ids": np.ones((1, 12), "int32"),
        "segment_ids": np.zeros((1, 12), "int32"),
        "padding_mask": np.ones((1, 12), "int32"),
    })
    outputs["pooled_output"].shape  # (1, 32)
    backbone = keras_adapters.models.AdapterBertBackbone.from_preset(
        "bert_base_en_uncased", adapter_size=64
    )
    ```
    """

    family = "BERT"
    hugging_face_model_type = "bert"
