"""Explicit tuning modes: which variables of an adapter BERT model train.

The original adapter-bert chose the trained set implicitly inside its
optimizer. Here the choice is a named mode applied to the variables' own
`trainable` flags, so `model.trainable_weights`, `model.summary()` and the
optimizer all agree, and `tuning_summary()` prints it by group.
"""

import dataclasses

import numpy as np

from keras_adapters.errors import KerasAdaptersError

TUNING_MODES = ("adapters", "full", "layer_norm", "top_k")
GROUPS = ("adapters", "layer_norms", "head", "pooler", "rest")
# The peak learning rate each mode trains well with: 3e-4 for adapters (the
# rate of adapter-bert's own example, and the best of the MiniLM sweep in
# benchmarks/results/accuracy.md, where 1e-3 and 3e-3 never left the CoLA
# majority class); BERT's 5e-5 where whole blocks train.
DEFAULT_LEARNING_RATES = {
    "adapters": 3e-4,
    "layer_norm": 3e-4,
    "full": 5e-5,
    "top_k": 5e-5,
}


@dataclasses.dataclass(frozen=True)
class TuningMode:
    """A validated tuning mode.

    Args:
        mode: one of `"adapters"`, `"full"`, `"layer_norm"`, `"top_k"`.
        top_k: number of top Transformer blocks trained in `"top_k"` mode.
        train_pooler: whether the pooler dense also trains in the
            `"adapters"`, `"layer_norm"` and `"top_k"` modes.
        freeze_below_adapters: in `"adapters"` mode, also freeze the
            embedding LayerNorm and the LayerNorms of the blocks below the
            lowest block with adapters, so that nothing below it trains.
        train_layer_norms: in `"adapters"` mode, whether the pretrained
            LayerNorms train with the adapters (adapter-bert) or stay
            frozen (AdapterHub: adapters and head only). The other modes
            take only `True`.
    """

    mode: str = "adapters"
    top_k: int = None
    train_pooler: bool = False
    freeze_below_adapters: bool = False
    train_layer_norms: bool = True

    def __post_init__(self):
        if self.mode not in TUNING_MODES:
            raise KerasAdaptersError(
                f"Unknown tuning mode '{self.mode}'. Choose one of "
                f"{', '.join(TUNING_MODES)}."
            )
        if (self.mode == "top_k") != (self.top_k is not None):
            raise KerasAdaptersError(
                "Tuning mode 'top_k' needs `top_k` (how many top blocks "
                "train) and no other mode takes it; got mode "
                f"'{self.mode}' with `top_k`={self.top_k}."
            )
        if self.mode == "full" and self.train_pooler:
            raise KerasAdaptersError(
                "`train_pooler` only applies to partial tuning modes; the "
                "pooler already trains in mode 'full'."
            )
        if self.freeze_below_adapters and self.mode != "adapters":
            raise KerasAdaptersError(
                "`freeze_below_adapters` only applies to tuning mode "
                f"'adapters', not '{self.mode}'."
            )
        if not isinstance(self.train_layer_norms, bool) or (
            not self.train_layer_norms and self.mode != "adapters"
        ):
            raise KerasAdaptersError(
                "`train_layer_norms`=False (adapters and head only) applies "
                f"to tuning mode 'adapters' only; got mode '{self.mode}' with "
                f"`train_layer_norms`={self.train_layer_norms!r}."
            )

    def arguments(self):
        """The keyword arguments of `set_tuning_mode` for this mode."""
        return dataclasses.asdict(self)

    def describe(self):
        """A short human-readable description, e.g. `top_k (k=2)`."""
        text = self.mode if self.top_k is None else f"top_k (k={self.top_k})"
        if self.mode != "full":
            text += ", pooler trained" if self.train_pooler else ""
        if self.freeze_below_adapters:
            text += ", frozen below the lowest adapters"
        if not self.train_layer_norms:
            text += ", LayerNorms frozen"
        return text


def backbone_of(model):
    """The adapter backbone of a task (or the backbone itself)."""
    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "layer_norm_layers"):
        raise TypeError(
            f"Expected an adapter backbone or a task built on one, got "
            f"{type(model).__name__}. For a plain model use "
            "AdapterBackbone.from_preset(preset, adapter_size=0)."
        )
    return backbone


def _variable_ids(layers):
    return {id(variable) for layer in layers for variable in layer.weights}


