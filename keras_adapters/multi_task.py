"""One frozen BERT serving many adapter tasks in one forward pass."""

import dataclasses
import re

import keras
from keras import ops

from keras_adapters.artifacts import ArtifactError
from keras_adapters.artifacts import base_fingerprint
from keras_adapters.artifacts import check_base_config
from keras_adapters.artifacts import read_artifact
from keras_adapters.data.glue import GLUE_TASKS
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.task_adapters import FEEDFORWARD_ADAPTER
from keras_adapters.layers.task_adapters import SELF_ATTENTION_ADAPTER
from keras_adapters.layers.task_adapters import TaskAdapters
from keras_adapters.layers.task_adapters import routed_adapter
from keras_adapters.layers.task_adapters import routed_dense
from keras_adapters.layers.task_adapters import routed_layer_norm
from keras_adapters.models import family_of
from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_text_classifier import (
    AdapterBertTextClassifier,
)
from keras_adapters.models.multi_task_preprocessor import MultiTaskPreprocessor

# Task names become SavedModel signature names.
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Tuning modes whose artifacts leave the shared BERT untouched.
_SHAREABLE_MODES = ("adapters", "layer_norm")
# GLUE tasks by a lower-case name without punctuation ("sst2", "sts_b").
_GLUE_BY_NAME = {
    re.sub(r"[^a-z0-9]", "", name.lower()): task
    for name, task in GLUE_TASKS.items()
}


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """What a `MultiTaskClassifier` knows of one of its tasks.

    Attributes:
        name: the task's name (its SavedModel signature name too).
        labels: the class names in class-id order (`None` for regression).
        regression: whether the task outputs one real score.
        pair: whether the task reads sentence pairs.
        sequence_length: the task's tokenized length.
    """

    name: str
    labels: tuple
    regression: bool
    pair: bool
    sequence_length: int

    @property
    def num_outputs(self):
        """Width of the task's head: its classes, or 1 for regression."""
        return 1 if self.regression else len(self.labels)


def _task_pair(name, config, pair):
    """Whether a task reads pairs: as given, as its artifact says, or as the
    GLUE task of that name does."""
    if pair is not None:
        return bool(pair)
    if config.get("inputs") is not None:
        return len(config["inputs"]) == 2
    glue_task = _GLUE_BY_NAME.get(re.sub(r"[^a-z0-9]", "", name))
    if glue_task is None:
        raise ArtifactError(
            "its artifact does not say whether it reads "
            "sentence pairs and it is not a GLUE task name; pass "
            f"`pair_tasks=['{name}']` (or `pair=` to add_task) for a pair "
            "task, `pair_tasks=[]` otherwise."
        )
    return glue_task.is_pair


