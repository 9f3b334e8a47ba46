"""The weights of an AdapterHub folder: their names, files and shapes.

AdapterHub names a BERT adapter's weights
`bert.encoder.layer.{i}.attention.output.adapters.{name}.adapter_down.0.weight`
(`...layer.{i}.output.adapters...` for the feedforward adapter, `adapter_up`
for the up-projection; RoBERTa's and ELECTRA's the same under `roberta.` and
`electra.`, DistilBERT's `distilbert.transformer.layer.{i}.attention_adapters.
adapters...` and `...output_adapters.adapters...`) and a head's
`heads.{name}.{index}.weight`, with
PyTorch's `[out, in]` kernels. Here they are keyed by what they are in
Keras: `(block, sublayer, "down_kernel")` and `(dense_index, "kernel")`,
with Keras' `[in, out]` kernels.
"""

import os
import re

import numpy as np
import safetensors
import safetensors.numpy

from keras_adapters.adapterhub.torch_files import read_tensor_file
from keras_adapters.adapterhub.torch_files import write_tensor_file
from keras_adapters.errors import ArtifactError
from keras_adapters.output_files import save_safetensors

_BERT_SUBLAYERS = {
    "self_attention": "attention.output",
    "feedforward": "output",
}
# By Hugging Face model type: AdapterHub's path to the blocks and, in a
# block, to each sublayer's adapters.
MODEL_MODULES = {
    "bert": ("bert.encoder.layer", _BERT_SUBLAYERS),
    "roberta": ("roberta.encoder.layer", _BERT_SUBLAYERS),
    "xlm-roberta": ("roberta.encoder.layer", _BERT_SUBLAYERS),
    "electra": ("electra.encoder.layer", _BERT_SUBLAYERS),
    "distilbert": (
        "distilbert.transformer.layer",
        {
            "self_attention": "attention_adapters",
            "feedforward": "output_adapters",
        },
    ),
}
PARAMETERS = {
    "down_kernel": "adapter_down.0.weight",
    "down_bias": "adapter_down.0.bias",
    "up_kernel": "adapter_up.weight",
    "up_bias": "adapter_up.bias",
}
# adapter-transformers' module names, renamed on load as AdapterHub does.
LEGACY_RENAMES = (
    ("attention_text_task_adapters", "adapters"),
    ("attention_text_lang_adapters", "adapters"),
    ("layer_text_task_adapters", "adapters"),
    ("layer_text_lang_adapters", "adapters"),
)
_LAYER = re.compile(r"(?:encoder|transformer)\.layer\.(\d+)\.")


def adapter_weight_name(
    adapter_name, block, sublayer, parameter, model_type="bert"
):
    """AdapterHub's name of one adapter weight of a model of `model_type`
    (`BertAdapterModel`, `RobertaAdapterModel`, ...)."""
    blocks, sublayers = MODEL_MODULES[model_type]
    return (
        f"{blocks}.{block}.{sublayers[sublayer]}."
        f"adapters.{adapter_name}.{PARAMETERS[parameter]}"
    )


def head_module_indices(layers, has_activation):
    """The module index of each dense layer of an AdapterHub head.

    AdapterHub's head is a `torch.nn.Sequential` of, per layer, dropout,
    the linear layer and (except after the last) the activation, so a
    2-layer tanh head has its linear layers at 1 and 4.
    """
    indices, index = [], 0
    for layer in range(layers):
        indices.append(index + 1)
        index += 2 + int(has_activation and layer < layers - 1)
    return indices


def head_weight_name(head_name, module_index, parameter):
    """AdapterHub's name of a head weight (`"kernel"` or `"bias"`)."""
    suffix = "weight" if parameter == "kernel" else "bias"
    return f"heads.{head_name}.{module_index}.{suffix}"


def to_keras(name, value):
    """A PyTorch `[out, in]` kernel as Keras' `[in, out]`; biases as is."""
    return np.transpose(value) if name.endswith("weight") else value


def read_weights(path):
    """`{name: array}` of a `.safetensors` or `.bin` weights file.

    Raises:
        ArtifactError: a missing, truncated or unsafe file.
    """
    if path.endswith(".bin"):
        return read_tensor_file(path)
    try:
        return safetensors.numpy.load_file(path)
    except (safetensors.SafetensorError, OSError) as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        raise ArtifactError(
            f"{path} is not a readable safetensors file ({reason}); copy the "
            "folder again."
        ) from None