def parameter_groups(model):
    """Splits the variables of a model into the summary groups.

    Args:
        model: an adapter backbone or a task whose `backbone` is one.

    Returns:
        A dict from each of `GROUPS` to its list of variables: `adapters`
        (every adapter module), `layer_norms` (the embedding LayerNorm and
        both LayerNorms of every block), `head` (everything outside the
        backbone), `pooler` (the backbone's pooler dense, for families that
        have one) and `rest` (embeddings, attention and feedforward
        weights).
    """
    backbone = backbone_of(model)
    owners = {
        "adapters": _variable_ids(backbone.adapters),
        "layer_norms": _variable_ids(backbone.layer_norm_layers),
        "pooler": _variable_ids(backbone.pooler_layers),
    }
    backbone_ids = _variable_ids([backbone])
    groups = {group: [] for group in GROUPS}
    for variable in model.weights:
        key = id(variable)
        group = next(
            (name for name, ids in owners.items() if key in ids),
            "rest" if key in backbone_ids else "head",
        )
        groups[group].append(variable)
    return groups


def _trained_ids(model, tuning):
    backbone = backbone_of(model)
    groups = parameter_groups(model)
    if tuning.mode == "full":
        return {id(variable) for variable in model.weights}
    trained = {id(variable) for variable in groups["head"]}
    if tuning.train_pooler and not backbone.pooler_layers:
        raise KerasAdaptersError(
            f"A {type(backbone).__name__} has no pooler to train; drop "
            "`train_pooler` (the task head trains in every mode)."
        )
    if tuning.train_pooler:
        trained |= {id(variable) for variable in groups["pooler"]}
    if tuning.mode == "adapters":
        if not backbone.adapters:
            raise KerasAdaptersError(
                "Tuning mode 'adapters' needs adapters, but the backbone has "
                "adapter_size=0. Build it with adapter_size > 0 or choose "
                "mode 'full', 'layer_norm' or 'top_k'."
            )
        trained |= {id(variable) for variable in groups["adapters"]}
        if tuning.train_layer_norms:
            trained |= {id(variable) for variable in groups["layer_norms"]}
        if tuning.freeze_below_adapters:
            trained -= _variable_ids(_layer_norms_below_adapters(backbone))
    elif tuning.mode == "layer_norm":
        trained |= {id(variable) for variable in groups["layer_norms"]}
    elif tuning.mode == "top_k":
        num_layers = len(backbone.transformer_layers)
        if not 1 <= tuning.top_k <= num_layers:
            raise KerasAdaptersError(
                f"`top_k` must be between 1 and the number of blocks "
                f"({num_layers}), got {tuning.top_k}."
            )
        trained |= _variable_ids(backbone.transformer_layers[-tuning.top_k :])
    return trained


def _layer_norms_below_adapters(backbone):
    """The embedding LayerNorm and those of the blocks below the lowest
    block with adapters."""
    blocks = backbone.transformer_layers
    lowest = next(i for i, block in enumerate(blocks) if block.adapters)
    return [backbone.embeddings_layer_norm] + [
        layer_norm
        for block in blocks[:lowest]
        for layer_norm in block.layer_norms
    ]


def lowest_trained_block(model):
    """The index of the lowest Transformer block that holds a trained
    variable: below it, the encoder is a fixed function of the input.

    Args:
        model: an adapter backbone or a task built on one.

    Returns:
        An int: `0` when an embedding variable (the embedding LayerNorm
        included) trains, the number of blocks when no encoder variable
        trains (the pooler does not count: it reads the top block).

    Example:

    ```python
    backbone = keras_adapters.models.AdapterBertBackbone.from_preset(
        preset, adapter_layers=3
    )  # 6 blocks: adapters in blocks 3, 4 and 5.
    keras_adapters.set_tuning_mode(backbone, "adapters",
                                   freeze_below_adapters=True)
    keras_adapters.lowest_trained_block(backbone)  # 3
    ```
    """
    backbone = backbone_of(model)
    blocks = backbone.transformer_layers
    trained = {id(v) for v in backbone.weights if v.trainable}
    above_embeddings = _variable_ids([*blocks, *backbone.pooler_layers])
    if trained - above_embeddings:
        return 0
    return next(
        (
            i
            for i, block in enumerate(blocks)
            if trained & _variable_ids([block])
        ),
        len(blocks),
    )


def default_train_layer_norms(model, mode):
    """Whether mode `mode` trains the LayerNorms of `model` by default: in
    `"adapters"` mode as its adapter config says (adapter-bert's: yes,
    AdapterHub's: no), in every other mode yes."""
    config = getattr(backbone_of(model), "adapter_config", None)
    return mode != "adapters" or config is None or config.train_layer_norms