class MultiTaskClassifier(keras.Model):
    """One frozen BERT that serves many adapter tasks in one forward pass.

    Holds one pretrained BERT encoder, shared and frozen, and for every task
    the parameters its adapters-mode training changed (`TaskAdapters`: the
    adapters, the LayerNorms and the head). Each example of a batch names
    its task in `task_ids` and is computed with that task's adapters,
    LayerNorms and head: the per-task parameters are gathered per example,
    so a batch mixing tasks costs one forward pass of the encoder. Each
    example's outputs equal those of its single-task model
    (`keras_adapters.load_adapters`).

    Tasks may differ in their number of classes, in single sentences vs
    pairs, in adapter size and in which blocks carry adapters (AdapterDrop);
    regression tasks (STS-B) give one score. The outputs are logits padded
    to the widest task: a task's unused columns are `-inf`, so a softmax
    over a row gives that task's probabilities.

    Build it with `from_artifacts()`; grow or shrink it with `add_task()` and
    `remove_task()`, which leave the encoder and the other tasks as they
    are. It is an inference model: train each task on its own
    (`run_classifier.py`, `AdapterBertTextClassifier`) and serve them
    together (`keras_adapters.export_saved_model`); it is rebuilt from its
    artifacts rather than saved as a `.keras` file.

    Args:
        backbone: the shared BERT, an `AdapterBertBackbone` with
            `adapter_size=0` (a plain BERT) holding the pretrained weights
            the tasks were trained on. It is frozen.
        tokenizer: the base model's `BertTokenizer`, for `preprocessor`.
        default_sequence_length: int, the sequence length of tasks whose
            artifact does not record one. Defaults to `128`.
        **kwargs: other `keras.Model` arguments, e.g. `name`.

    Call inputs: a dict of `token_ids`, `segment_ids`, `padding_mask`
    (`[batch, sequence]`) and `task_ids` (`[batch]`, indices into `tasks`).

    Example:

    ```python
    model = keras_adapters.MultiTaskClassifier.from_artifacts(
        "bert_base_en_uncased", {"cola": "cola_adapters", "mrpc": "mrpc"}
    )
    features = model.preprocessor(
        task=["cola", "mrpc"],
        sentence=["Him left.", "He left."],
        sentence2=["", "He went away."],
    )
    logits = model(features)  # [2, 2]: each row with its own task.
    keras_adapters.export_saved_model(model, "glue_server")
    ```
    """

    def __init__(
        self, backbone, tokenizer=None, default_sequence_length=128, **kwargs
    ):
        super().__init__(**kwargs)
        if getattr(backbone, "adapter_size", None) != 0:
            raise KerasAdaptersError(
                "`backbone` must be the plain pretrained BERT (an "
                "AdapterBertBackbone with adapter_size=0); the tasks bring "
                "their own adapters."
            )
        self.backbone = backbone
        self.backbone.trainable = False
        self.tokenizer = tokenizer
        self.default_sequence_length = int(default_sequence_length)
        self.task_layers = {}
        self._infos = {}
        self._fingerprints = {}
        # Every variable exists already: the backbone is built, and each
        # task's layer is built when it is added.
        self.build()

    def build(self, input_shape=None):
        self.built = True

    @classmethod
    def from_artifacts(
        cls, base, artifacts, pair_tasks=None, default_sequence_length=128
    ):
        """Builds one model from a base BERT and each task's artifact.

        Args:
            base: the pretrained BERT every task was trained on: a preset
                (keras-hub id or folder, Hugging Face BERT folder).
            artifacts: dict from task name (lower case, letters, digits and
                `_`, starting with a letter) to an artifact folder written
                by `keras_adapters.save_adapters` (or `run_classifier.py`).
            pair_tasks: optional list of the task names that read sentence
                pairs. Defaults to what each artifact records, else to the
                GLUE task of that name (`mrpc` reads pairs, `cola` does
                not).
            default_sequence_length: int, for artifacts that record none.

        Returns:
            A `MultiTaskClassifier` with the tasks in the given order.

        Raises:
            ArtifactError: an artifact that is missing or corrupted, that
                was trained on another base (architecture or weights), that
                changed the shared BERT (`full`, `top_k` modes, a trained
                pooler), or that is not a text classifier; the message names
                the task.
        """
        if not artifacts:
            raise KerasAdaptersError(
                "`artifacts` is empty; give at least one task, e.g. "
                "{'cola': 'cola_adapters'}."
            )
        unknown = sorted(set(pair_tasks or ()) - set(artifacts))
        if unknown:
            raise KerasAdaptersError(
                f"`pair_tasks` names {', '.join(unknown)}, which `artifacts` "
                f"does not have (its tasks: {', '.join(artifacts)})."
            )
        family = family_of(base)
        if family is not AdapterBertBackbone:
            raise KerasAdaptersError(
                f"Preset '{base}' is a {family.family} model; a "
                "MultiTaskClassifier shares a BERT only. Serve each task of "
                "another family from its own SavedModel "
                "(keras_adapters.export_saved_model)."
            )
        backbone = AdapterBertBackbone.from_preset(
            base, adapter_size=0, dtype="float32"
        )
        tokenizer = AdapterBertTextClassifier.preset_preprocessor(
            base
        ).tokenizer
        model = cls(
            backbone,
            tokenizer=tokenizer,
            default_sequence_length=default_sequence_length,
        )
        for name, directory in artifacts.items():
            pair = None if pair_tasks is None else name in set(pair_tasks)
            model.add_task(name, directory, pair=pair)
        return model

    @property
    def tasks(self):
        """The tasks, in task-id order: a dict from name to `TaskInfo`."""
        return dict(self._infos)

    def task_id(self, name):
        """The index of task `name` in `task_ids`."""
        if name not in self._infos:
            raise KerasAdaptersError(
                f"No task '{name}' in this model; its tasks are: "
                f"{', '.join(self._infos) or 'none'}."
            )
        return list(self._infos).index(name)

    @property
    def preprocessor(self):
        """A `MultiTaskPreprocessor` for the current tasks."""
        if self.tokenizer is None:
            raise KerasAdaptersError(
                "This model has no tokenizer; build it with "
                "`from_artifacts` or pass `tokenizer=`."
            )
        infos = list(self._infos.values())
        return MultiTaskPreprocessor(
            self.tokenizer,
            [info.name for info in infos],
            pair=[info.pair for info in infos],
            sequence_lengths=[info.sequence_length for info in infos],
        )

    def add_task(self, name, directory, pair=None):
        """Adds a task from its artifact; the other tasks stay as they are.

        Args:
            name: the task's name (lower case, letters, digits and `_`,
                starting with a letter).
            directory: its artifact folder.
            pair: optional bool, whether it reads sentence pairs. Defaults
                to what the artifact records, else the GLUE task's.

        Raises:
            ArtifactError: see `from_artifacts`.
        """
        if not isinstance(name, str) or not _TASK_NAME.match(name):
            raise KerasAdaptersError(
                f"Task name {name!r} must be lower case letters, digits and "
                "'_', starting with a letter (it names a SavedModel "
                "signature)."
            )
        if name in self._infos:
            raise KerasAdaptersError(
                f"Task '{name}' is already in the model; remove_task('{name}')"
                " first to replace it."
            )
        try:
            config, weights = read_artifact(directory)
            info, layer = self._task_from_artifact(name, config, weights, pair)
        except ArtifactError as error:
            raise ArtifactError(f"Task '{name}': {error}") from None
        self._track_task(name, layer)
        self._infos[name] = info

    def remove_task(self, name):
        """Removes a task; the other tasks keep their outputs.

        Args:
            name: the task to remove.
        """
        self.task_id(name)
        del self._infos[name]
        self._tracker.unlock()
        try:
            del self.task_layers[name]
        finally:
            self._tracker.lock()
        self._reset_compiled_functions()

    def _track_task(self, name, layer):
        # A built model refuses new sublayers; Keras lifts the same lock to
        # add state after `build()` (`Dense.enable_lora()`).
        self._tracker.unlock()
        try:
            self.task_layers[name] = layer
        finally:
            self._tracker.lock()
        self._reset_compiled_functions()

    def _reset_compiled_functions(self):
        """Makes `predict()` trace again: the tasks it captured changed."""
        self.predict_function = None
        self.test_function = None
        self.train_function = None

    def _task_from_artifact(self, name, config, weights, pair):
        """Checks an artifact against the shared BERT; builds its layer."""
        task = config["task"]
        adapter_config = config["adapter"].get("adapter_config")
        if adapter_config and adapter_config.get("name") != "adapter-bert":
            raise ArtifactError(
                f"its adapters are {adapter_config.get('name')!r}; a "
                "MultiTaskClassifier serves adapter-bert's adapters only."
            )
        if task["class"] != AdapterBertTextClassifier.__name__:
            raise ArtifactError(
                f"the artifact holds a {task['class']}; a "
                "MultiTaskClassifier serves BERT text classifiers "
                "(AdapterBertTextClassifier) only."
            )
        tuning = config["tuning"]
        if tuning["mode"] not in _SHAREABLE_MODES or tuning["train_pooler"]:
            raise ArtifactError(
                f"it was trained in `{tuning['mode']}` mode"
                f"{' with the pooler' if tuning['train_pooler'] else ''}, "
                "which changes the shared BERT; only adapters and layer_norm "
                "modes (pooler frozen) share one."
            )
        if keras.activations.get(task["activation"]) not in (
            keras.activations.linear,
            None,
        ):
            raise ArtifactError(
                f"its head has activation {task['activation']!r}; a "
                "MultiTaskClassifier serves logit heads (activation=None)."
            )
        check_base_config(config, self.backbone)
        self._check_fingerprint(config, weights)
        layer = self._task_layer(name, config, weights)
        regression = bool(task["regression"])
        labels = None
        if not regression:
            labels = config["labels"] or range(task["num_classes"])
            labels = tuple(str(label) for label in labels)
        sequence_length = min(
            config.get("preprocessor", {}).get(
                "sequence_length", self.default_sequence_length
            ),
            self.backbone.max_sequence_length,
        )
        info = TaskInfo(
            name=name,
            labels=labels,
            regression=regression,
            pair=_task_pair(name, config, pair),
            sequence_length=int(sequence_length),
        )
        return info, layer

    def _check_fingerprint(self, config, weights):
        """Checks the frozen weights the artifact saw are the backbone's."""
        excluded = frozenset(weights) & {
            variable.path for variable in self.backbone.weights
        }
        if excluded not in self._fingerprints:
            self._fingerprints[excluded] = base_fingerprint(
                self.backbone, excluded
            )
        if self._fingerprints[excluded] != config["base_model"]["fingerprint"]:
            raise ArtifactError(
                "the base model's weights differ from the ones its adapters "
                "were trained on (fingerprint mismatch); serve it on the "
                "same pretrained checkpoint."
            )

    def _task_layer(self, name, config, weights):
        """A built `TaskAdapters` holding the artifact's values, and the
        backbone's LayerNorms where the artifact kept those frozen."""
        backbone = self.backbone
        blocks = backbone.transformer_layers
        adapter_blocks = [
            i
            for i, block in enumerate(blocks)
            if f"{block.name}/{SELF_ATTENTION_ADAPTER}/down_kernel" in weights
            or f"{block.name}/{FEEDFORWARD_ADAPTER}/down_kernel" in weights
        ]
        layer = TaskAdapters(
            num_layers=len(blocks),
            hidden_dim=backbone.hidden_dim,
            num_classes=config["task"]["num_classes"],
            adapter_size=config["adapter"]["adapter_size"],
            adapter_blocks=adapter_blocks,
            adapter_activation=config["adapter"]["adapter_activation"],
            layer_norm_epsilon=blocks[0].layer_norm_epsilon,
            block_names=[block.name for block in blocks],
            name=name,
        )
        layer.build()
        targets = layer.weights_by_path()
        unexpected = sorted(set(weights) - set(targets))
        if unexpected:
            raise ArtifactError(
                f"it stores {len(unexpected)} variable(s) a shared BERT "
                f"cannot give each task ({', '.join(unexpected[:3])}); only "
                "adapters, LayerNorms and the head can differ per task."
            )
        base = {variable.path: variable for variable in backbone.weights}
        for path, variable in targets.items():
            value = weights[path] if path in weights else base.get(path)
            if value is None:
                raise ArtifactError(
                    f"it has no value for {path} (adapters or head "
                    "missing); the artifact is incomplete."
                )
            if tuple(value.shape) != tuple(variable.shape):
                raise ArtifactError(
                    f"{path} has shape {tuple(value.shape)}, not "
                    f"{tuple(variable.shape)}; the artifact is corrupted."
                )
            variable.assign(value)
        return layer

    def call(self, inputs, training=None):
        # An inference model: no dropout, whatever `training` says.
        del training
        if not self.task_layers:
            raise KerasAdaptersError(
                "The model has no task; add one with `add_task`."
            )
        tasks = list(self.task_layers.values())
        task_ids = ops.cast(inputs["task_ids"], "int32")
        padding_mask = inputs["padding_mask"]
        backbone = self.backbone
        tokens = backbone.token_embedding(inputs["token_ids"])
        x = backbone.embeddings_add(
            (
                tokens,
                backbone.position_embedding(tokens),
                backbone.segment_embedding(inputs["segment_ids"]),
            )
        )
        epsilon = backbone.embeddings_layer_norm.epsilon
        x = routed_layer_norm(
            x,
            task_ids,
            *_stacked_layer_norm(
                [task.embeddings_layer_norm for task in tasks]
            ),
            epsilon,
        )
        attention_mask = ops.expand_dims(ops.cast(padding_mask, "int32"), 1)
        for i, block in enumerate(backbone.transformer_layers):
            own = [task.blocks[i] for task in tasks]
            epsilon = block.layer_norm_epsilon
            attention = block._self_attention_layer(
                query=x, value=x, attention_mask=attention_mask
            )
            attention = self._adapted(
                attention, task_ids, [t.self_attention_adapter for t in own]
            )
            x = routed_layer_norm(
                x + attention,
                task_ids,
                *_stacked_layer_norm(
                    [t.self_attention_layer_norm for t in own]
                ),
                epsilon,
            )
            feedforward = block._feedforward_output_dense(
                block._feedforward_intermediate_dense(x)
            )
            feedforward = self._adapted(
                feedforward, task_ids, [t.feedforward_adapter for t in own]
            )
            x = routed_layer_norm(
                x + feedforward,
                task_ids,
                *_stacked_layer_norm([t.feedforward_layer_norm for t in own]),
                epsilon,
            )
        pooled = backbone.pooled_dense(x[:, backbone.cls_token_index, :])
        return routed_dense(pooled, task_ids, *_stacked_heads(tasks))

    def _adapted(self, x, task_ids, adapters):
        """`x` through each example's task's adapter in one block."""
        if all(adapter is None for adapter in adapters):
            return x
        width = max(a.adapter_size for a in adapters if a is not None)
        hidden = self.backbone.hidden_dim
        activation = next(a for a in adapters if a is not None).activation
        return routed_adapter(
            x, task_ids, _stacked_adapter(adapters, width, hidden), activation
        )


