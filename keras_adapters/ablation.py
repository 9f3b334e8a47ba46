"""Adapter ablation (Houlsby et al. 2019, section 3.6): a trained model with
the adapters of chosen layers taken out, no retraining."""

import contextlib

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.tuning import backbone_of


@contextlib.contextmanager
def adapters_removed(model, layers):
    """Makes the adapters of `layers` the identity inside the block.

    An adapter computes `x + f(x) W_up + b_up`; with its up-projection
    zeroed it returns `x` exactly, so the block computes what it did
    before adapter tuning (a frozen block with trained LayerNorms). The
    up-projections are zeroed in place (compiled `predict` and `evaluate`
    functions see it without retracing) and restored when the block
    exits, also on an error.

    Args:
        model: an `AdapterBertBackbone` or a task built on one.
        layers: iterable of Transformer block indices, `0` the lowest.

    Yields:
        `model`.

    Example:

    ```python
    with keras_adapters.adapters_removed(classifier, layers=range(0, 3)):
        classifier.evaluate(dev_batches)  # The lower three blocks bare.
    ```
    """
    blocks = backbone_of(model).transformer_layers
    layers = sorted(set(int(layer) for layer in layers))
    for layer in layers:
        if not 0 <= layer < len(blocks):
            raise KerasAdaptersError(
                f"Layer {layer} does not exist: the model has "
                f"{len(blocks)} Transformer blocks (0 to {len(blocks) - 1})."
            )
        if not blocks[layer].adapters:
            raise KerasAdaptersError(
                f"Block {layer} has no adapters (adapter_size=0); there is "
                "nothing to remove."
            )
    saved = []
    try:
        for layer in layers:
            for adapter in blocks[layer].adapters:
                for variable in (adapter.up_kernel, adapter.up_bias):
                    saved.append((variable, variable.numpy()))
                    variable.assign(variable.numpy() * 0)
        yield model
    finally:
        for variable, value in saved:
            variable.assign(value)
