"""Keras layers: the adapter module and its configurations, the adapter
Transformer block, the classification and SQuAD span heads."""

from keras_adapters.layers.adapter import Adapter
from keras_adapters.layers.adapter_config import ADAPTER_CONFIGS
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.layers.adapter_transformer_encoder import (
    AdapterTransformerEncoder,
)
from keras_adapters.layers.classification_head import ClassificationHead
from keras_adapters.layers.span_head import SpanHead
from keras_adapters.layers.task_adapters import TaskAdapters

__all__ = [
    "ADAPTER_CONFIGS",
    "Adapter",
    "AdapterConfig",
    "AdapterTransformerEncoder",
    "ClassificationHead",
    "SpanHead",
    "TaskAdapters",
]
