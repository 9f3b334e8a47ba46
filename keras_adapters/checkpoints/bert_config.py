"""The original `bert_config.json` <-> `AdapterBertBackbone` arguments."""

import json
import os

from keras_adapters.errors import KerasAdaptersError

_REQUIRED = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)


def read_bert_config(bert_config_file):
    """Reads an original `bert_config.json` into backbone arguments.

    Args:
        bert_config_file: path of the JSON file of google-research/bert.

    Returns:
        A dict of `AdapterBertBackbone` arguments (`vocabulary_size`,
        `num_layers`, `num_heads`, `hidden_dim`, `intermediate_dim`,
        `dropout`, `max_sequence_length`, `num_segments`).

    Raises:
        ValueError: missing file, invalid JSON, a missing key, or an
            activation other than BERT's GELU.
    """
    if not os.path.isfile(bert_config_file):
        raise KerasAdaptersError(
            f"No such file: `bert_config_file`={bert_config_file}. Point it "
            "at the bert_config.json next to the checkpoint."
        )
    try:
        with open(bert_config_file) as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise KerasAdaptersError(
            f"{bert_config_file} is not valid JSON ({error})."
        ) from None
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        raise KerasAdaptersError(
            f"{bert_config_file} lacks {', '.join(missing)}: not a BERT "
            "config file."
        )
    activation = config.get("hidden_act", "gelu")
    if activation != "gelu":
        raise KerasAdaptersError(
            f"{bert_config_file} uses hidden_act='{activation}'; only BERT's "
            "'gelu' (tanh approximation) is supported."
        )
    return {
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config["intermediate_size"],
        "dropout": config.get("hidden_dropout_prob", 0.1),
        "max_sequence_length": config.get("max_position_embeddings", 512),
        "num_segments": config.get("type_vocab_size", 2),
    }


def write_bert_config(backbone, bert_config_file):
    """Writes the original `bert_config.json` describing `backbone`.

    Args:
        backbone: an `AdapterBertBackbone` or `keras_hub` `BertBackbone`.
        bert_config_file: output path.
    """
    config = {
        "attention_probs_dropout_prob": backbone.dropout,
        "hidden_act": "gelu",
        "hidden_dropout_prob": backbone.dropout,
        "hidden_size": backbone.hidden_dim,
        "initializer_range": 0.02,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "num_attention_heads": backbone.num_heads,
        "num_hidden_layers": backbone.num_layers,
        "type_vocab_size": backbone.num_segments,
        "vocab_size": backbone.vocabulary_size,
    }
    with open(bert_config_file, "w") as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
