"""One frozen encoder serving many adapter tasks in one forward pass."""

import contextlib
import dataclasses
import re

import keras
from keras import ops

from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import gelu_approximate
from keras_adapters.layers.task_routing import ADAPTER_PARAMETERS
from keras_adapters.layers.task_routing import SUBLAYERS
from keras_adapters.layers.task_routing import RoutedDense
from keras_adapters.layers.task_routing import add_task_routing
from keras_adapters.layers.task_routing import route_layer_norm
from keras_adapters.layers.task_routing import task_routing
from keras_adapters.models.adapter_backbone import family_of
from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.artifact import Artifact
from keras_adapters.models.multi_task_preprocessor import MultiTaskPreprocessor

# Task names become SavedModel signature names.
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Tuning modes whose artifacts leave the shared encoder untouched.
_SHAREABLE_MODES = ("adapters", "layer_norm")


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """What a `MultiTaskClassifier` knows of one of its tasks.

    Attributes:
        name: the task's name (its SavedModel signature name too).
        labels: the class names in class-id order (`None` for regression).
        regression: whether the task outputs one real score.
        pair: whether the task reads sentence pairs.
        sequence_length: the task's tokenized length.
        adapter_blocks: the indices of the blocks where it has adapters.
    """

    name: str
    labels: tuple
    regression: bool
    pair: bool
    sequence_length: int
    adapter_blocks: tuple = ()

    @property
    def num_outputs(self):
        """Width of the task's head: its classes, or 1 for regression."""
        return 1 if self.regression else len(self.labels)


