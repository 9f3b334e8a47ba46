"""A BERT classifier split at a Transformer block: prefix and top."""

import collections

import keras
from keras_hub.models import BertTextClassifier

from keras_adapters.errors import KerasAdaptersError

PrefixSplit = collections.namedtuple("PrefixSplit", ["prefix", "top"])


def split_at_block(classifier, block):
    """Splits a classifier into the part below block `block` and the rest.

    Both parts are functional models cut out of the classifier's own graph,
    so they share its layers and variables: `top(prefix(x))` computes what
    the classifier computes, and training `top` trains the classifier.

    - `prefix`: the backbone's inputs (`token_ids`, `segment_ids`,
      `padding_mask`) -> the hidden states entering block `block`
      (embeddings, their LayerNorm and dropout, blocks `0..block-1`),
      `[batch, seq, hidden_dim]` in the backbone's compute dtype.
    - `top`: `{"hidden_states", "padding_mask"}` -> the classifier's
      outputs (blocks `block..`, the pooler and the head).

    Padding positions of `hidden_states` may hold any value: attention masks
    them out, so the outputs at real positions do not depend on them.

    Args:
        classifier: an `AdapterBertTextClassifier` (or a keras-hub
            `BertTextClassifier`).
        block: int, from `0` (the prefix is the embeddings) to the number
            of blocks (the top is the pooler and the head).

    Returns:
        A `PrefixSplit(prefix, top)` of `keras.Model`s.

    Example:

    ```python
    prefix, top = split_at_block(classifier, 3)
    hidden = prefix.predict_on_batch(features)
    logits = top.predict_on_batch(
        {"hidden_states": hidden, "padding_mask": features["padding_mask"]}
    )  # == classifier.predict_on_batch(features), in inference mode
    ```
    """
    if not isinstance(classifier, BertTextClassifier):
        name = type(classifier).__name__
        raise KerasAdaptersError(
            "The frozen prefix is split out of BERT classifiers (pooler and "
            f"keras-hub's BertTextClassifier head); a {name} has another "
            "head. Train it without the cached prefix."
        )
    backbone = classifier.backbone
    blocks = backbone.transformer_layers
    if not 0 <= block <= len(blocks):
        raise KerasAdaptersError(
            f"`block` must be between 0 and the number of blocks "
            f"({len(blocks)}), got {block}."
        )
    # The tensors of the backbone's graph where the two parts meet.
    hidden = (
        blocks[block - 1] if block else backbone.embeddings_dropout
    ).output
    padding_mask = backbone.input["padding_mask"]
    prefix = keras.Model(backbone.input, hidden, name="prefix")
    backbone_top = keras.Model(
        [hidden, padding_mask],
        backbone.output["pooled_output"],
        name="backbone_top",
    )
    head = keras.Model(
        classifier.output_dropout.input, classifier.output, name="head"
    )
    inputs = {
        "hidden_states": keras.Input(
            shape=(None, backbone.hidden_dim),
            dtype=hidden.dtype,
            name="hidden_states",
        ),
        "padding_mask": keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        ),
    }
    pooled = backbone_top([inputs["hidden_states"], inputs["padding_mask"]])
    top = keras.Model(inputs, head(pooled), name="top")
    return PrefixSplit(prefix, top)
