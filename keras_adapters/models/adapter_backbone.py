"""Adapters in the Transformer blocks of any keras-hub encoder backbone.

`AdapterBackbone` is the one mechanism: mixed into a keras-hub backbone
class whose blocks are `keras_hub.layers.TransformerEncoder` layers
(`BertBackbone`, `RobertaBackbone`, ...), it lets keras-hub's own
constructor (or preset loader) build and wire the model, then turns each
block into an `AdapterTransformerEncoder` in place. A family is one small
subclass (`class AdapterRobertaBackbone(AdapterBackbone, RobertaBackbone)`);
every family has the parent's variable paths plus the adapters'.
"""

import contextlib
import json
import os

import keras
import safetensors

from keras_adapters.errors import KerasAdaptersError
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
from keras_adapters.models.transformers.preset_loader import preset_loader

DEFAULT_ADAPTER_SIZE = ADAPTER_CONFIGS["adapter-bert"].adapter_size
# keras-hub encoders whose blocks cannot take adapters here, and why.
UNSUPPORTED_REASONS = {
    "AlbertBackbone": "ALBERT shares one block across depth",
    "DebertaV3Backbone": "DeBERTa-v3 has its own attention layer",
}


class UnsupportedFamilyError(KerasAdaptersError):
    """A preset or backbone of a family that takes no adapters here."""


def is_adapter_path(path):
    """Whether a variable path belongs to an adapter module."""
    return "_adapter/" in path