class MultiTaskClassifier(keras.Model):
    """One frozen encoder that serves many adapter tasks in one forward pass.

    Holds one pretrained encoder of any supported family (BERT, RoBERTa,
    XLM-RoBERTa, DistilBERT, ELECTRA), shared and frozen, whose blocks carry
    task routing layers (`keras_adapters.layers.task_routing`): every
    LayerNorm becomes a `RoutedLayerNormalization`, a `RoutedAdapter`
    follows each sublayer where adapter-bert puts its adapters, and the
    head's dense layers are `RoutedDense` layers laid out as the family's
    classifier's (`HeadLayout`: BERT's pooler then logits, RoBERTa's first
    token, dense, tanh, logits, ...). Each holds what adapters-mode training
    changed, one row per task, stacked once when a task is added. Each
    example of a batch names its task in `task_ids`, and the backbone's own
    forward pass computes it with that task's adapters, LayerNorms and
    head, so a batch mixing tasks costs one pass of the encoder. Each
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
    (`run_classifier.py`, the family's classifier) and serve them
    together (`keras_adapters.export_saved_model`); it is rebuilt from its
    artifacts rather than saved as a `.keras` file.

    Args:
        backbone: the shared encoder, an adapter backbone of its family
            (`AdapterBertBackbone`, `AdapterRobertaBackbone`, ...) with
            `adapter_size=0` (the plain pretrained model) holding the
            weights the tasks were trained on. It is frozen, and gets the
            routing layers in place.
        tokenizer: the base model's tokenizer, for `preprocessor`.
        default_sequence_length: int, the sequence length of tasks whose
            artifact does not record one. Defaults to `128`.
        head_layout: the `HeadLayout` every task's head has. Defaults to
            that of the family's classifier with its default arguments.
        **kwargs: other `keras.Model` arguments, e.g. `name`.

    Call inputs: a dict of `token_ids`, `padding_mask` (`[batch,
    sequence]`), `segment_ids` for the families that read them, and
    `task_ids` (`[batch]`, indices into `tasks`).

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
        self,
        backbone,
        tokenizer=None,
        default_sequence_length=128,
        head_layout=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if getattr(backbone, "adapter_size", None) != 0:
            raise KerasAdaptersError(
                "`backbone` must be the plain pretrained encoder (an adapter "
                "backbone such as AdapterBertBackbone with adapter_size=0); "
                "the tasks bring their own adapters."
            )
        # The family's own classifier: the tasks' class.
        self.task_class = AdapterClassifierTask.for_family(type(backbone))
        self.head_layout = head_layout or self.task_class.head_layout()
        backbone.trainable = False
        # The pretrained weights, before the routing layers join them.
        self._base_weights = list(backbone.weights)
        self._fingerprints = {}
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.default_sequence_length = int(default_sequence_length)
        self.layer_norms = [
            route_layer_norm(backbone.embeddings_layer_norm)
        ] + [
            layer_norm
            for block in backbone.transformer_layers
            for layer_norm in block.layer_norms
        ]
        self.adapters = [
            add_task_routing(block, activation=gelu_approximate)
            for block in backbone.transformer_layers
        ]
        self.head_layers = []
        for path, activation in self.head_layout.dense_layers:
            dense = RoutedDense(activation=activation, name=path.split("/")[-1])
            dense.build((None, backbone.hidden_dim))
            self.head_layers.append(dense)
        self._infos = {}
        # Every variable exists already; tasks only restack them.
        self.build()

    def build(self, input_shape=None):
        self.built = True

    @classmethod
    def from_artifacts(
        cls, base, artifacts, pair_tasks=None, default_sequence_length=128
    ):
        """Builds one model from a base encoder and each task's artifact.

        Args:
            base: the pretrained encoder every task was trained on: a
                preset (keras-hub id or folder, Hugging Face folder) of any
                supported family.
            artifacts: dict from task name (lower case, letters, digits and
                `_`, starting with a letter) to an artifact folder written
                by `keras_adapters.save_adapters` (or `run_classifier.py`).
            pair_tasks: optional list of the task names that read sentence
                pairs. Defaults to what each artifact records.
            default_sequence_length: int, for artifacts that record none.

        Returns:
            A `MultiTaskClassifier` with the tasks in the given order.

        Raises:
            ArtifactError: an artifact that is missing or corrupted, that
                was trained on another base (architecture or weights), that
                changed the shared encoder (`full`, `top_k` modes, a trained
                pooler), that is not the family's text classifier, or that
                records no inputs while `pair_tasks` is not given; the
                message names the task.
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
        read = {}
        for name, directory in artifacts.items():
            _check_task_name(name)
            with _errors_name_the_task(name):
                read[name] = Artifact.read(directory)
        family = family_of(base)
        task_class = AdapterClassifierTask.for_family(family)
        backbone = family.from_preset(base, adapter_size=0, dtype="float32")
        tokenizer = task_class.preset_preprocessor(base, backbone).tokenizer
        model = cls(
            backbone,
            tokenizer=tokenizer,
            default_sequence_length=default_sequence_length,
            head_layout=_head_layout(task_class, read),
        )
        for name, artifact in read.items():
            pair = None if pair_tasks is None else name in set(pair_tasks)
            model._add_artifact(name, artifact, pair)
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
            preprocessor_cls=self.task_class.preprocessor_cls,
        )

    @property
    def routed_layers(self):
        """Every layer holding a row per task: the LayerNorms, the blocks'
        adapters, the head's dense layers."""
        return [
            *self.layer_norms,
            *(adapter for block in self.adapters for adapter in block.values()),
            *self.head_layers,
        ]

    def add_task(self, name, directory, pair=None):
        """Adds a task from its artifact; the other tasks stay as they are.

        Every check runs before any layer changes, so a refused artifact
        leaves the model as it was.

        Args:
            name: the task's name (lower case, letters, digits and `_`,
                starting with a letter).
            directory: its artifact folder.
            pair: optional bool, whether it reads sentence pairs. Defaults
                to what the artifact records.

        Raises:
            ArtifactError: see `from_artifacts`.
        """
        _check_task_name(name)
        with _errors_name_the_task(name):
            artifact = Artifact.read(directory)
        self._add_artifact(name, artifact, pair)

    def _add_artifact(self, name, artifact, pair):
        """`add_task` of an artifact already read."""
        if name in self._infos:
            raise KerasAdaptersError(
                f"Task '{name}' is already in the model; remove_task('{name}')"
                " first to replace it."
            )
        with _errors_name_the_task(name):
            self._check_artifact(artifact)
            rows = self._task_rows(artifact)
            info = self._task_info(name, artifact, pair, rows)
        self.layer_norms[0].add_task(*rows["embeddings"])
        for block, (layer_norms, adapters) in enumerate(rows["blocks"]):
            for layer_norm, values in zip(
                self.backbone.transformer_layers[block].layer_norms,
                layer_norms,
            ):
                layer_norm.add_task(*values)
            for sublayer, values in adapters.items():
                self.adapters[block][sublayer].add_task(values)
        for dense, values in zip(self.head_layers, rows["head"]):
            dense.add_task(*values)
        self._infos[name] = info
        self._reset_compiled_functions()

    def remove_task(self, name):
        """Removes a task; the other tasks keep their outputs.

        Args:
            name: the task to remove.
        """
        index = self.task_id(name)
        for layer in self.routed_layers:
            layer.remove_task(index)
        del self._infos[name]
        self._reset_compiled_functions()

    def _reset_compiled_functions(self):
        """Makes `predict()` trace again: the variables it captured
        changed."""
        self.predict_function = None
        self.test_function = None
        self.train_function = None

    def _check_artifact(self, artifact):
        """Raises unless the artifact's task can share this model's
        encoder."""
        config = artifact.config
        task = config["task"]
        adapter_config = artifact.adapter_config
        if adapter_config.name != "adapter-bert" or (
            adapter_config.activation_fn is not gelu_approximate
        ):
            raise ArtifactError(
                f"its adapters are {adapter_config.name!r}; a "
                "MultiTaskClassifier serves adapter-bert's adapters (tanh "
                "GELU) only."
            )
        if artifact.task_class is not self.task_class:
            raise ArtifactError(
                f"its model is {task['class']}; this MultiTaskClassifier "
                f"serves {self.task_class.__name__} models (the text "
                "classifier of its base's family) only."
            )
        layout = self.task_class.head_layout(task)
        if layout != self.head_layout:
            raise ArtifactError(
                f"its head is {_describe(layout)}, not "
                f"{_describe(self.head_layout)} as this model's; tasks served "
                "together need heads of one layout."
            )
        tuning = config["tuning"]
        if tuning["mode"] not in _SHAREABLE_MODES or tuning["train_pooler"]:
            raise ArtifactError(
                f"it was trained in `{tuning['mode']}` mode"
                f"{' with the pooler' if tuning['train_pooler'] else ''}, "
                "which changes the shared encoder; only adapters and "
                "layer_norm modes (pooler frozen) share one."
            )
        if keras.activations.get(task["activation"]) not in (
            keras.activations.linear,
            None,
        ):
            raise ArtifactError(
                f"its head has activation {task['activation']!r}; a "
                "MultiTaskClassifier serves logit heads (activation=None)."
            )
        artifact.check_base(
            self.backbone, self._base_weights, self._fingerprints
        )

    def _task_rows(self, artifact):
        """The artifact's row of every routed layer, checked.

        Returns:
            A dict: `"embeddings"`, the `(gamma, beta)` of the embeddings
            LayerNorm (`None` for the pretrained one); `"blocks"`, per
            block, its LayerNorms' `(gamma, beta)` and
            `{sublayer: adapter weights or None}`; `"head"`, the
            `(kernel, bias)` of each of the head's dense layers.
        """
        weights = artifact.weights
        used = set()

        def value(path, shape, required=True):
            if path not in weights:
                if required:
                    raise ArtifactError(
                        f"it has no value for {path} (adapters or head "
                        "missing); the artifact is incomplete."
                    )
                return None
            if tuple(weights[path].shape) != tuple(shape):
                raise ArtifactError(
                    f"{path} has shape {tuple(weights[path].shape)}, not "
                    f"{tuple(shape)}; the artifact is corrupted."
                )
            used.add(path)
            return weights[path]

        def layer_norm(layer):
            return tuple(
                value(variable.path, variable.shape, required=False)
                for variable in (layer.gamma, layer.beta)
            )

        hidden = self.backbone.hidden_dim
        size = artifact.config["adapter"]["adapter_size"]
        shapes = dict(
            zip(
                ADAPTER_PARAMETERS,
                ((hidden, size), (size,), (size, hidden), (hidden,)),
            )
        )
        blocks = []
        for block in self.backbone.transformer_layers:
            adapters = {}
            for sublayer in SUBLAYERS:
                prefix = f"{block.name}/{sublayer}_adapter"
                present = f"{prefix}/down_kernel" in weights
                adapters[sublayer] = (
                    {
                        name: value(f"{prefix}/{name}", shape)
                        for name, shape in shapes.items()
                    }
                    if present
                    else None
                )
            blocks.append(
                ([layer_norm(norm) for norm in block.layer_norms], adapters)
            )
        num_classes = artifact.config["task"]["num_classes"]
        rows = {
            "embeddings": layer_norm(self.layer_norms[0]),
            "blocks": blocks,
            "head": [
                (
                    value(f"{path}/kernel", (hidden, units)),
                    value(f"{path}/bias", (units,)),
                )
                for (path, _), units in zip(
                    self.head_layout.dense_layers,
                    [hidden] * (len(self.head_layers) - 1) + [num_classes],
                )
            ],
        }
        unexpected = sorted(set(weights) - used)
        if unexpected:
            raise ArtifactError(
                f"it stores {len(unexpected)} variable(s) a shared encoder "
                f"cannot give each task ({', '.join(unexpected[:3])}); only "
                "adapters, LayerNorms and the head can differ per task."
            )
        return rows

    def _task_info(self, name, artifact, pair, rows):
        task = artifact.config["task"]
        regression = bool(task["regression"])
        labels = None
        if not regression:
            labels = artifact.labels or range(task["num_classes"])
            labels = tuple(str(label) for label in labels)
        if pair is None and artifact.inputs is None:
            raise ArtifactError(
                "its artifact does not say whether it reads sentence pairs; "
                f"pass `pair=True` (or `pair_tasks=['{name}']`) for a pair "
                "task, `pair=False` (`pair_tasks=[]`) otherwise."
            )
        sequence_length = min(
            artifact.preprocessor.get(
                "sequence_length", self.default_sequence_length
            ),
            self.backbone.max_sequence_length,
        )
        return TaskInfo(
            name=name,
            labels=labels,
            regression=regression,
            pair=bool(pair) if pair is not None else len(artifact.inputs) == 2,
            sequence_length=int(sequence_length),
            adapter_blocks=tuple(
                index
                for index, (_, adapters) in enumerate(rows["blocks"])
                if any(values is not None for values in adapters.values())
            ),
        )

    def call(self, inputs, training=None):
        # An inference model: no dropout, whatever `training` says.
        del training
        if not self._infos:
            raise KerasAdaptersError(
                "The model has no task; add one with `add_task`."
            )
        task_ids = ops.cast(inputs["task_ids"], "int32")
        features = {key: inputs[key] for key in self.backbone.input}
        with task_routing(task_ids):
            outputs = self.backbone(features, training=False)
            if self.head_layout.reads_pooler:
                x = outputs["pooled_output"]
            else:
                if isinstance(outputs, dict):
                    outputs = outputs["sequence_output"]
                x = outputs[:, 0, :]
            for dense in self.head_layers:
                x = dense(x)
            return x


def _describe(layout):
    """A `HeadLayout` in words, for messages."""
    source = "the pooler" if layout.reads_pooler else "the first token"
    layers = ", ".join(
        f"{path} ({activation or 'logits'})"
        for path, activation in layout.dense_layers
    )
    return f"{layers} on {source}"


def _head_layout(task_class, artifacts):
    """The head layout of the first of the `artifacts` (read), if it is of
    `task_class`; else `None`, the class's default (the first task is then
    refused for its class)."""
    first = next(iter(artifacts.values()))
    if first.task_class is not task_class:
        return None
    return task_class.head_layout(first.config["task"])


def _check_task_name(name):
    """Raises unless `name` can name a task (and its SavedModel
    signature)."""
    if not isinstance(name, str) or not _TASK_NAME.match(name):
        raise KerasAdaptersError(
            f"Task name {name!r} must be lower case letters, digits and "
            "'_', starting with a letter (it names a SavedModel signature)."
        )


@contextlib.contextmanager
def _errors_name_the_task(name):
    """Starts the message of an `ArtifactError` raised inside with the task's
    name."""
    try:
        yield
    except ArtifactError as error:
        raise ArtifactError(f"Task '{name}': {error}") from None
