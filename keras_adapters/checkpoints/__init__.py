"""Original BERT / adapter-bert TF1 checkpoints: load and export."""

from keras_adapters.checkpoints.bert_config import read_bert_config
from keras_adapters.checkpoints.bert_config import write_bert_config
from keras_adapters.checkpoints.tf1_checkpoint import CheckpointReport
from keras_adapters.checkpoints.tf1_checkpoint import (
    backbone_from_tf1_checkpoint,
)
from keras_adapters.checkpoints.tf1_checkpoint import checkpoint_adapter_size
from keras_adapters.checkpoints.tf1_checkpoint import checkpoint_num_labels
from keras_adapters.checkpoints.tf1_checkpoint import (
    classifier_from_tf1_checkpoint,
)
from keras_adapters.checkpoints.tf1_checkpoint import export_tf1
from keras_adapters.checkpoints.tf1_checkpoint import load_tf1_checkpoint
from keras_adapters.checkpoints.tf1_checkpoint import save_tf1_checkpoint
from keras_adapters.checkpoints.tf1_checkpoint import tokenizer_from_vocab_file
from keras_adapters.checkpoints.tf1_checkpoint import (
    validate_case_matches_checkpoint,
)

__all__ = [
    "CheckpointReport",
    "backbone_from_tf1_checkpoint",
    "checkpoint_adapter_size",
    "checkpoint_num_labels",
    "classifier_from_tf1_checkpoint",
    "export_tf1",
    "load_tf1_checkpoint",
    "read_bert_config",
    "save_tf1_checkpoint",
    "tokenizer_from_vocab_file",
    "validate_case_matches_checkpoint",
    "write_bert_config",
]
