"""AdapterFusion over trained adapter artifacts: build, save and load.

`fuse_adapters` puts the adapters of two or more artifacts, trained on one
base model, side by side in every block of that base, frozen, with an
`AdapterFusion` layer per sublayer and a new AdapterHub-style head: only
the fusion layers and the head train. `save_fusion` writes what trained
plus the fingerprint (the weights checksum) of each fused artifact, so that
`load_fusion` refuses, in one line, adapters other than the ones the fusion
was trained with.
"""

import json
import os

import numpy as np

from keras_adapters.artifacts import ADAPTERS
from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_fusion import add_adapter_fusion
from keras_adapters.layers.task_routing import ADAPTER_PARAMETERS
from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapterhub_text_classifier import (
    AdapterHubTextClassifier,
)
from keras_adapters.models.artifact import CONFIG_FILE
from keras_adapters.models.artifact import Artifact
from keras_adapters.models.artifact import file_sha256
from keras_adapters.models.artifact import is_input_names
from keras_adapters.models.fusion_artifact import FUSION_FORMAT
from keras_adapters.models.fusion_artifact import FUSION_WEIGHTS_FILE
from keras_adapters.models.fusion_artifact import FusionArtifact
from keras_adapters.output_files import save_safetensors
from keras_adapters.output_files import write_folder
from keras_adapters.output_files import write_text


def _read_adapters(adapters):
    """`{name: Artifact}`, checked to be fusable together."""
    if not isinstance(adapters, dict) or len(adapters) < 2:
        raise KerasAdaptersError(
            "AdapterFusion fuses two or more adapter artifacts; give "
            "{name: folder, ...} with at least two, e.g. "
            "{'cola': 'cola/adapters', 'sst2': 'sst2/adapters'}."
        )
    artifacts = {}
    for name, directory in adapters.items():
        if not os.path.isdir(os.fspath(directory)):
            raise ArtifactError(
                f"Adapter '{name}': no folder '{directory}'; give the "
                "adapters folder of a finished run (<output_dir>/adapters)."
            )
        try:
            artifacts[name] = Artifact.read(directory)
        except ArtifactError as error:
            raise ArtifactError(f"Adapter '{name}': {error}") from None
    kinds = {name: a.adapter_config.name for name, a in artifacts.items()}
    if len(set(kinds.values())) > 1:
        raise ArtifactError(
            "The fused adapters must share one adapter config; got "
            + ", ".join(f"{name}: {kind}" for name, kind in kinds.items())
            + "."
        )
    return artifacts


def fuse_adapters(
    base, adapters, num_classes=None, labels=None, regression=False, **fusion
):
    """AdapterFusion over trained adapters, with a new head.

    Builds `base` without adapters, checks that every artifact was trained
    on it (architecture and weights fingerprint) over the frozen base (no
    LayerNorm or other base weight of its own: adapters of `"houlsby"` or
    `"pfeiffer"` config, AdapterHub's) with adapters in every block, and
    gives every block the artifacts' adapters, frozen, and an
    `AdapterFusion` per sublayer (`keras_adapters.layers.
    add_adapter_fusion`). The head is a fresh AdapterHub classification
    head. Only the fusion layers and the head are trainable.

    Args:
        base: the preset the adapters were trained on.
        adapters: `{name: artifact folder}`, two or more.
        num_classes: int, the new head's classes (`None` for regression).
        labels: optional class names.
        regression: bool, one score instead of classes.
        **fusion: arguments of `keras_adapters.layers.AdapterFusion`.

    Returns:
        An `AdapterHubTextClassifier` whose `fusion_adapters` lists
        `(name, weights sha256)` of the fused artifacts in order.

    Raises:
        ArtifactError: a missing or corrupted artifact, one trained on
            another base or with its own LayerNorms, or artifacts of
            different adapter configs; the message names the adapter.
        KerasAdaptersError: fewer than two adapters.

    Example:

    ```python
    model = keras_adapters.fuse_adapters(
        preset, {"cola": "cola/adapters", "sst2": "sst2/adapters"},
        num_classes=2,
    )
    model.compile(...)
    model.fit(texts, labels)
    keras_adapters.save_fusion(model, "mrpc_fusion")
    ```
    """
    artifacts = _read_adapters(adapters)
    first = next(iter(artifacts.values()))
    backbone = AdapterBertBackbone.from_preset(
        base,
        adapter_size=0,
        intermediate_activation=first.config["base_model"]["config"].get(
            "intermediate_activation"
        ),
    )
    base_weights = list(backbone.weights)
    base_paths = {variable.path for variable in base_weights}
    fingerprints = {}
    blocks = backbone.transformer_layers
    kind = first.adapter_config
    for name, artifact in artifacts.items():
        try:
            artifact.check_base(backbone, base_weights, fingerprints)
        except ArtifactError as error:
            raise ArtifactError(f"Adapter '{name}': {error}") from None
        own = sorted(set(artifact.weights) & base_paths)
        if own:
            raise ArtifactError(
                f"Adapter '{name}': its artifact trained base weights "
                f"({', '.join(own[:2])}, ...); AdapterFusion shares the frozen "
                "base, so fuse adapters trained with their LayerNorms frozen "
                "(adapter config houlsby or pfeiffer)."
            )
        missing = [
            block.name
            for block in blocks
            for sublayer in kind.sublayers
            if f"{block.name}/{sublayer}_adapter/down_kernel"
            not in artifact.weights
        ]
        if missing:
            raise ArtifactError(
                f"Adapter '{name}': no adapter in {missing[0]}; AdapterFusion "
                "fuses adapters in every block."
            )
    sizes = [a.config["adapter"]["adapter_size"] for a in artifacts.values()]
    for block in blocks:
        fused = add_adapter_fusion(block, kind, sizes, **fusion)
        for sublayer, (layers, _) in fused.items():
            for layer, artifact in zip(layers, artifacts.values()):
                for parameter in ADAPTER_PARAMETERS:
                    path = f"{block.name}/{sublayer}_adapter/{parameter}"
                    getattr(layer, parameter).assign(artifact.weights[path])
    model = AdapterHubTextClassifier(
        backbone,
        num_classes=num_classes,
        labels=labels,
        regression=regression,
        preprocessor=AdapterHubTextClassifier.preset_preprocessor(
            base, backbone
        ),
        tuning_mode="layer_norm",
    )
    train_fusion_and_head(model)
    model.fusion_adapters = [
        (name, artifact.config["weights"]["sha256"])
        for name, artifact in artifacts.items()
    ]
    model.fusion_arguments = dict(fusion)
    return model


