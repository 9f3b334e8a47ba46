"""Names and shapes of BERT / adapter-bert TF1 checkpoint variables.

Maps each Keras variable of an adapter BERT model to the variable the
original TensorFlow 1 code (google-research/bert and adapter-bert) stores for
it, and converts values both ways. Every conversion is a reshape, except the
classifier kernel, which the original stores transposed (`output_weights`
is `[num_labels, hidden]`).
"""

import dataclasses
import re

import numpy as np

from keras_adapters.errors import KerasAdaptersError

_BLOCK_PATH = re.compile(r"^transformer_layer_(\d+)/(.+)$")

# Keras path inside a block -> (TF1 name inside `bert/encoder/layer_i/`,
# how the TF1 shape follows from the Keras shape).
_BLOCK_NAMES = {
    "self_attention_layer/query/kernel": (
        "attention/self/query/kernel",
        "merge_last",
    ),
    "self_attention_layer/query/bias": ("attention/self/query/bias", "flatten"),
    "self_attention_layer/key/kernel": (
        "attention/self/key/kernel",
        "merge_last",
    ),
    "self_attention_layer/key/bias": ("attention/self/key/bias", "flatten"),
    "self_attention_layer/value/kernel": (
        "attention/self/value/kernel",
        "merge_last",
    ),
    "self_attention_layer/value/bias": ("attention/self/value/bias", "flatten"),
    "self_attention_layer/attention_output/kernel": (
        "attention/output/dense/kernel",
        "merge_first",
    ),
    "self_attention_layer/attention_output/bias": (
        "attention/output/dense/bias",
        "same",
    ),
    "self_attention_layer_norm/gamma": (
        "attention/output/LayerNorm/gamma",
        "same",
    ),
    "self_attention_layer_norm/beta": (
        "attention/output/LayerNorm/beta",
        "same",
    ),
    "feedforward_intermediate_dense/kernel": (
        "intermediate/dense/kernel",
        "same",
    ),
    "feedforward_intermediate_dense/bias": ("intermediate/dense/bias", "same"),
    "feedforward_output_dense/kernel": ("output/dense/kernel", "same"),
    "feedforward_output_dense/bias": ("output/dense/bias", "same"),
    "feedforward_layer_norm/gamma": ("output/LayerNorm/gamma", "same"),
    "feedforward_layer_norm/beta": ("output/LayerNorm/beta", "same"),
}
for _keras_scope, _tf1_scope in (
    ("self_attention_adapter", "attention/output/adapters"),
    ("feedforward_adapter", "output/adapters"),
):
    _BLOCK_NAMES.update(
        {
            f"{_keras_scope}/down_kernel": (f"{_tf1_scope}/weights1", "same"),
            f"{_keras_scope}/down_bias": (f"{_tf1_scope}/biases1", "row"),
            f"{_keras_scope}/up_kernel": (f"{_tf1_scope}/weights2", "same"),
            f"{_keras_scope}/up_bias": (f"{_tf1_scope}/biases2", "row"),
        }
    )

_TOP_NAMES = {
    "token_embedding/embeddings": ("bert/embeddings/word_embeddings", "same"),
    "position_embedding/embeddings": (
        "bert/embeddings/position_embeddings",
        "same",
    ),
    "segment_embedding/embeddings": (
        "bert/embeddings/token_type_embeddings",
        "same",
    ),
    "embeddings_layer_norm/gamma": ("bert/embeddings/LayerNorm/gamma", "same"),
    "embeddings_layer_norm/beta": ("bert/embeddings/LayerNorm/beta", "same"),
    "pooled_dense/kernel": ("bert/pooler/dense/kernel", "same"),
    "pooled_dense/bias": ("bert/pooler/dense/bias", "same"),
    # The adapter-bert / BERT classifier head.
    "logits/kernel": ("output_weights", "transpose"),
    "logits/bias": ("output_bias", "same"),
}

_TF1_SHAPES = {
    "same": lambda s: tuple(s),
    "flatten": lambda s: (int(np.prod(s)),),
    "merge_last": lambda s: (s[0], s[1] * s[2]),
    "merge_first": lambda s: (s[0] * s[1], s[2]),
    "row": lambda s: (1, s[0]),
    "transpose": lambda s: tuple(reversed(s)),
}

# Checkpoint entries that are not model weights, or belong to BERT's
# pretraining heads (masked LM and next sentence), which fine-tuning drops.
_IGNORED = re.compile(r"(^|/)(adam_m|adam_v)$|^global_step$|^cls/")


@dataclasses.dataclass(frozen=True)
class OriginalName:
    """Where one Keras variable lives in an original TF1 checkpoint.

    Args:
        name: the TF1 variable name, e.g. `bert/pooler/dense/kernel`.
        keras_shape: the shape of the Keras variable.
        layout: how the TF1 shape follows from the Keras one.
    """

    name: str
    keras_shape: tuple
    layout: str

    @property
    def tf1_shape(self):
        return _TF1_SHAPES[self.layout](self.keras_shape)

    def to_keras(self, value):
        """Converts a checkpoint array to the Keras variable's layout."""
        value = np.asarray(value)
        if self.layout == "transpose":
            value = value.T
        return value.reshape(self.keras_shape)

    def to_tf1(self, value):
        """Converts a Keras variable value to the checkpoint layout."""
        value = np.asarray(value)
        if self.layout == "transpose":
            return np.ascontiguousarray(value.T)
        return value.reshape(self.tf1_shape)


def original_name(path, shape):
    """The `OriginalName` of a Keras variable path, or `None` if it has none.

    Args:
        path: a Keras variable path such as
            `transformer_layer_0/self_attention_adapter/down_bias`.
        shape: the variable's shape.
    """
    block = _BLOCK_PATH.match(path)
    if block:
        index, inner = block.groups()
        if inner not in _BLOCK_NAMES:
            return None
        name, layout = _BLOCK_NAMES[inner]
        name = f"bert/encoder/layer_{index}/{name}"
    elif path in _TOP_NAMES:
        name, layout = _TOP_NAMES[path]
    else:
        return None
    return OriginalName(name, tuple(int(d) for d in shape), layout)


def original_names(model):
    """`{keras_path: OriginalName}` for every variable of `model`.

    Raises:
        ValueError: a variable has no original name (a head this format
            cannot hold).
    """
    names = {}
    for variable in model.weights:
        mapped = original_name(variable.path, variable.shape)
        if mapped is None:
            raise KerasAdaptersError(
                f"Variable '{variable.path}' has no name in the original "
                "BERT checkpoint format (only the backbone, adapters and the "
                "classifier head do)."
            )
        names[variable.path] = mapped
    return names


def is_ignored(name):
    """Whether a checkpoint entry is skipped on load (optimizer slots,
    `global_step`, pretraining heads under `cls/`)."""
    return bool(_IGNORED.search(name))
