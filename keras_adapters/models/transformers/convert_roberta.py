"""keras-hub's RoBERTa converter, with the token type embedding it drops.

Hugging Face's RoBERTa adds `token_type_embeddings[0]` to every token;
keras-hub's `convert_roberta` ignores it (it is zero in the checkpoints
converted from fairseq, such as roberta-base, but not in a RoBERTa trained
with transformers). As keras-hub's own `convert_xlm_roberta` does for
XLM-RoBERTa, `convert_weights` here adds it to the position embeddings,
so the model computes what Hugging Face computes. Everything else is
keras-hub's converter.
"""

from keras_adapters.keras_hub_internals import convert_roberta

backbone_cls = convert_roberta.backbone_cls
convert_backbone_config = convert_roberta.convert_backbone_config
convert_tokenizer = convert_roberta.convert_tokenizer


def convert_weights(backbone, loader, transformers_config):
    """keras-hub's `convert_roberta.convert_weights`, then the token type
    embedding of type 0 folded into the position embeddings."""
    convert_roberta.convert_weights(backbone, loader, transformers_config)
    token_type = loader.get_tensor(
        "roberta.embeddings.token_type_embeddings.weight"
    )[0]
    positions = backbone.embeddings.position_embedding.position_embeddings
    positions.assign(positions + token_type)
