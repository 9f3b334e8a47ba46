"""One frozen encoder serving many adapter tasks in one forward pass."""

import contextlib
import dataclasses
import re

import keras
from keras import ops

from keras_adapters.errors import ArtifactError
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_config import AdapterConfig
from keras_adapters.layers.task_routing import ADAPTER_PARAMETERS
from keras_adapters.layers.task_routing import RoutedDense
from keras_adapters.layers.task_routing import add_task_routing
from keras_adapters.layers.task_routing import route_layer_norm
from keras_adapters.layers.task_routing import task_routing
from keras_adapters.models.adapter_backbone import family_of
from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.adapterhub_text_classifier import (
    AdapterHubTextClassifier,
)
from keras_adapters.models.artifact import Artifact
from keras_adapters.models.fusion_artifact import FusionArtifact
from keras_adapters.models.fusion_artifact import is_fusion_folder
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
    LayerNorm becomes a `RoutedLayerNormalization`, a `RoutedAdapter` sits
    where the tasks' adapter config puts its adapters (adapter-bert's,
    Houlsby's or Pfeiffer's), and the head's dense layers are `RoutedDense`
    layers laid out as the tasks' classifier's (`HeadLayout`: BERT's pooler
    then logits, RoBERTa's first token, dense, tanh, logits, AdapterHub's
    head, ...). Each holds what training changed, one row per task, stacked
    once when a task is added. Each example of a batch names its task in
    `task_ids`, and the backbone's own forward pass computes it with that
    task's adapters, LayerNorms and head, so a batch mixing tasks costs one
    pass of the encoder. Each example's outputs equal those of its
    single-task model (`keras_adapters.load_adapters`).

    A task may also be an AdapterFusion (`keras_adapters.save_fusion`) of
    adapters that are tasks of the model: its examples run through the
    fusion of those adapters and its own head (`keras_adapters.load_fusion`'s
    outputs), in the same pass as the single adapters' examples.

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
            that of `task_class` with its default arguments.
        adapter_config: the `AdapterConfig` (or its name) of every task's
            adapters. Defaults to adapter-bert's.
        task_class: the classifier class every task was trained as: the
            family's own (the default) or `AdapterHubTextClassifier`.
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
        adapter_config=None,
        task_class=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if getattr(backbone, "adapter_size", None) != 0:
            raise KerasAdaptersError(
                "`backbone` must be the plain pretrained encoder (an adapter "
                "backbone such as AdapterBertBackbone with adapter_size=0); "
                "the tasks bring their own adapters."
            )
        family_class = AdapterClassifierTask.for_family(type(backbone))
        self.task_class = task_class or family_class
        if self.task_class not in (family_class, AdapterHubTextClassifier):
            raise KerasAdaptersError(
                f"`task_class` must be {family_class.__name__} or "
                f"AdapterHubTextClassifier, got {self.task_class.__name__}."
            )
        self.preprocessor_cls = family_class.preprocessor_cls
        self.head_layout = head_layout or self.task_class.head_layout()
        self.adapter_config = AdapterConfig.get(adapter_config)
        backbone.trainable = False
        # The pretrained weights, before the routing layers join them.
        self._base_weights = list(backbone.weights)
        self._fingerprints = {}
        # Each task's artifact weights checksum, to find fused adapters.
        self._weights_sha256 = {}
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
            add_task_routing(block, self.adapter_config)
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

        The first adapter artifact sets what every task shares: its
        classifier class, its head's layout and its adapter config.

        Args:
            base: the pretrained encoder every task was trained on: a
                preset (keras-hub id or folder, Hugging Face folder) of any
                supported family.
            artifacts: dict from task name (lower case, letters, digits and
                `_`, starting with a letter) to an artifact folder written
                by `keras_adapters.save_adapters` (or `run_classifier.py`),
                or a fusion folder written by `keras_adapters.save_fusion`
                (`run_classifier.py --fusion=...`) whose adapters are
                tasks listed before it.
            pair_tasks: optional list of the task names that read sentence
                pairs. Defaults to what each artifact records.
            default_sequence_length: int, for artifacts that record none.

        Returns:
            A `MultiTaskClassifier` with the tasks in the given order.

        Raises:
            ArtifactError: an artifact that is missing or corrupted, that
                was trained on another base (architecture or weights), that
                changed the shared encoder (`full`, `top_k` modes, a trained
                pooler), whose class, head or adapter config differs from
                the first one's, a fusion of adapters that are not tasks
                before it, or one that records no inputs while
                `pair_tasks` is not given; the message names the task.
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
                read[name] = _read_task_folder(directory)
        family = family_of(base)
        family_class = AdapterClassifierTask.for_family(family)
        backbone = family.from_preset(base, adapter_size=0, dtype="float32")
        tokenizer = family_class.preset_preprocessor(base, backbone).tokenizer
        model = cls(
            backbone,
            tokenizer=tokenizer,
            default_sequence_length=default_sequence_length,
            **_shared_settings(family_class, read),
        )
        for name, artifact in read.items():
            pair = None if pair_tasks is None else name in set(pair_tasks)
            model._add_read(name, artifact, pair)
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
            preprocessor_cls=self.preprocessor_cls,
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
            directory: its artifact folder, or a fusion folder whose
                adapters are tasks of the model.
            pair: optional bool, whether it reads sentence pairs. Defaults
                to what the artifact records.

        Raises:
            ArtifactError: see `from_artifacts`.
        """
        _check_task_name(name)
        with _errors_name_the_task(name):
            artifact = _read_task_folder(directory)
        self._add_read(name, artifact, pair)

    def _add_read(self, name, artifact, pair):
        """`add_task` of an artifact or fusion already read."""
        if name in self._infos:
            raise KerasAdaptersError(
                f"Task '{name}' is already in the model; remove_task('{name}')"
                " first to replace it."
            )
        with _errors_name_the_task(name):
            if isinstance(artifact, FusionArtifact):
                rows, info = self._fusion_rows(name, artifact, pair)
            else:
                self._check_artifact(artifact)
                rows = self._task_rows(artifact)
                info = self._task_info(
                    name,
                    artifact.config["task"],
                    artifact.labels,
                    artifact.inputs,
                    artifact.preprocessor,
                    pair,
                    rows,
                )
        self.layer_norms[0].add_task(*rows["embeddings"])
        for block, (layer_norms, adapters) in enumerate(rows["blocks"]):
            for layer_norm, values in zip(
                self.backbone.transformer_layers[block].layer_norms,
                layer_norms,
            ):
                layer_norm.add_task(*values)
            for sublayer, values in adapters.items():
                self.adapters[block][sublayer].add_task(*values)
        for dense, values in zip(self.head_layers, rows["head"]):
            dense.add_task(*values)
        self._infos[name] = info
        if isinstance(artifact, Artifact):
            self._weights_sha256[name] = artifact.config["weights"]["sha256"]
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
        self._weights_sha256.pop(name, None)
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
        if not adapter_config.computes_like(self.adapter_config):
            raise ArtifactError(
                f"its adapters are {adapter_config.name!r}, not "
                f"{self.adapter_config.name!r} as this model's; tasks served "
                "together need adapters of one config (sublayers, position, "
                "activation)."
            )
        if artifact.task_class is not self.task_class:
            kind = (
                "AdapterHub's classifier, as its first task"
                if self.task_class is AdapterHubTextClassifier
                else "the text classifier of its base's family"
            )
            raise ArtifactError(
                f"its model is {task['class']}; this MultiTaskClassifier "
                f"serves {self.task_class.__name__} models ({kind}) only."
            )
        self._check_head(self.task_class.head_layout(task))
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

    def _check_head(self, layout):
        if layout != self.head_layout:
            raise ArtifactError(
                f"its head is {_describe(layout)}, not "
                f"{_describe(self.head_layout)} as this model's; tasks served "
                "together need heads of one layout."
            )

    def _task_rows(self, artifact):
        """The artifact's row of every routed layer, checked.

        Returns:
            A dict: `"embeddings"`, the `(gamma, beta)` of the embeddings
            LayerNorm (`None` for the pretrained one); `"blocks"`, per
            block, its LayerNorms' `(gamma, beta)` and `{sublayer:
            (adapter weights or None, None)}` (the arguments of
            `RoutedAdapter.add_task`); `"head"`, the `(kernel, bias)` of
            each of the head's dense layers.
        """
        stored = _StoredValues(artifact.weights)

        def layer_norm(layer):
            return tuple(
                stored.value(variable.path, variable.shape, required=False)
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
            for sublayer in self.adapter_config.sublayers:
                prefix = f"{block.name}/{sublayer}_adapter"
                present = f"{prefix}/down_kernel" in artifact.weights
                adapters[sublayer] = (
                    {
                        name: stored.value(f"{prefix}/{name}", shape)
                        for name, shape in shapes.items()
                    }
                    if present
                    else None,
                    None,
                )
            blocks.append(
                ([layer_norm(norm) for norm in block.layer_norms], adapters)
            )
        rows = {
            "embeddings": layer_norm(self.layer_norms[0]),
            "blocks": blocks,
            "head": self._head_rows(
                stored, artifact.config["task"]["num_classes"]
            ),
        }
        stored.check_all_used()
        return rows

    def _head_rows(self, stored, num_classes):
        """`(kernel, bias)` of each dense layer of the head, read from
        `stored` (a `_StoredValues`)."""
        hidden = self.backbone.hidden_dim
        units = [hidden] * (len(self.head_layers) - 1) + [num_classes]
        return [
            (
                stored.value(f"{path}/kernel", (hidden, width)),
                stored.value(f"{path}/bias", (width,)),
            )
            for (path, _), width in zip(self.head_layout.dense_layers, units)
        ]

    def _fusion_rows(self, name, fusion, pair):
        """The rows and `TaskInfo` of a fusion of the model's tasks.

        Its LayerNorms are the pretrained ones (fused adapters train none);
        each sublayer of each block gets the fused tasks' adapters and the
        fusion's parameters; its head is the fusion's.
        """
        if self.task_class is not AdapterHubTextClassifier:
            raise ArtifactError(
                "it is an AdapterFusion, whose head is AdapterHub's; this "
                f"MultiTaskClassifier serves {self.task_class.__name__} "
                "models only."
            )
        self._check_head(AdapterHubTextClassifier.head_layout())
        owners = {sha: task for task, sha in self._weights_sha256.items()}
        fused = []
        for adapter, sha256 in fusion.adapters:
            if sha256 not in owners:
                raise ArtifactError(
                    f"it fuses adapter '{adapter}' (weights {sha256[:12]}), "
                    "which is not a task of this model; add that adapter's "
                    "artifact as a task before the fusion."
                )
            fused.append(self.task_id(owners[sha256]))
        stored = _StoredValues(fusion.weights)
        arguments = fusion.fusion_arguments
        hidden = self.backbone.hidden_dim
        blocks = []
        for block, adapters in zip(
            self.backbone.transformer_layers, self.adapters
        ):
            entries = {}
            for sublayer, routed in adapters.items():
                members = [routed.task_adapters(task) for task in fused]
                if any(len(member) != 1 for member in members):
                    raise ArtifactError(
                        f"a fused adapter has no adapter in {block.name}; "
                        "AdapterFusion fuses adapters in every block."
                    )
                prefix = f"{block.name}/{sublayer}_fusion"
                parameters = {"temperature": arguments.get("temperature", 1.0)}
                for projection, shapes in _FUSION_PROJECTIONS.items():
                    if arguments.get(projection, True):
                        for parameter, shape in shapes(hidden).items():
                            parameters[parameter] = stored.value(
                                f"{prefix}/{parameter}", shape
                            )
                entries[sublayer] = (
                    [member[0] for member in members],
                    parameters,
                )
            blocks.append(([(None, None)] * len(block.layer_norms), entries))
        task = fusion.task
        rows = {
            "embeddings": (None, None),
            "blocks": blocks,
            "head": self._head_rows(stored, task["num_classes"]),
        }
        stored.check_all_used()
        info = self._task_info(
            name,
            task,
            task["labels"],
            fusion.inputs,
            fusion.preprocessor,
            pair,
            rows,
        )
        return rows, info

    def _task_info(self, name, task, labels, inputs, preprocessor, pair, rows):
        """A task's `TaskInfo` from its artifact's task section, labels,
        inputs and preprocessor settings."""
        regression = bool(task["regression"])
        if not regression:
            labels = labels or range(task["num_classes"])
            labels = tuple(str(label) for label in labels)
        else:
            labels = None
        if pair is None and inputs is None:
            raise ArtifactError(
                "its artifact does not say whether it reads sentence pairs; "
                f"pass `pair=True` (or `pair_tasks=['{name}']`) for a pair "
                "task, `pair=False` (`pair_tasks=[]`) otherwise."
            )
        sequence_length = min(
            preprocessor.get("sequence_length", self.default_sequence_length),
            self.backbone.max_sequence_length,
        )
        return TaskInfo(
            name=name,
            labels=labels,
            regression=regression,
            pair=bool(pair) if pair is not None else len(inputs) == 2,
            sequence_length=int(sequence_length),
            adapter_blocks=tuple(
                index
                for index, (_, adapters) in enumerate(rows["blocks"])
                if any(values[0] is not None for values in adapters.values())
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


# The parameters of each projection of an `AdapterFusion`, by hidden size.
_FUSION_PROJECTIONS = {
    "query": lambda hidden: {
        "query_kernel": (hidden, hidden),
        "query_bias": (hidden,),
    },
    "key": lambda hidden: {
        "key_kernel": (hidden, hidden),
        "key_bias": (hidden,),
    },
    "value": lambda hidden: {"value_kernel": (hidden, hidden)},
}


class _StoredValues:
    """An artifact's stored arrays, taken one by one with their shapes
    checked; `check_all_used` refuses arrays no routed layer takes."""

    def __init__(self, weights):
        self.weights = weights
        self.used = set()

    def value(self, path, shape, required=True):
        """The array at `path`, of `shape`; `None` when it is not stored
        and not `required`."""
        if path not in self.weights:
            if required:
                raise ArtifactError(
                    f"it has no value for {path} (adapters or head "
                    "missing); the artifact is incomplete."
                )
            return None
        if tuple(self.weights[path].shape) != tuple(shape):
            raise ArtifactError(
                f"{path} has shape {tuple(self.weights[path].shape)}, not "
                f"{tuple(shape)}; the artifact is corrupted."
            )
        self.used.add(path)
        return self.weights[path]

    def check_all_used(self):
        unexpected = sorted(set(self.weights) - self.used)
        if unexpected:
            raise ArtifactError(
                f"it stores {len(unexpected)} variable(s) a shared encoder "
                f"cannot give each task ({', '.join(unexpected[:3])}); only "
                "adapters, LayerNorms and the head can differ per task."
            )


def _read_task_folder(directory):
    """The `Artifact`, or the `FusionArtifact`, in `directory`."""
    if is_fusion_folder(directory):
        return FusionArtifact.read(directory)
    return Artifact.read(directory)


def _shared_settings(family_class, read):
    """What every task shares, from the first adapter artifact of `read`
    (tasks already read): `task_class`, `head_layout` and
    `adapter_config`, the arguments of `MultiTaskClassifier`. A first
    artifact of another class gives the family's defaults (it is then
    refused for its class)."""
    first = next(
        (a for a in read.values() if isinstance(a, Artifact)),
        None,
    )
    if first is None:
        raise ArtifactError(
            "Every task is an AdapterFusion; give the fused adapters' "
            "artifacts as tasks too, before the fusions."
        )
    if first.task_class not in (family_class, AdapterHubTextClassifier):
        return {}
    return {
        "task_class": first.task_class,
        "head_layout": first.task_class.head_layout(first.config["task"]),
        "adapter_config": first.adapter_config,
    }


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
