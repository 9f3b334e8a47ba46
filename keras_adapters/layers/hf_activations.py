"""Hugging Face activation names and the Keras activations computing them.

Hugging Face configs (`hidden_act`) and AdapterHub configs
(`non_linearity`, `activation_function`) name activations as transformers'
`ACT2FN` does; this table says which Keras activation computes each.
"""

import keras

from keras_adapters.keras_hub_internals import gelu_approximate

# Hugging Face name -> Keras activation. The first name of each activation
# is the one written back (AdapterHub writes "swish", not "silu").
HF_ACTIVATIONS = {
    "relu": "relu",
    "swish": "silu",
    "silu": "silu",
    "gelu": "gelu",  # The exact (erf) GELU: keras' `approximate=False`.
    "gelu_new": gelu_approximate,
    "gelu_pytorch_tanh": gelu_approximate,
    "tanh": "tanh",
    "sigmoid": "sigmoid",
}


def keras_activation(name):
    """The Keras activation of a Hugging Face activation name (any case),
    or `None` for a name this table lacks."""
    found = HF_ACTIVATIONS.get(str(name).lower())
    return None if found is None else keras.activations.get(found)


def hf_activation_name(activation):
    """The Hugging Face name of a Keras activation, or `None` if it has
    none here."""
    serialized = keras.activations.serialize(keras.activations.get(activation))
    return next(
        (
            name
            for name, known in HF_ACTIVATIONS.items()
            if keras.activations.serialize(keras.activations.get(known))
            == serialized
        ),
        None,
    )