def _stacked_layer_norm(layer_norms):
    """`(gammas, betas)`, each `[tasks, hidden]`."""
    return (
        ops.stack([layer.gamma.value for layer in layer_norms]),
        ops.stack([layer.beta.value for layer in layer_norms]),
    )


def _padded(value, shape, fill=0.0):
    """`value` padded at the end of each axis to `shape` with `fill` (no op
    when it has that shape: the graph grows with the tasks, so each op
    counts)."""
    if tuple(value.shape) == tuple(shape):
        return value
    return ops.pad(
        value,
        [[0, size - now] for size, now in zip(shape, value.shape)],
        constant_values=fill,
    )


def _stacked_adapter(adapters, width, hidden):
    """The adapters' kernels stacked over tasks, zero-padded to `width`.

    A missing adapter (AdapterDrop, layer_norm mode) is all zeros, and
    zero padding of the bottleneck adds `gelu(0) = 0` units: both compute
    exactly the identity.
    """

    shapes = [(hidden, width), (width,), (width, hidden), (hidden,)]
    stacked = []
    for index, name in enumerate(
        ("down_kernel", "down_bias", "up_kernel", "up_bias")
    ):
        stacked.append(
            ops.stack(
                [
                    ops.zeros(shapes[index])
                    if adapter is None
                    else _padded(getattr(adapter, name).value, shapes[index])
                    for adapter in adapters
                ]
            )
        )
    return tuple(stacked)


def _stacked_heads(tasks):
    """`(kernels, biases)` of the tasks' heads, padded to the widest one.

    Padded columns have a zero kernel and a `-inf` bias, so their logits
    are `-inf` and a softmax gives them probability 0.
    """
    width = max(task.num_classes for task in tasks)
    hidden = tasks[0].hidden_dim
    kernels = [
        _padded(task.head.kernel.value, (hidden, width)) for task in tasks
    ]
    biases = [
        _padded(task.head.bias.value, (width,), float("-inf")) for task in tasks
    ]
    return ops.stack(kernels), ops.stack(biases)
