"""BERT backbone whose Transformer blocks carry bottleneck adapters."""

import contextlib
import json
import os

import keras
import safetensors
from keras_hub.models import BertBackbone

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.keras_hub_internals import get_preset_loader
from keras_adapters.layers.adapter_config import ADAPTER_CONFIGS
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.layers.adapter_transformer_encoder import add_adapters
from keras_adapters.layers.adapter_transformer_encoder import (
    resolve_adapter_config,
)
from keras_adapters.layers.adapter_transformer_encoder import (
    set_intermediate_activation,
)
from keras_adapters.layers.hf_activations import HF_ACTIVATIONS
from keras_adapters.layers.hf_activations import keras_activation

DEFAULT_ADAPTER_SIZE = ADAPTER_CONFIGS["adapter-bert"].adapter_size


def is_adapter_path(path):
    """Whether a variable path belongs to an adapter module."""
    return "_adapter/" in path


def _preset_loader_call(preset, read):
    """`read(loader)` for the preset loader of `preset`, with one-line
    errors for a preset that cannot be found or read."""
    try:
        return read(get_preset_loader(preset))
    except (ValueError, OSError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise KerasAdaptersError(
            f"Cannot read preset '{preset}': {first_line} Give a keras-hub "
            "preset id, a folder saved with `save_to_preset`, or a Hugging "
            "Face BERT folder (config.json, model.safetensors, vocab.txt)."
        ) from None


def preset_backbone_class(preset):
    """Returns the backbone class a preset (id or folder) was saved from.

    Raises:
        ValueError: the preset cannot be found or read, in one line.
    """
    return _preset_loader_call(
        preset, lambda loader: loader.check_backbone_class()
    )


def preset_backbone_config(preset):
    """The backbone arguments a preset builds (`hidden_dim`, `num_layers`,
    ...), read from its config without building it.

    A Hugging Face folder's `config.json` is converted as keras-hub's
    loader converts it.

    Raises:
        ValueError: the preset cannot be found or read, in one line.
    """

    def read(loader):
        converter = getattr(loader, "converter", None)
        if converter is not None:
            return converter.convert_backbone_config(loader.config)
        return loader.config["config"]

    return _preset_loader_call(preset, read)


@contextlib.contextmanager
def readable_load_errors(preset):
    """Turns low-level read failures of a preset's files into one line."""
    try:
        yield
    except (OSError, safetensors.SafetensorError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise KerasAdaptersError(
            f"Preset '{preset}' is truncated or corrupted ({first_line}). "
            "Download or save it again."
        ) from None


def validate_adapter_layers(adapter_layers, num_layers, adapter_size):
    """Returns `adapter_layers` (`None` or an int); raises if out of range.

    Args:
        adapter_layers: `None` (adapters in every block) or the number of
            top blocks that get adapters.
        num_layers: int, the number of Transformer blocks.
        adapter_size: int, the adapter width (`0`: no adapters at all).
    """
    if adapter_layers is None:
        return None
    if adapter_size == 0:
        raise KerasAdaptersError(
            f"`adapter_layers`={adapter_layers} needs adapters, but "
            "`adapter_size`=0. Drop `adapter_layers` or give `adapter_size` "
            "> 0."
        )
    if (
        isinstance(adapter_layers, bool)
        or not 1 <= adapter_layers <= num_layers
    ):
        raise KerasAdaptersError(
            f"`adapter_layers` must be between 1 and the model's "
            f"{num_layers} blocks (or unset for all), got {adapter_layers}."
        )
    return int(adapter_layers)


def checkpoint_activation(preset):
    """The feedforward activation a preset's checkpoint was trained with.

    Args:
        preset: a preset id or folder.

    Returns:
        The Keras activation matching the `hidden_act` of a local Hugging
        Face folder's `config.json`, or keras-hub's tanh GELU for any other
        preset (keras-hub's BERT presets use it).

    Raises:
        KerasAdaptersError: a `hidden_act` with no Keras counterpart here.
    """
    path = os.path.join(os.fspath(preset), "config.json")
    hidden_act = None
    if os.path.isfile(path):
        with open(path) as handle:
            hidden_act = json.load(handle).get("hidden_act")
    if hidden_act is None:
        return gelu_approximate
    activation = keras_activation(hidden_act)
    if activation is None:
        raise KerasAdaptersError(
            f"{path}: hidden_act {hidden_act!r} has no Keras counterpart "
            f"here (known: {', '.join(HF_ACTIVATIONS)}); pass "
            "`intermediate_activation` yourself."
        )
    return activation


def check_adapter_settings(
    preset, backbone, adapter_size, adapter_layers, adapter_config=None
):
    """Raises if a requested `adapter_size`, `adapter_layers` or
    `adapter_config` contradicts the adapters of a loaded adapter preset."""
    if adapter_config is not None and (
        AdapterConfig.get(adapter_config) != backbone.adapter_config
    ):
        raise KerasAdaptersError(
            f"Preset '{preset}' holds trained adapters of config "
            f"'{backbone.adapter_config.name}', not the one given. Leave "
            "`adapter_config` unset to reload them."
        )
    if adapter_size is not None and adapter_size != backbone.adapter_size:
        raise KerasAdaptersError(
            f"Preset '{preset}' holds trained adapters of size "
            f"{backbone.adapter_size}, not {adapter_size}. Leave "
            "`adapter_size` unset to reload them."
        )
    saved = backbone.adapter_layers or backbone.num_layers
    if adapter_layers is not None and adapter_layers != saved:
        raise KerasAdaptersError(
            f"Preset '{preset}' holds trained adapters in its top {saved} "
            f"blocks, not {adapter_layers}. Leave `adapter_layers` unset to "
            "reload them."
        )


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertBackbone(BertBackbone):
    """A BERT encoder with bottleneck adapters in its Transformer blocks.

    A `keras_hub.models.BertBackbone`, built by keras-hub's own constructor,
    whose blocks then become `keras_adapters.layers.AdapterTransformerEncoder`
    layers (none in the embeddings or the pooler). The adapter config says
    which sublayers get one and what they compute: adapter-bert's (the
    default: two per block, GELU, the LayerNorms train with them), or
    AdapterHub's `"houlsby"` and `"pfeiffer"` (see
    `keras_adapters.layers.AdapterConfig`). With `adapter_layers=k` only the
    top `k` blocks get adapters (AdapterDrop, Rücklé et al. 2021); the
    blocks below compute exactly what the plain BERT blocks compute. The
    architecture, layer names and variable paths are those of
    `BertBackbone`, plus the adapters'. With `adapter_size=0` it is a plain
    BERT encoder, which is what the full fine-tuning baseline uses.

    Use `from_preset()` to start from pretrained BERT weights: any preset
    that `keras_hub.models.BertBackbone.from_preset()` accepts works; the
    pretrained model is loaded once and its blocks get adapters that start
    near the identity. Presets saved from an adapter backbone reload with
    their trained adapters.

    Args:
        adapter_size: int. Adapter bottleneck width, `0` for no adapters,
            replacing the config's. Defaults to `None`: the config's (64
            for adapter-bert's, `hidden_dim // 16` for AdapterHub's).
        adapter_init_scale: float. Initializer standard deviation of the
            adapter kernels, replacing the config's. Defaults to `None`.
        adapter_activation: string or callable. Adapter non-linearity,
            replacing the config's. Defaults to `None`.
        adapter_layers: int or `None`. Put adapters only in the top
            `adapter_layers` blocks (between 1 and `num_layers`). Defaults
            to `None`, every block.
        adapter_config: an `AdapterConfig`, its name (`"adapter-bert"`,
            `"houlsby"`, `"pfeiffer"`) or its dict. Defaults to `None`,
            adapter-bert's.
        intermediate_activation: string or callable. The activation of the
            blocks' feedforward intermediate dense. Defaults to `None`,
            keras-hub's tanh GELU; `"gelu"` gives the exact GELU of Hugging
            Face BERTs whose `hidden_act` is `"gelu"`.
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
    ```
    """

    def __init__(
        self,
        *args,
        adapter_size=None,
        adapter_init_scale=None,
        adapter_activation=None,
        adapter_layers=None,
        adapter_config=None,
        intermediate_activation=None,
        **kwargs,
    ):
        config = resolve_adapter_config(
            adapter_config, adapter_size, adapter_init_scale, adapter_activation
        )
        super().__init__(*args, **kwargs)
        self._add_adapters(config, adapter_layers, intermediate_activation)

    def _add_adapters(self, config, adapter_layers, intermediate_activation):
        """Gives the top `adapter_layers` blocks adapters of `config` (every
        block for `None`) and the others none; the blocks stay where they
        are wired."""
        adapter_size = config.size_for(self.hidden_dim)
        adapter_layers = validate_adapter_layers(
            adapter_layers, self.num_layers, adapter_size
        )
        intermediate_activation = keras.activations.get(
            intermediate_activation or gelu_approximate
        )
        first_adapted = self.num_layers - (adapter_layers or self.num_layers)
        for index, block in enumerate(self.transformer_layers):
            set_intermediate_activation(block, intermediate_activation)
            add_adapters(
                block,
                adapter_size=None if index >= first_adapted else 0,
                adapter_config=config,
            )
        self.adapter_config = config
        self.adapter_size = adapter_size
        self.adapter_init_scale = config.init_scale
        self.adapter_activation = config.activation_fn
        self.adapter_layers = adapter_layers
        self.intermediate_activation = intermediate_activation

    @property
    def adapters(self):
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
        config.update(
            adapter_config=self.adapter_config.get_config(),
            adapter_layers=self.adapter_layers,
            intermediate_activation=keras.activations.serialize(
                self.intermediate_activation
            ),
        )
        return config

    @classmethod
    def from_preset(
        cls,
        preset,
        adapter_size=None,
        adapter_init_scale=None,
        adapter_activation=None,
        adapter_layers=None,
        load_weights=True,
        adapter_config=None,
        intermediate_activation=None,
        **kwargs,
    ):
        """Builds an adapter backbone from a pretrained BERT preset.

        A plain BERT preset is loaded once, by
        `keras_hub.models.BertBackbone.from_preset()`, and the loaded model
        gets adapters in place: it is returned as an `AdapterBertBackbone`.

        Args:
            preset: a keras-hub preset id (`"bert_base_en_uncased"`), a local
                keras-hub preset folder, a local Hugging Face BERT folder
                (`config.json`, `model.safetensors`, `vocab.txt`), or a
                folder saved from an `AdapterBertBackbone`.
            adapter_size: int. Bottleneck width of the new adapters; `0`
                for none. Defaults to the config's for a plain BERT preset;
                an adapter preset keeps its own size (passing a different
                one is an error).
            adapter_init_scale: float. Initializer standard deviation of the
                new adapters. Defaults to the config's.
            adapter_activation: adapter non-linearity. Defaults to the
                config's.
            adapter_layers: int or `None`. Adapters only in the top
                `adapter_layers` blocks of a plain BERT preset; `None` (the
                default) for every block. An adapter preset keeps its own
                (passing a different one is an error).
            load_weights: bool. Whether to load the pretrained weights.
            adapter_config: the adapter config of a plain BERT preset's new
                adapters: an `AdapterConfig` or its name. Defaults to
                adapter-bert's. An adapter preset keeps its own (passing a
                different one is an error).
            intermediate_activation: the feedforward activation of a plain
                BERT preset's blocks: `None` (keras-hub's tanh GELU, the
                default), an activation, or `"auto"`: the `hidden_act` of a
                local Hugging Face folder's `config.json` (`"gelu"` is the
                exact GELU, as Hugging Face and AdapterHub compute it),
                keras-hub's for other presets.
            **kwargs: forwarded to the preset loader (e.g. `dtype`).

        Returns:
            An `AdapterBertBackbone`.

        Raises:
            ValueError: the preset is not a BERT model, cannot be read, or
                its weights do not fit (the message names the variables).

        Example:

        ```python
        backbone = keras_adapters.models.AdapterBertBackbone.from_preset(
            "bert_base_en_uncased", adapter_size=64, adapter_layers=6
        )
        ```
        """
        saved_cls = preset_backbone_class(preset)
        if issubclass(saved_cls, AdapterBertBackbone):
            with readable_load_errors(preset):
                backbone = super().from_preset(
                    preset, load_weights=load_weights, **kwargs
                )
            check_adapter_settings(
                preset, backbone, adapter_size, adapter_layers, adapter_config
            )
            return backbone
        if saved_cls is not BertBackbone:
            raise KerasAdaptersError(
                f"Preset '{preset}' is a {saved_cls.__name__}, not a BERT "
                "model (keras_hub.models.BertBackbone); adapters here are "
                "built for BERT encoders."
            )
        config = resolve_adapter_config(
            adapter_config, adapter_size, adapter_init_scale, adapter_activation
        )
        if intermediate_activation == "auto":
            intermediate_activation = checkpoint_activation(preset)
        with readable_load_errors(preset):
            backbone = BertBackbone.from_preset(
                preset, load_weights=load_weights, **kwargs
            )
        # The loaded model is the one `cls(**config)` would build, with its
        # pretrained weights: it only lacks the adapters.
        backbone.__class__ = cls
        backbone._add_adapters(config, adapter_layers, intermediate_activation)
        return backbone
