"""Reading and writing original BERT / adapter-bert TF1 checkpoints.

The original scripts take a model as `bert_config.json`, `vocab.txt` and a
name-based TF1 checkpoint (`bert_model.ckpt.index` + `.data-*`). keras-hub
has no reader for these; this module maps every variable by name and shape
(see `original_names.py`) in both directions.
"""

import dataclasses
import logging
import os
import re

import keras
import numpy as np
import tensorflow as tf

from keras_adapters.checkpoints.bert_config import read_bert_config
from keras_adapters.checkpoints.bert_config import write_bert_config
from keras_adapters.checkpoints.original_names import is_ignored
from keras_adapters.checkpoints.original_names import original_names
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.models.adapter_backbone import DEFAULT_ADAPTER_SIZE
from keras_adapters.models.adapter_backbone import is_adapter_path
from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_text_classifier import (
    AdapterBertTextClassifier,
)
from keras_adapters.models.adapter_bert_text_classifier_preprocessor import (
    AdapterBertTextClassifierPreprocessor,
)
from keras_adapters.models.adapter_bert_tokenizer import AdapterBertTokenizer
from keras_adapters.tuning import parameter_groups
from keras_adapters.weight_transfer import assign_by_path

logger = logging.getLogger("keras_adapters")

ADAPTER_PROBE = "bert/encoder/layer_0/attention/output/adapters/weights1"
HEAD_NAMES = ("output_weights", "output_bias")

# The released google-research/bert checkpoints, by folder name.
UNCASED_CHECKPOINTS = (
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
)
CASED_CHECKPOINTS = (
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
)


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
    """Refuses a casing that contradicts a well-known BERT checkpoint.

    As the original: the folder name in front of `bert_model.ckpt` is
    compared with Google's released checkpoints; unknown names pass.

    Raises:
        ValueError: e.g. `--do_lower_case=False` with an uncased model.
    """
    if not init_checkpoint:
        return
    match = re.match(r"^.*?([A-Za-z0-9_-]+)/bert_model\.ckpt", init_checkpoint)
    if match is None:
        return
    model_name = match.group(1)
    if model_name in UNCASED_CHECKPOINTS and not do_lower_case:
        actual, case, wanted = "False", "an uncased", "True"
    elif model_name in CASED_CHECKPOINTS and do_lower_case:
        actual, case, wanted = "True", "a cased", "False"
    else:
        return
    raise KerasAdaptersError(
        f"`do_lower_case`={actual} does not match `init_checkpoint`="
        f"{init_checkpoint}: '{model_name}' is {case} model, so pass "
        f"`do_lower_case`={wanted} to tokenize as it was pretrained."
    )


def tokenizer_from_vocab_file(vocab_file, do_lower_case=True):
    """The WordPiece tokenizer of an original `vocab.txt`.

    Args:
        vocab_file: path of the vocabulary, one token per line.
        do_lower_case: bool. Lower-case and strip accents, as the original's
            flag. Defaults to `True`.

    Returns:
        An `AdapterBertTokenizer`.
    """
    if not os.path.isfile(vocab_file):
        raise KerasAdaptersError(
            f"No such file: `vocab_file`={vocab_file}. Point it at the "
            "vocab.txt that came with the checkpoint."
        )
    return AdapterBertTokenizer(vocabulary=vocab_file, lowercase=do_lower_case)