def _preset_loader_call(preset, read):
    """`read(loader)` for the preset loader of `preset`, with one-line
    errors for a preset that cannot be found or read."""
    try:
        return read(preset_loader(preset))
    except (ValueError, OSError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise KerasAdaptersError(
            f"Cannot read preset '{preset}': {first_line} Give a keras-hub "
            "preset id, a folder saved with `save_to_preset`, or a Hugging "
            "Face folder of a supported family (config.json, "
            "model.safetensors and its tokenizer files)."
        ) from None


def preset_backbone_class(preset):
    """Returns the backbone class a preset (id or folder) was saved from.

    Raises:
        KerasAdaptersError: the preset cannot be found or read, in one line.
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
        KerasAdaptersError: the preset cannot be found or read, in one line.
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
        The Keras activation matching the `hidden_act` (DistilBERT:
        `activation`) of a local Hugging Face folder's `config.json`, or
        `None` for any other preset: the activation keras-hub builds.

    Raises:
        KerasAdaptersError: an activation with no Keras counterpart here.
    """
    path = os.path.join(os.fspath(preset), "config.json")
    hidden_act = None
    if os.path.isfile(path):
        with open(path) as handle:
            config = json.load(handle)
        hidden_act = config.get("hidden_act", config.get("activation"))
    if not isinstance(hidden_act, str):
        return None
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


def subclasses(cls):
    """Every subclass of `cls`, in definition order, without repeats."""
    found = []
    for subclass in cls.__subclasses__():
        for each in [subclass, *subclasses(subclass)]:
            if each not in found:
                found.append(each)
    return found


def adapter_families():
    """The adapter backbone class of every supported family, in the order
    they were defined (BERT first)."""
    return [
        cls for cls in subclasses(AdapterBackbone) if cls.family is not None
    ]


def supported_families():
    """The names of the supported families, e.g. `"BERT, RoBERTa, ..."`."""
    return ", ".join(cls.family for cls in adapter_families())


def _family_or_none(backbone_cls):
    """The adapter backbone class of a keras-hub backbone class, or `None`."""
    if issubclass(backbone_cls, AdapterBackbone):
        return backbone_cls
    for cls in adapter_families():
        if cls.plain_backbone_cls() is backbone_cls:
            return cls
    return None


def unsupported_reason(backbone_cls):
    """Why a keras-hub backbone class takes no adapters, and which do."""
    name = backbone_cls.__name__
    reason = UNSUPPORTED_REASONS.get(name, "its blocks are not keras-hub's")
    return (
        f"a {name} takes no adapters here ({reason}); adapters go into the "
        "keras_hub.layers.TransformerEncoder blocks of "
        f"{supported_families()} backbones"
    )


def adapter_backbone_class(backbone_cls):
    """The adapter backbone class of a keras-hub backbone class.

    Args:
        backbone_cls: a keras-hub backbone class (`RobertaBackbone`), or an
            adapter backbone class (returned as is).

    Returns:
        The `AdapterBackbone` subclass of its family.

    Raises:
        UnsupportedFamilyError: no family takes it, naming the supported
            ones.
    """
    family = _family_or_none(backbone_cls)
    if family is None:
        reason = unsupported_reason(backbone_cls)
        raise UnsupportedFamilyError(f"{reason[0].upper()}{reason[1:]}.")
    return family


def family_of(preset):
    """The adapter backbone class for a preset (id or folder) of any family.

    Args:
        preset: a keras-hub preset id or folder, a Hugging Face folder, or
            a folder saved from an adapter backbone.

    Returns:
        The `AdapterBackbone` subclass that loads it.

    Raises:
        KerasAdaptersError: an unreadable preset, or one of a family that
            takes no adapters here (naming the supported families).

    Example:

    ```python
    keras_adapters.models.family_of("roberta_base_en")  # AdapterRobertaBackbone
    ```
    """
    return adapter_backbone_class(preset_backbone_class(preset))


class AdapterBackbone:
    """Bottleneck adapters in the blocks of a keras-hub encoder backbone.

    A mixin put before a keras-hub backbone class whose Transformer blocks
    are `keras_hub.layers.TransformerEncoder` layers in
    `transformer_layers` (`class AdapterRobertaBackbone(AdapterBackbone,
    RobertaBackbone)`). keras-hub's constructor builds and wires the model;
    the blocks then become `keras_adapters.layers.AdapterTransformerEncoder`
    layers (none in the embeddings or a pooler). The adapter config says
    which sublayers get one and what they compute: adapter-bert's (the
    default: two per block, GELU, the LayerNorms train with them), or
    AdapterHub's `"houlsby"` and `"pfeiffer"` (see
    `keras_adapters.layers.AdapterConfig`). With `adapter_layers=k` only the
    top `k` blocks get adapters (AdapterDrop, Rücklé et al. 2021); the
    blocks below compute exactly what the parent's blocks compute. The
    architecture, layer names and variable paths are the parent's, plus
    the adapters'. With `adapter_size=0` it is the parent model itself,
    which is what the full fine-tuning baseline uses.

    `from_preset()` starts from pretrained weights: any preset the parent's
    `from_preset()` accepts (keras-hub ids, keras-hub folders, Hugging Face
    folders through keras-hub's converters), loaded once, whose blocks get
    adapters that start near the identity. Presets saved from an adapter
    backbone reload with their trained adapters. Called on
    `AdapterBackbone` itself, `from_preset()` picks the preset's family.

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
            blocks' feedforward intermediate dense. Defaults to `None`, the
            one keras-hub builds for the family.
        *args, **kwargs: the arguments of the keras-hub parent backbone.
    """

    # The family's name in messages and docs; `None` on abstract classes.
    family = None
    # The `model_type` of the family's Hugging Face configs (and AdapterHub
    # folders).
    hugging_face_model_type = None

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

    @classmethod
    def plain_backbone_cls(cls):
        """The keras-hub backbone class this family extends."""
        return next(
            base
            for base in cls.__mro__
            if issubclass(base, keras.Model)
            and not issubclass(base, AdapterBackbone)
        )

    def _add_adapters(self, config, adapter_layers, intermediate_activation):
        """Gives the top `adapter_layers` blocks adapters of `config` (every
        block for `None`) and the others none; the blocks stay where they
        are wired."""
        adapter_size = config.size_for(self.hidden_dim)
        adapter_layers = validate_adapter_layers(
            adapter_layers, self.num_layers, adapter_size
        )
        blocks = self.transformer_layers
        intermediate_activation = keras.activations.get(
            intermediate_activation or blocks[0].activation
        )
        first_adapted = self.num_layers - (adapter_layers or self.num_layers)
        for index, block in enumerate(blocks):
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

    @property
    def pooler_layers(self):
        """The pooler dense of families that have one (BERT, ELECTRA)."""
        pooler = getattr(self, "pooled_dense", None)
        return [] if pooler is None else [pooler]

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
        """Builds an adapter backbone from a pretrained preset.

        A plain preset is loaded once, by keras-hub's loader for its
        backbone class (a Hugging Face folder through keras-hub's
        converter), and the loaded model gets adapters in place.

        Args:
            preset: a keras-hub preset id (`"roberta_base_en"`), a local
                keras-hub preset folder, a local Hugging Face folder
                (`config.json`, `model.safetensors` and the tokenizer
                files), or a folder saved from an adapter backbone.
            adapter_size: int. Bottleneck width of the new adapters; `0`
                for none. Defaults to the config's for a plain preset; an
                adapter preset keeps its own size (passing a different one
                is an error).
            adapter_init_scale: float. Initializer standard deviation of the
                new adapters. Defaults to the config's.
            adapter_activation: adapter non-linearity. Defaults to the
                config's.
            adapter_layers: int or `None`. Adapters only in the top
                `adapter_layers` blocks of a plain preset; `None` (the
                default) for every block. An adapter preset keeps its own
                (passing a different one is an error).
            load_weights: bool. Whether to load the pretrained weights.
            adapter_config: the adapter config of a plain preset's new
                adapters: an `AdapterConfig` or its name. Defaults to
                adapter-bert's. An adapter preset keeps its own (passing a
                different one is an error).
            intermediate_activation: the feedforward activation of a plain
                preset's blocks: `None` (the one keras-hub builds, the
                default), an activation, or `"auto"`: the `hidden_act` of a
                local Hugging Face folder's `config.json` (`"gelu"` is the
                exact GELU, as Hugging Face and AdapterHub compute it),
                keras-hub's for other presets.
            **kwargs: forwarded to the preset loader (e.g. `dtype`).

        Returns:
            The adapter backbone of the preset's family.

        Raises:
            KerasAdaptersError: the preset cannot be read, is of another
                family than the calling class, of a family that takes no
                adapters (naming the supported ones), or its weights do not
                fit.

        Example:

        ```python
        backbone = keras_adapters.models.AdapterBackbone.from_preset(
            "roberta_base_en", adapter_size=64, adapter_layers=6
        )
        ```
        """
        saved_cls = preset_backbone_class(preset)
        family = _family_or_none(saved_cls)
        if family is None or not issubclass(family, cls):
            expected = cls.family or "supported"
            advice = (
                unsupported_reason(saved_cls)
                if family is None
                else f"load it with {family.__name__} (or "
                "AdapterBackbone.from_preset)"
            )
            raise UnsupportedFamilyError(
                f"Preset '{preset}' is a {saved_cls.__name__}, not a "
                f"{expected} model: {advice}."
            )
        loader = preset_loader(preset)
        if saved_cls is family:
            with readable_load_errors(preset):
                backbone = loader.load_backbone(
                    saved_cls, load_weights, **kwargs
                )
            check_adapter_settings(
                preset, backbone, adapter_size, adapter_layers, adapter_config
            )
            return backbone
        config = resolve_adapter_config(
            adapter_config, adapter_size, adapter_init_scale, adapter_activation
        )
        if intermediate_activation == "auto":
            intermediate_activation = checkpoint_activation(preset)
        with readable_load_errors(preset):
            backbone = loader.load_backbone(saved_cls, load_weights, **kwargs)
        # The loaded model is the one `family(**config)` would build, with
        # its pretrained weights: it only lacks the adapters.
        backbone.__class__ = family
        backbone._add_adapters(config, adapter_layers, intermediate_activation)
        return backbone