def _is_fusion_path(path):
    return "_fusion/" in path


def train_fusion_and_head(model):
    """Makes the fusion layers and the head the only trainable variables."""
    backbone_ids = {id(variable) for variable in model.backbone.weights}
    for variable in model.weights:
        variable.trainable = _is_fusion_path(variable.path) or (
            id(variable) not in backbone_ids
        )


def _stored(model):
    """The variables a fusion artifact stores: fusion layers and head."""
    return {
        variable.path: variable
        for variable in model.weights
        if variable.trainable
    }


def save_fusion(model, directory, labels=None, inputs=None):
    """Saves a `fuse_adapters` model: its fusion layers, its head and the
    fingerprints of the fused artifacts (not their weights).

    Args:
        model: a model from `fuse_adapters` (trained or not).
        directory: the folder to write (as `save_adapters` writes).
        labels: optional class names; defaults to the model's.
        inputs: optional names of the text inputs (`["sentence"]`, or two
            for sentence pairs), for the `MultiTaskClassifier` serving it.

    Returns:
        `directory`.

    Raises:
        KerasAdaptersError: `inputs` that are not one or two names.
    """
    if inputs is not None and not is_input_names(inputs):
        raise KerasAdaptersError(
            f"`inputs` must be one or two input names, got {inputs!r}."
        )
    stored = _stored(model)

    def write(path):
        weights_path = os.path.join(path, FUSION_WEIGHTS_FILE)
        save_safetensors(
            {name: variable.numpy() for name, variable in stored.items()},
            weights_path,
        )
        config = {
            "format": FUSION_FORMAT,
            "adapters": [
                {"name": name, "weights_sha256": sha256}
                for name, sha256 in model.fusion_adapters
            ],
            "fusion": model.fusion_arguments,
            "task": {
                "num_classes": model.num_classes,
                "regression": bool(model.regression),
                "labels": list(labels or model.labels or []) or None,
            },
            "weights": {
                "file": FUSION_WEIGHTS_FILE,
                "sha256": file_sha256(weights_path),
            },
        }
        if inputs is not None:
            config["inputs"] = list(inputs)
        if model.preprocessor is not None:
            config["preprocessor"] = {
                "sequence_length": int(model.preprocessor.sequence_length)
            }
        write_text(
            os.path.join(path, CONFIG_FILE),
            json.dumps(config, indent=2, sort_keys=True),
        )

    write_folder(os.fspath(directory), write, ADAPTERS)
    return directory


def load_fusion(directory, base, adapters):
    """Rebuilds a saved fusion on its base with the adapters it fused.

    Args:
        directory: a folder written by `save_fusion`.
        base: the preset the adapters were trained on.
        adapters: `{name: artifact folder}` of the fused adapters; each
            must be the artifact the fusion was trained with (its weights
            checksum is checked).

    Returns:
        The `fuse_adapters` model with the saved fusion layers and head.

    Raises:
        ArtifactError: a missing or corrupted file, or adapters other than
            the ones the fusion names (one line, naming the adapter).
    """
    fusion = FusionArtifact.read(directory)
    expected = [name for name, _ in fusion.adapters]
    if list(adapters) != expected:
        raise ArtifactError(
            f"'{directory}' fuses {', '.join(expected)} (in that order); got "
            f"{', '.join(adapters)}."
        )
    for name, sha256 in fusion.adapters:
        folder = adapters[name]
        found = Artifact.read(folder).config["weights"]["sha256"]
        if found != sha256:
            raise ArtifactError(
                f"Adapter '{name}' in '{folder}' is not the one "
                f"'{directory}' was trained with (weights fingerprint "
                f"{found[:12]}, expected {sha256[:12]}); give that artifact."
            )
    task = fusion.task
    model = fuse_adapters(
        base,
        adapters,
        num_classes=None if task["regression"] else task["num_classes"],
        labels=task["labels"],
        regression=task["regression"],
        **fusion.fusion_arguments,
    )
    stored = _stored(model)
    if set(fusion.weights) != set(stored):
        raise ArtifactError(
            f"The weights of '{directory}' are other variables than the "
            "fusion it describes; the artifact is corrupted."
        )
    for name, value in fusion.weights.items():
        stored[name].assign(np.asarray(value))
    return model