def write_weights(arrays, path):
    """Writes `{name: array}` as safetensors or (`.bin`) a torch file."""
    arrays = {
        name: np.ascontiguousarray(value, dtype="float32")
        for name, value in arrays.items()
    }
    if path.endswith(".bin"):
        write_tensor_file(arrays, path)
    else:
        save_safetensors(arrays, path)


def _canonical(name, model_type):
    for old, new in LEGACY_RENAMES:
        name = name.replace(old, new)
    prefix = MODEL_MODULES[model_type][0].split(".")[0] + "."
    if name.startswith(("encoder.", "transformer.")):
        name = prefix + name
    return name


def _blocks(names):
    return sorted({int(m.group(1)) for m in map(_LAYER.search, names) if m})


def adapter_weights(config, num_layers, hidden_dim):
    """Reads and checks the adapter weights of a folder for a base model.

    Args:
        config: the folder's `AdapterHubConfig`.
        num_layers: the base model's blocks.
        hidden_dim: the base model's hidden size.

    Returns:
        `{(block, sublayer, parameter): array}` in Keras orientation.

    Raises:
        ArtifactError: weights missing, extra (other adapter kinds, another
            adapter name, other blocks) or of other shapes than the config
            and the base give.
    """
    path = config.weights_file
    width = config.adapter_config.size_for(hidden_dim)
    adapted = config.adapter_layers(num_layers) or num_layers
    expected = {
        adapter_weight_name(
            config.name, block, sublayer, parameter, config.model_type
        ): (
            block,
            sublayer,
            parameter,
        )
        for block in range(num_layers - adapted, num_layers)
        for sublayer in config.adapter_config.sublayers
        for parameter in PARAMETERS
    }
    stored = {
        _canonical(name, config.model_type): value
        for name, value in read_weights(path).items()
    }
    if _blocks(stored) != _blocks(expected):
        raise ArtifactError(
            f"{path} holds adapters for blocks {_blocks(stored)}, but the base "
            f"model has {num_layers} blocks (leave_out "
            f"{list(config.leave_out)}): it was trained on another model. "
            "Load it onto the model it was trained on."
        )
    _check_names(path, stored, expected)
    shapes = {
        "down_kernel": (width, hidden_dim),
        "down_bias": (width,),
        "up_kernel": (hidden_dim, width),
        "up_bias": (hidden_dim,),
    }
    weights = {}
    for name, key in expected.items():
        _check_shape(path, name, stored[name], shapes[key[2]])
        weights[key] = to_keras(name, stored[name])
    return weights


def head_weights(config, hidden_dim):
    """Reads and checks a folder's head weights.

    Returns:
        `{(dense_index, "kernel" or "bias"): array}` in Keras orientation.

    Raises:
        ArtifactError: weights missing, extra or of other shapes.
    """
    head = config.head
    path = config.head_weights_file
    indices = head_module_indices(head.layers, head.activation is not None)
    expected, shapes = {}, {}
    for layer, index in enumerate(indices):
        last = layer == head.layers - 1
        width = head.num_labels if last else hidden_dim
        name = head_weight_name(head.name, index, "kernel")
        expected[name], shapes[name] = (layer, "kernel"), (width, hidden_dim)
        if head.bias or not last:
            name = head_weight_name(head.name, index, "bias")
            expected[name], shapes[name] = (layer, "bias"), (width,)
    stored = read_weights(path)
    _check_names(path, stored, expected)
    weights = {}
    for name, key in expected.items():
        _check_shape(path, name, stored[name], shapes[name])
        weights[key] = to_keras(name, stored[name])
    return weights


def _check_names(path, stored, expected):
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        details = []
        if missing:
            details.append(f"lacks {len(missing)} ({missing[0]}, ...)")
        if extra:
            details.append(
                f"holds {len(extra)} keras_adapters does not compute "
                f"({extra[0]}, ...)"
            )
        raise ArtifactError(
            f"{os.path.basename(path)} in {os.path.dirname(path)} "
            f"{' and '.join(details)}; its config does not describe it."
        )


def _check_shape(path, name, value, shape):
    if tuple(np.shape(value)) != tuple(shape):
        raise ArtifactError(
            f"{path}: '{name}' has shape {list(np.shape(value))}, not "
            f"{list(shape)}: the folder does not fit the base model (hidden "
            "size) or its config. Load it onto the model it was trained on."
        )