def _open_checkpoint(init_checkpoint):
    try:
        return tf.train.load_checkpoint(init_checkpoint)
    except (tf.errors.OpError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        raise KerasAdaptersError(
            f"Cannot read `init_checkpoint`={init_checkpoint} ({reason}). "
            "Give the checkpoint prefix, e.g. .../bert_model.ckpt, whose "
            ".index and .data-* files exist."
        ) from None


def checkpoint_shapes(init_checkpoint):
    """`{name: shape}` of every entry of a TF1 checkpoint."""
    shapes = _open_checkpoint(init_checkpoint).get_variable_to_shape_map()
    return {name: tuple(shape) for name, shape in shapes.items()}


def checkpoint_adapter_size(init_checkpoint):
    """The adapter size of an adapter-bert checkpoint, `None` without one."""
    shape = checkpoint_shapes(init_checkpoint).get(ADAPTER_PROBE)
    return None if shape is None else int(shape[1])


def checkpoint_num_labels(init_checkpoint):
    """The number of classes of a checkpoint's head, `None` without one."""
    shape = checkpoint_shapes(init_checkpoint).get("output_weights")
    return None if shape is None else int(shape[0])


@dataclasses.dataclass
class CheckpointReport:
    """What `load_tf1_checkpoint` did.

    Attributes:
        loaded: number of model variables filled from the checkpoint.
        fresh: model variables the checkpoint did not have (new adapters or
            a new head), left at their initial values.
        skipped: checkpoint entries not loaded (optimizer slots,
            `global_step`, pretraining heads, a head the model lacks).
    """

    loaded: int
    fresh: list
    skipped: list

    def __str__(self):
        return (
            f"{self.loaded} variables loaded, {len(self.fresh)} fresh "
            f"(adapters/head), {len(self.skipped)} checkpoint entries skipped"
        )


def _listing(names, limit=5):
    names = sorted(names)
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_tf1_checkpoint(model, init_checkpoint):
    """Fills `model` from an original BERT / adapter-bert TF1 checkpoint.

    Every checkpoint variable must land in the model, except optimizer slots
    (`adam_m`, `adam_v`), `global_step`, BERT's pretraining heads (`cls/`)
    and a classifier head when `model` has none. Every model variable must
    be filled, except adapters and the head, which may be fresh. Shapes are
    checked before anything is written.

    Args:
        model: an `AdapterBertBackbone` or an `AdapterBertTextClassifier`.
        init_checkpoint: checkpoint prefix, e.g. `.../bert_model.ckpt`.

    Returns:
        A `CheckpointReport`.

    Raises:
        ValueError: unreadable checkpoint, unknown or missing variables, or
            shapes that differ (the message names them).
    """
    reader = _open_checkpoint(init_checkpoint)
    shapes = {
        name: tuple(shape)
        for name, shape in reader.get_variable_to_shape_map().items()
    }
    names = original_names(model)
    homes = {mapped.name for mapped in names.values()}
    has_head = bool(parameter_groups(model)["head"])
    skipped = [
        name
        for name in shapes
        if is_ignored(name) or (name in HEAD_NAMES and not has_head)
    ]
    unknown = set(shapes) - homes - set(skipped)
    if unknown:
        raise KerasAdaptersError(
            f"{len(unknown)} variable(s) of {init_checkpoint} have no place "
            f"in the model: {_listing(unknown)}. Does `bert_config_file` "
            "describe this checkpoint?"
        )
    mismatched = [
        f"{mapped.name} {shapes[mapped.name]} vs {mapped.tf1_shape}"
        for mapped in names.values()
        if mapped.name in shapes and shapes[mapped.name] != mapped.tf1_shape
    ]
    if mismatched:
        raise KerasAdaptersError(
            f"{len(mismatched)} variable shape(s) of {init_checkpoint} differ "
            f"from the model (checkpoint vs model): {_listing(mismatched)}. "
            "Does `bert_config_file` describe this checkpoint?"
        )
    head_paths = {variable.path for variable in parameter_groups(model)["head"]}

    def may_be_fresh(path):
        return is_adapter_path(path) or path in head_paths

    missing = [
        mapped.name
        for path, mapped in names.items()
        if mapped.name not in shapes and not may_be_fresh(path)
    ]
    if missing:
        raise KerasAdaptersError(
            f"{len(missing)} model variable(s) are missing from "
            f"{init_checkpoint}: {_listing(missing)}. Is this a BERT "
            "checkpoint for `bert_config_file`?"
        )
    values = {
        path: mapped.to_keras(reader.get_tensor(mapped.name))
        for path, mapped in names.items()
        if mapped.name in shapes
    }
    fresh = assign_by_path(
        model, values, allow_unfilled=may_be_fresh, source_name=init_checkpoint
    )
    report = CheckpointReport(len(values), fresh, sorted(skipped))
    logger.info("Loaded %s: %s.", init_checkpoint, report)
    return report


def backbone_from_tf1_checkpoint(
    bert_config_file,
    init_checkpoint=None,
    adapter_size=None,
    adapter_init_scale=1e-3,
    adapter_layers=None,
):
    """Builds an adapter backbone from the original config and checkpoint.

    Args:
        bert_config_file: the original `bert_config.json`.
        init_checkpoint: TF1 checkpoint prefix, or `None` for random weights.
        adapter_size: int or `None`. `None` takes the size of the
            checkpoint's adapter-bert adapters, or `64` when it has none;
            `0` builds a plain BERT. An explicit size that contradicts the
            checkpoint's adapters is an error.
        adapter_init_scale: float. Initializer of fresh adapters.
        adapter_layers: int or `None`. Adapters only in the top
            `adapter_layers` blocks; `None` (the default) for every block.

    Returns:
        An `AdapterBertBackbone`.

    Example:

    ```python
    backbone = keras_adapters.checkpoints.backbone_from_tf1_checkpoint(
        "uncased_L-12_H-768_A-12/bert_config.json",
        "uncased_L-12_H-768_A-12/bert_model.ckpt",
        adapter_size=64,
    )
    ```
    """
    backbone = _configured_backbone(
        bert_config_file,
        init_checkpoint,
        adapter_size,
        adapter_init_scale,
        adapter_layers,
    )
    if init_checkpoint:
        load_tf1_checkpoint(backbone, init_checkpoint)
    return backbone


def _configured_backbone(
    bert_config_file,
    init_checkpoint,
    adapter_size,
    adapter_init_scale,
    adapter_layers,
):
    """The backbone `bert_config.json` describes, not yet loaded."""
    return AdapterBertBackbone(
        **read_bert_config(bert_config_file),
        adapter_size=_resolve_adapter_size(init_checkpoint, adapter_size),
        adapter_init_scale=adapter_init_scale,
        adapter_layers=adapter_layers,
    )


def _resolve_adapter_size(init_checkpoint, adapter_size):
    trained = (
        checkpoint_adapter_size(init_checkpoint) if init_checkpoint else None
    )
    if trained is None:
        return DEFAULT_ADAPTER_SIZE if adapter_size is None else adapter_size
    if adapter_size is not None and adapter_size != trained:
        raise KerasAdaptersError(
            f"`init_checkpoint`={init_checkpoint} holds adapters of size "
            f"{trained}, but `adapter_size`={adapter_size}. Drop the argument "
            "or "
            f"pass `adapter_size`={trained}."
        )
    return trained


def classifier_from_tf1_checkpoint(
    bert_config_file,
    init_checkpoint=None,
    vocab_file=None,
    do_lower_case=True,
    num_classes=None,
    adapter_size=None,
    adapter_init_scale=1e-3,
    adapter_layers=None,
    sequence_length=128,
    **kwargs,
):
    """Builds a classifier from original files, with a trained head if any.

    A checkpoint written by adapter-bert's `run_classifier.py` carries its
    adapters and its `output_weights`/`output_bias` head; both are loaded,
    so the model predicts what the original did.

    Args:
        bert_config_file: the original `bert_config.json`.
        init_checkpoint: TF1 checkpoint prefix or `None`.
        vocab_file: the original `vocab.txt`; gives a raw-string
            preprocessor. `None` for a model fed with token ids.
        do_lower_case: bool, checked against well-known checkpoint names.
        num_classes: int; defaults to the checkpoint head's size.
        adapter_size: see `backbone_from_tf1_checkpoint`.
        adapter_init_scale: float. Initializer of fresh adapters.
        adapter_layers: see `backbone_from_tf1_checkpoint`.
        sequence_length: int. Preprocessor length. Defaults to `128`.
        **kwargs: other `AdapterBertTextClassifier` arguments.

    Returns:
        An `AdapterBertTextClassifier`.
    """
    validate_case_matches_checkpoint(do_lower_case, init_checkpoint)
    trained_classes = (
        checkpoint_num_labels(init_checkpoint) if init_checkpoint else None
    )
    if num_classes is None:
        num_classes = trained_classes
    if num_classes is None and not kwargs.get("regression"):
        raise KerasAdaptersError(
            "The checkpoint has no classifier head; pass num_classes."
        )
    if trained_classes is not None and trained_classes != num_classes:
        raise KerasAdaptersError(
            f"`init_checkpoint`={init_checkpoint} has a head for "
            f"{trained_classes} classes, but the task has {num_classes}."
        )
    preprocessor = None
    if vocab_file is not None:
        preprocessor = AdapterBertTextClassifierPreprocessor(
            tokenizer=tokenizer_from_vocab_file(vocab_file, do_lower_case),
            sequence_length=sequence_length,
        )
    backbone = _configured_backbone(
        bert_config_file,
        init_checkpoint,
        adapter_size,
        adapter_init_scale,
        adapter_layers,
    )
    model = AdapterBertTextClassifier(
        backbone,
        num_classes=num_classes,
        preprocessor=preprocessor,
        **kwargs,
    )
    if init_checkpoint:
        load_tf1_checkpoint(model, init_checkpoint)
    return model


def _check_computes_as_adapter_bert(backbone):
    """Raises unless the original TF1 code would compute `backbone`: BERT's
    tanh GELU, and adapters (if any) of adapter-bert's form."""
    config = backbone.adapter_config
    adapter_bert = AdapterConfig.get("adapter-bert")
    differs = backbone.adapters and (
        config.sublayers != adapter_bert.sublayers
        or config.after_layer_norm
        or config.scaling != 1.0
        or config.activation != adapter_bert.activation
    )
    gelu = keras.activations.serialize(gelu_approximate)
    if differs or (
        keras.activations.serialize(backbone.intermediate_activation) != gelu
    ):
        raise KerasAdaptersError(
            f"A TF1 checkpoint is computed by BERT's and adapter-bert's code "
            f"(tanh GELU everywhere, adapters after both sublayers); this "
            f"model's adapter config '{config.name}' or feedforward "
            "activation computes differently. Export adapter-bert models "
            "only, or save this one with keras_adapters.save_adapters."
        )


def save_tf1_checkpoint(model, checkpoint_prefix):
    """Writes `model` as a TF1 checkpoint with the original variable names.

    The result reads with `tf.train.load_checkpoint` and with the original
    TF1 code: backbone as google-research/bert, adapters as adapter-bert
    (`.../adapters/weights1`, rank-2 `biases1`, ...), a classifier head as
    `output_weights` `[num_labels, hidden]` / `output_bias`.

    Args:
        model: an `AdapterBertBackbone` or `AdapterBertTextClassifier`.
        checkpoint_prefix: output prefix, e.g. `out/bert_model.ckpt`.

    Returns:
        The sorted list of variable names written.
    """
    _check_computes_as_adapter_bert(getattr(model, "backbone", model))
    names = original_names(model)
    variables = {variable.path: variable for variable in model.weights}
    directory = os.path.dirname(checkpoint_prefix)
    if directory:
        os.makedirs(directory, exist_ok=True)
    entries = sorted(
        (mapped.name, mapped.to_tf1(variables[path].numpy()))
        for path, mapped in names.items()
    )
    tf.raw_ops.SaveV2(
        prefix=checkpoint_prefix,
        tensor_names=[name for name, _ in entries],
        shape_and_slices=[""] * len(entries),
        tensors=[np.asarray(value, np.float32) for _, value in entries],
    )
    return [name for name, _ in entries]


def export_tf1(model, directory):
    """Writes the original trio: `bert_config.json`, `vocab.txt`,
    `bert_model.ckpt`.

    Args:
        model: an `AdapterBertBackbone` or `AdapterBertTextClassifier`
            (`vocab.txt` is written when it has a preprocessor).
        directory: output folder.

    Returns:
        The checkpoint prefix.
    """
    backbone = getattr(model, "backbone", model)
    _check_computes_as_adapter_bert(backbone)
    os.makedirs(directory, exist_ok=True)
    write_bert_config(backbone, os.path.join(directory, "bert_config.json"))
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None:
        vocabulary = preprocessor.tokenizer.get_vocabulary()
        with open(os.path.join(directory, "vocab.txt"), "w") as handle:
            handle.write("\n".join(vocabulary) + "\n")
    prefix = os.path.join(directory, "bert_model.ckpt")
    save_tf1_checkpoint(model, prefix)
    return prefix
