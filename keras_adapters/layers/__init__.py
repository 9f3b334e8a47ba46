"""Keras layers: the adapter module, the adapter Transformer block and the
SQuAD span head."""

from keras_adapters.layers.adapter import Adapter
from keras_adapters.layers.adapter_transformer_encoder import (
    AdapterTransformerEncoder,
)
from keras_adapters.layers.span_head import SpanHead
from keras_adapters.layers.task_adapters import TaskAdapters

__all__ = ["Adapter", "AdapterTransformerEncoder", "SpanHead", "TaskAdapters"]
