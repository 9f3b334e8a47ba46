"""BERT backbone whose Transformer blocks carry bottleneck adapters."""

import contextlib

import keras
import safetensors
from keras.layers import ReversibleEmbedding
from keras_hub.models import Backbone
from keras_hub.models import BertBackbone
from keras_hub.src.layers.modeling.position_embedding import PositionEmbedding
from keras_hub.src.models.bert.bert_backbone import bert_kernel_initializer
from keras_hub.src.utils.keras_utils import gelu_approximate
from keras_hub.src.utils.preset_utils import get_preset_loader

from keras_adapters.layers.adapter_transformer_encoder import (
    AdapterTransformerEncoder,
)
from keras_adapters.layers.adapter_transformer_encoder import adapter_config
from keras_adapters.weight_transfer import transfer_weights

DEFAULT_ADAPTER_SIZE = 64


def is_adapter_path(path):
    """Whether a variable path belongs to an adapter module."""
    return "_adapter/" in path


def preset_backbone_class(preset):
    """Returns the backbone class a preset (id or folder) was saved from.

    Raises:
        ValueError: the preset cannot be found or read, in one line.
    """
    try:
        return get_preset_loader(preset).check_backbone_class()
    except (ValueError, OSError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise ValueError(
            f"Cannot read preset '{preset}': {first_line} Give a keras-hub "
            "preset id, a folder saved with `save_to_preset`, or a Hugging "
            "Face BERT folder (config.json, model.safetensors, vocab.txt)."
        ) from None


@contextlib.contextmanager
def readable_load_errors(preset):
    """Turns low-level read failures of a preset's files into one line."""
    try:
        yield
    except (OSError, safetensors.SafetensorError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise ValueError(
            f"Preset '{preset}' is truncated or corrupted ({first_line}). "
            "Download or save it again."
        ) from None


def check_adapter_size(preset, backbone, adapter_size):
    """Raises if a requested `adapter_size` contradicts a loaded preset's."""
    if adapter_size is not None and adapter_size != backbone.adapter_size:
        raise ValueError(
            f"Preset '{preset}' holds trained adapters of size "
            f"{backbone.adapter_size}, not {adapter_size}. Leave "
            "`adapter_size` unset to reload them."
        )


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertBackbone(BertBackbone):
    """A BERT encoder with Houlsby adapters in every Transformer block.

    The architecture, layer names and variable paths are those of
    `keras_hub.models.BertBackbone`, with the blocks replaced by
    `keras_adapters.layers.AdapterTransformerEncoder` (two adapters each, none
    in the embeddings or the pooler). With `adapter_size=0` it is a plain
    BERT encoder, which is what the full fine-tuning baseline uses.

    Use `from_preset()` to start from pretrained BERT weights: any preset
    that `keras_hub.models.BertBackbone.from_preset()` accepts works, the
    pretrained variables are copied in by path and the adapters start near
    the identity. Presets saved from an adapter backbone reload with their
    trained adapters.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_layers: int. Number of Transformer blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Width of the encoder and of the pooler.
        intermediate_dim: int. Width of the feedforward network.
        dropout: float. Dropout of embeddings and blocks. Defaults to `0.1`.
        max_sequence_length: int. Number of position embeddings. Defaults to
            `512`.
        num_segments: int. Number of segment ids. Defaults to `2`.
        adapter_size: int. Adapter bottleneck width, `0` for no adapters.
            Defaults to `64`.
        adapter_init_scale: float. Initializer standard deviation of the
            adapter kernels. Defaults to `1e-3`.
        adapter_activation: string or callable. Adapter non-linearity.
            Defaults to tanh-approximated GELU.
        dtype: string or `keras.DTypePolicy` for the model computations and
            weights (adapters always stay float32).

    Example:

    ```python
    backbone = keras_adapters.models.AdapterBertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=16, adapter_size=8,
    )
    outputs = backbone({
        "token_ids": np.ones((1, 12), "int32"),
        "segment_ids": np.zeros((1, 12), "int32"),
        "padding_mask": np.ones((1, 12), "int32"),
    })
    outputs["pooled_output"].shape  # (1, 32)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        adapter_size=DEFAULT_ADAPTER_SIZE,
        adapter_init_scale=1e-3,
        adapter_activation=gelu_approximate,
        dtype=None,
        **kwargs,
    ):
        # === Layers === (names and order as in `BertBackbone`)
        self.token_embedding = ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            embeddings_initializer=bert_kernel_initializer(),
            dtype=dtype,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            initializer=bert_kernel_initializer(),
            sequence_length=max_sequence_length,
            dtype=dtype,
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            input_dim=num_segments,
            output_dim=hidden_dim,
            embeddings_initializer=bert_kernel_initializer(),
            dtype=dtype,
            name="segment_embedding",
        )
        self.embeddings_add = keras.layers.Add(
            dtype=dtype, name="embeddings_add"
        )
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            axis=-1, epsilon=1e-12, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            AdapterTransformerEncoder(
                adapter_size=adapter_size,
                adapter_init_scale=adapter_init_scale,
                adapter_activation=adapter_activation,
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                activation=gelu_approximate,
                dropout=dropout,
                layer_norm_epsilon=1e-12,
                kernel_initializer=bert_kernel_initializer(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=bert_kernel_initializer(),
            activation="tanh",
            dtype=dtype,
            name="pooled_dense",
        )

        # === Functional Model ===
        token_id_input = keras.Input(
            shape=(None,), dtype="int32", name="token_ids"
        )
        segment_id_input = keras.Input(
            shape=(None,), dtype="int32", name="segment_ids"
        )
        padding_mask_input = keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        )
        tokens = self.token_embedding(token_id_input)
        positions = self.position_embedding(tokens)
        segments = self.segment_embedding(segment_id_input)
        x = self.embeddings_add((tokens, positions, segments))
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, padding_mask=padding_mask_input)
        sequence_output = x
        cls_token_index = 0
        pooled_output = self.pooled_dense(x[:, cls_token_index, :])
        # Skip `BertBackbone.__init__`, which would build plain blocks.
        Backbone.__init__(
            self,
            inputs={
                "token_ids": token_id_input,
                "segment_ids": segment_id_input,
                "padding_mask": padding_mask_input,
            },
            outputs={
                "sequence_output": sequence_output,
                "pooled_output": pooled_output,
            },
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.cls_token_index = cls_token_index
        self.adapter_size = int(adapter_size)
        self.adapter_init_scale = float(adapter_init_scale)
        self.adapter_activation = keras.activations.get(adapter_activation)

    @property
    def adapter_layers(self):
        """Every `Adapter` layer, bottom block first."""
        return [
            adapter
            for block in self.transformer_layers
            for adapter in block.adapters
        ]

    @property
    def layer_norm_layers(self):
        """Every pretrained LayerNormalization: embeddings, then blocks."""
        return [self.embeddings_layer_norm] + [
            layer_norm
            for block in self.transformer_layers
            for layer_norm in block.layer_norms
        ]

    def get_config(self):
        config = super().get_config()
        config.update(adapter_config(self))
        return config

    @classmethod
    def from_preset(
        cls,
        preset,
        adapter_size=None,
        adapter_init_scale=1e-3,
        adapter_activation=gelu_approximate,
        load_weights=True,
        **kwargs,
    ):
        """Builds an adapter backbone from a pretrained BERT preset.

        Args:
            preset: a keras-hub preset id (`"bert_base_en_uncased"`), a local
                keras-hub preset folder, a local Hugging Face BERT folder
                (`config.json`, `model.safetensors`, `vocab.txt`), or a
                folder saved from an `AdapterBertBackbone`.
            adapter_size: int. Bottleneck width of the new adapters; `0`
                for none. Defaults to `64` for a plain BERT preset; an
                adapter preset keeps its own size (passing a different one
                is an error).
            adapter_init_scale: float. Initializer standard deviation of the
                new adapters. Defaults to `1e-3`.
            adapter_activation: adapter non-linearity. Defaults to GELU.
            load_weights: bool. Whether to load the pretrained weights.
            **kwargs: forwarded to the preset loader (e.g. `dtype`).

        Returns:
            An `AdapterBertBackbone`.

        Raises:
            ValueError: the preset is not a BERT model, cannot be read, or
                its weights do not fit (the message names the variables).

        Example:

        ```python
        backbone = keras_adapters.models.AdapterBertBackbone.from_preset(
            "bert_base_en_uncased", adapter_size=64
        )
        ```
        """
        saved_cls = preset_backbone_class(preset)
        if issubclass(saved_cls, AdapterBertBackbone):
            with readable_load_errors(preset):
                backbone = super().from_preset(
                    preset, load_weights=load_weights, **kwargs
                )
            check_adapter_size(preset, backbone, adapter_size)
            return backbone
        if not issubclass(saved_cls, BertBackbone):
            raise ValueError(
                f"Preset '{preset}' is a {saved_cls.__name__}, not a BERT "
                "model; adapters here are built for BERT encoders."
            )
        with readable_load_errors(preset):
            pretrained = BertBackbone.from_preset(
                preset, load_weights=load_weights, **kwargs
            )
        config = pretrained.get_config()
        config.pop("name", None)
        config.update(
            adapter_size=(
                DEFAULT_ADAPTER_SIZE if adapter_size is None else adapter_size
            ),
            adapter_init_scale=adapter_init_scale,
            adapter_activation=adapter_activation,
        )
        backbone = cls.from_config(config)
        if load_weights:
            transfer_weights(
                pretrained, backbone, allow_unfilled=is_adapter_path
            )
        return backbone
