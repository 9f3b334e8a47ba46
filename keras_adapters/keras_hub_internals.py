"""The keras-hub internals that keras_adapters relies on, in one place.

Everything else in keras_adapters uses keras-hub's public API only
(`keras_hub.models.BertBackbone`, `keras_hub.layers.TransformerEncoder`,
...). The names below are not exported by keras-hub; the rest of the
package imports them from here, and `tests/test_keras_hub_internals.py`
checks them against the installed keras-hub, so a keras-hub release that
moves one fails there first.
"""

import contextlib
import inspect

import keras
import keras_hub

# The word and punctuation splits of keras-hub's WordPiece tokenizer. The
# SQuAD preprocessor splits contexts with the same patterns, keeping byte
# offsets, so that its token ids are exactly the tokenizer's.
from keras_hub.src.tokenizers.word_piece_tokenizer import (
    PUNCTUATION_AND_CJK_REGEX,
)
from keras_hub.src.tokenizers.word_piece_tokenizer import PUNCTUATION_REGEX
from keras_hub.src.tokenizers.word_piece_tokenizer import (
    WHITESPACE_AND_PUNCTUATION_REGEX,
)
from keras_hub.src.tokenizers.word_piece_tokenizer import (
    WHITESPACE_PUNCTUATION_AND_CJK_REGEX,
)

# The preset loader: the only way to learn which backbone class a preset
# holds and its config (`loader.config`, converted for a Hugging Face folder
# by `loader.converter.convert_backbone_config`) without building it, and
# to load the tokenizer of a plain preset into this package's preprocessor
# classes (their `from_preset()` would look for a keras-hub preprocessor
# made for the plain backbone class). `PresetLoader`, its Hugging Face
# subclass and the file helpers let `keras_adapters.models.transformers`
# add the converters keras-hub lacks (ELECTRA) or completes (RoBERTa) to
# the same loader.
from keras_hub.src.utils.preset_utils import PresetLoader
from keras_hub.src.utils.preset_utils import check_file_exists
from keras_hub.src.utils.preset_utils import get_file
from keras_hub.src.utils.preset_utils import get_preset_loader
from keras_hub.src.utils.preset_utils import load_json
from keras_hub.src.utils.transformers import convert_roberta
from keras_hub.src.utils.transformers.preset_loader import (
    TransformersPresetLoader,
)

# BERT's tanh-approximated GELU: the function object keras-hub's BERT
# blocks use, looked up by the name keras-hub registers it under (the name
# its saved presets refer to) rather than imported from its module. Adapter
# configs serialize it as `"keras_hub>gelu_approximate"`, as before.
gelu_approximate = keras.saving.get_registered_object(
    "keras_hub>gelu_approximate"
)
if gelu_approximate is None:
    raise ImportError(
        f"keras-hub {keras_hub.__version__} registers no "
        "'keras_hub>gelu_approximate', the activation of BERT's blocks."
    )


def encoder_sublayer(block, sublayer, part):
    """A sublayer's `part` in a keras-hub `TransformerEncoder`: its
    `"dropout"` (the layer that ends it, just before the residual add) or
    its `"layer_norm"`; `sublayer` is `"self_attention"` or
    `"feedforward"`.

    keras-hub keeps them in private attributes that the block's `call()`
    reads, so a layer put there with `set_encoder_sublayer` runs in the
    block's own forward pass.
    """
    return getattr(block, f"_{sublayer}_{part}")


def set_encoder_sublayer(block, sublayer, part, layer):
    """Puts `layer` where `encoder_sublayer` found the sublayer's part."""
    with adding_state(block):
        setattr(block, f"_{sublayer}_{part}", layer)


@contextlib.contextmanager
def adding_state(layer):
    """Lets a built Keras layer take new variables or sublayers.

    A built layer refuses new state; Keras lifts the same lock to add state
    after `build()` (`Dense.enable_lora()`, `Layer.quantize()`). Scopes
    nest: the lock comes back as it was.
    """
    was_locked = layer._tracker.locked
    layer._tracker.unlock()
    try:
        yield layer
    finally:
        if was_locked:
            layer._tracker.lock()


def replace_variable(layer, name, variable):
    """Sets `layer.<name>` to `variable`, untracking the variable it held.

    Keras' own `del layer.<name>` untracks too, but then collects garbage
    on every call; a model that replaces hundreds of variables at once (a
    task added to a `MultiTaskClassifier`) untracks them directly.
    """
    old = getattr(layer, name, None)
    if old is not None:
        layer._untrack_variable(old)
    object.__setattr__(layer, name, variable)


def refresh_call_signature(layer):
    """Makes a layer whose class was replaced in place accept the
    arguments of its new `call()`: Keras reads a layer's call signature
    once, in `__init__`."""
    layer._call_signature = inspect.signature(layer.call)
    layer.call_signature_parameters = list(layer._call_signature.parameters)


__all__ = [
    "adding_state",
    "encoder_sublayer",
    "PUNCTUATION_AND_CJK_REGEX",
    "PUNCTUATION_REGEX",
    "PresetLoader",
    "TransformersPresetLoader",
    "WHITESPACE_AND_PUNCTUATION_REGEX",
    "WHITESPACE_PUNCTUATION_AND_CJK_REGEX",
    "check_file_exists",
    "convert_roberta",
    "gelu_approximate",
    "get_file",
    "get_preset_loader",
    "load_json",
    "refresh_call_signature",
    "replace_variable",
    "set_encoder_sublayer",
]