def set_tuning_mode(
    model,
    mode,
    top_k=None,
    train_pooler=False,
    freeze_below_adapters=False,
    train_layer_norms=None,
):
    """Puts a model in a tuning mode by setting each variable's `trainable`.

    Modes:
        - `"adapters"` (adapter-bert): every adapter, every pretrained
          LayerNorm (embedding LayerNorm included) and the task head train;
          embeddings, attention, feedforward and the pooler stay frozen.
          With `train_layer_norms=False` (AdapterHub, the default of its
          `"houlsby"` and `"pfeiffer"` configs) the LayerNorms stay frozen
          too: only the adapters and the head train.
        - `"full"`: everything trains.
        - `"layer_norm"`: LayerNorms and the head train.
        - `"top_k"`: the top `top_k` blocks (all their variables) and the
          head train.

    With adapters in the top blocks only (`adapter_layers` of the
    backbone), `"adapters"` mode still trains every LayerNorm;
    `freeze_below_adapters=True` also freezes the embedding LayerNorm and
    the LayerNorms of the blocks without adapters below the lowest adapter,
    so nothing below that block trains and backpropagation stops there.

    Call it after building the model and before `compile()`; setting
    `model.trainable` afterwards resets every flag.

    Args:
        model: an adapter backbone (`AdapterBackbone`) or a task built on one.
        mode: one of `"adapters"`, `"full"`, `"layer_norm"`, `"top_k"`.
        top_k: int, the number of top blocks for `"top_k"`.
        train_pooler: bool. Also train the pooler dense in the partial modes.
            Defaults to `False`, as the original.
        freeze_below_adapters: bool. In `"adapters"` mode, freeze everything
            below the lowest block with adapters. Defaults to `False`.
        train_layer_norms: bool. In `"adapters"` mode, whether the
            pretrained LayerNorms train. Defaults to `None`: as the
            backbone's adapter config says (`True` in the other modes).

    Returns:
        The `TuningMode` applied, also stored as `model.tuning`.

    Example:

    ```python
    keras_adapters.set_tuning_mode(classifier, "top_k", top_k=2)
    keras_adapters.tuning_summary(classifier)
    ```
    """
    if train_layer_norms is None:
        train_layer_norms = default_train_layer_norms(model, mode)
    tuning = TuningMode(
        mode=mode,
        top_k=top_k,
        train_pooler=train_pooler,
        freeze_below_adapters=freeze_below_adapters,
        train_layer_norms=train_layer_norms,
    )
    trained = _trained_ids(model, tuning)
    model.trainable = True
    for variable in model.weights:
        variable.trainable = id(variable) in trained
    model.tuning = tuning
    return tuning


def _size(variable):
    return int(np.prod(variable.shape))


def tuning_summary(model, print_fn=print):
    """Prints and returns trained and total parameters by group.

    Args:
        model: an adapter backbone (`AdapterBackbone`) or a task built on one.
        print_fn: callable receiving the summary text, or `None` to print
            nothing. Defaults to `print`.

    Returns:
        A dict `{group: {"trained": int, "total": int}}` over `GROUPS` plus
        `"total"`.

    Example:

    ```python
    counts = keras_adapters.tuning_summary(classifier)
    counts["adapters"]["trained"]  # 595200 for MiniLM-L6 with m=64
    ```
    """
    counts = {}
    for group, variables in parameter_groups(model).items():
        counts[group] = {
            "trained": sum(_size(v) for v in variables if v.trainable),
            "total": sum(_size(v) for v in variables),
        }
    counts["total"] = {
        key: sum(counts[group][key] for group in GROUPS)
        for key in ("trained", "total")
    }
    if print_fn is not None:
        tuning = getattr(model, "tuning", None)
        title = tuning.describe() if tuning else "custom (no tuning mode set)"
        lines = [
            f"Tuning mode: {title}",
            f"{'group':<12}{'trained':>14}{'total':>14}",
        ]
        for group in GROUPS + ("total",):
            lines.append(
                f"{group:<12}{counts[group]['trained']:>14,}"
                f"{counts[group]['total']:>14,}"
            )
        total = counts["total"]
        share = 100.0 * total["trained"] / max(total["total"], 1)
        lines.append(f"{share:.2f}% of the parameters train.")
        print_fn("\n".join(lines))
    return counts
