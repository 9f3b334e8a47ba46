"""Keras layers: the adapter module and the adapter Transformer block."""

from keras_adapters.layers.adapter import Adapter
from keras_adapters.layers.adapter_transformer_encoder import (
    AdapterTransformerEncoder,
)

__all__ = ["Adapter", "AdapterTransformerEncoder"]
