"""Keras layers: the adapter module and its configurations, the adapter
Transformer block, the classification and SQuAD span heads."""

from keras_adapters.layers.adapter import Adapter
from keras_adapters.layers.adapter_config import ADAPTER_CONFIGS
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.layers.adapter_fusion import AdapterFusion
from keras_adapters.layers.adapter_fusion import add_adapter_fusion
from keras_adapters.layers.adapter_transformer_encoder import (
    AdapterTransformerEncoder,
)
from keras_adapters.layers.classification_head import ClassificationHead
from keras_adapters.layers.span_head import SpanHead
from keras_adapters.layers.task_routing import RoutedAdapter
from keras_adapters.layers.task_routing import RoutedDense
from keras_adapters.layers.task_routing import RoutedLayerNormalization
from keras_adapters.layers.task_routing import task_routing

__all__ = [
    "ADAPTER_CONFIGS",
    "Adapter",
    "AdapterConfig",
    "AdapterFusion",
    "AdapterTransformerEncoder",
    "ClassificationHead",
    "RoutedAdapter",
    "RoutedDense",
    "RoutedLayerNormalization",
    "SpanHead",
    "add_adapter_fusion",
    "task_routing",
]
