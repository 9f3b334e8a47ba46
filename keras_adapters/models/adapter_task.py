"""What every task on an adapter backbone shares: presets, modes."""

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.adapter_backbone import UnsupportedFamilyError
from keras_adapters.models.adapter_backbone import adapter_backbone_class
from keras_adapters.models.adapter_backbone import check_adapter_settings
from keras_adapters.models.adapter_backbone import preset_backbone_class
from keras_adapters.models.adapter_backbone import readable_load_errors
from keras_adapters.models.adapter_backbone import subclasses
from keras_adapters.models.transformers.preset_loader import preset_loader
from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.tuning import TuningMode
from keras_adapters.tuning import default_train_layer_norms
from keras_adapters.tuning import set_tuning_mode

# Default peak rates of `compile()`: the original README's adapter example
# (3e-4) and BERT's fine-tuning default (5e-5).
DEFAULT_LEARNING_RATES = {
    "adapters": 3e-4,
    "layer_norm": 3e-4,
    "top_k": 5e-5,
    "full": 5e-5,
}


def family_task(base, family):
    """The task class of `base`'s kind built for a family.

    As keras-hub's `Task.from_preset` finds a task class by backbone class:
    the first subclass of `base` (or `base` itself) whose `backbone_cls` is
    `family`, else `base` when it declares itself a task of any family
    (`backbone_cls = None` in its own body, e.g. `AdapterHubTextClassifier`).

    Args:
        base: a task class or task mixin, e.g. `AdapterClassifierTask`.
        family: an adapter backbone class, e.g. `AdapterRobertaBackbone`.

    Returns:
        A task class.

    Raises:
        UnsupportedFamilyError: no such task for the family.

    Example:

    ```python
    family = keras_adapters.models.family_of("roberta_base_en")
    family_task(AdapterClassifierTask, family)  # AdapterRobertaTextClassifier
    ```
    """
    for cls in [base, *subclasses(base)]:
        if getattr(cls, "backbone_cls", None) is family:
            return cls
    if "backbone_cls" in vars(base) and base.backbone_cls is None:
        return base
    raise UnsupportedFamilyError(
        f"No {base.__name__} is built for {family.family} models."
    )


class AdapterTask:
    """Mixin of the keras-hub tasks built on an adapter backbone.

    Put it before the keras-hub task class (`class T(AdapterTask,
    keras_hub.models.TextClassifier)`). It loads plain presets with fresh
    adapters, reloads presets saved from the task itself, and applies and
    serializes the tuning mode. A task class built for one family names
    its adapter backbone class in `backbone_cls`; a task of any family
    (`backbone_cls=None`) takes the preset's family.
    """

    backbone_cls = None

    def _init_tuning(
        self,
        backbone,
        tuning_mode,
        top_k,
        train_pooler,
        freeze_below_adapters,
        train_layer_norms,
    ):
        """Validates the mode; call before the keras-hub constructor.

        `train_layer_norms=None` takes the default of the backbone's adapter
        config.
        """
        if train_layer_norms is None:
            train_layer_norms = default_train_layer_norms(backbone, tuning_mode)
        self.tuning = TuningMode(
            tuning_mode,
            top_k,
            train_pooler,
            freeze_below_adapters,
            train_layer_norms,
        )

    def _apply_tuning(self):
        """Sets every variable's `trainable`; call after construction."""
        set_tuning_mode(self, **self.tuning.arguments())

    def default_optimizer(self):
        """`AdamWeightDecay` at the mode's default constant rate."""
        return AdamWeightDecay(DEFAULT_LEARNING_RATES[self.tuning.mode])

    def get_config(self):
        config = super().get_config()
        arguments = self.tuning.arguments()
        config.update(tuning_mode=arguments.pop("mode"), **arguments)
        return config

    @classmethod
    def from_preset(
        cls,
        preset,
        load_weights=True,
        adapter_size=None,
        adapter_init_scale=None,
        adapter_activation=None,
        adapter_layers=None,
        adapter_config=None,
        intermediate_activation=None,
        **kwargs,
    ):
        """Builds the task on a pretrained preset.

        Args:
            preset: anything `AdapterBackbone.from_preset` accepts, of this
                task's family. A preset saved from this task
                (`save_to_preset`) reloads with its head and adapters.
            load_weights: bool. Whether to load pretrained weights.
            adapter_size: int. Adapter width for a plain preset (default:
                the config's); a saved adapter preset keeps its own.
            adapter_init_scale: float. Defaults to the config's.
            adapter_activation: adapter non-linearity. Defaults to the
                config's.
            adapter_layers: int or `None`. Adapters only in the top
                `adapter_layers` blocks of a plain preset (`None`, the
                default: every block); a saved adapter preset keeps its own.
            adapter_config: `"adapter-bert"` (the default), `"houlsby"`,
                `"pfeiffer"` or an `AdapterConfig`, for a plain preset; a
                saved adapter preset keeps its own.
            intermediate_activation: the blocks' feedforward activation
                (see `AdapterBackbone.from_preset`; `"auto"` reads a Hugging
                Face folder's `hidden_act`).
            **kwargs: constructor arguments (`tuning_mode`, `preprocessor`,
                `dtype`, ...).

        Returns:
            The task, with the preset's preprocessor unless `preprocessor`
            is given.

        Raises:
            KerasAdaptersError: an unreadable preset, or one of another
                family than this task's (naming the task class to use) or
                of a family that takes no adapters.
        """
        saved_cls = preset_backbone_class(preset)
        family = adapter_backbone_class(saved_cls)
        if cls.backbone_cls not in (None, family):
            raise KerasAdaptersError(
                f"Preset '{preset}' is a {family.family} model; "
                f"{cls.__name__} is built for {cls.backbone_cls.family}. Use "
                f"{cls.for_family(family).__name__}."
            )
        if saved_cls is family:
            # The preset loader loads `cls` itself: keras-hub's
            # `Task.from_preset` picks a task class by backbone class, and
            # two classifiers share each adapter backbone. As keras-hub's,
            # a given `num_classes` means a new head (no task weights).
            with readable_load_errors(preset):
                task = preset_loader(preset).load_task(
                    cls, load_weights, "num_classes" not in kwargs, **kwargs
                )
            check_adapter_settings(
                preset,
                task.backbone,
                adapter_size,
                adapter_layers,
                adapter_config,
            )
            return task
        backbone = family.from_preset(
            preset,
            adapter_size=adapter_size,
            adapter_init_scale=adapter_init_scale,
            adapter_activation=adapter_activation,
            adapter_layers=adapter_layers,
            load_weights=load_weights,
            adapter_config=adapter_config,
            intermediate_activation=intermediate_activation,
            dtype=kwargs.pop("dtype", None),
        )
        if "preprocessor" not in kwargs:
            kwargs["preprocessor"] = cls.preset_preprocessor(
                preset, backbone=backbone
            )
        return cls(backbone=backbone, **kwargs)

    @classmethod
    def for_family(cls, family):
        """The task class of this kind (classifier, question answerer) for
        the models of `family`, an adapter backbone class."""
        raise NotImplementedError

    @classmethod
    def family_preprocessor_cls(cls, family):
        """The class of this task's preprocessor for a family's models."""
        return cls.preprocessor_cls

    @classmethod
    def preset_preprocessor(cls, preset, backbone=None, **kwargs):
        """The task's preprocessor for a preset (tokenizer included).

        Args:
            preset: a keras-hub preset id or folder, or a Hugging Face
                folder, of a supported family.
            backbone: optional backbone the preprocessor feeds: its
                `sequence_length` is then at most the backbone's
                `max_sequence_length` (keras-hub's default, 512, exceeds the
                positions of small models).
            **kwargs: preprocessor arguments, e.g. `sequence_length`.

        Returns:
            An instance of the family's preprocessor class.
        """
        family = adapter_backbone_class(preset_backbone_class(preset))
        preprocessor = preset_loader(preset).load_preprocessor(
            cls.family_preprocessor_cls(family), **kwargs
        )
        if backbone is not None and hasattr(preprocessor, "sequence_length"):
            preprocessor.sequence_length = min(
                preprocessor.sequence_length, backbone.max_sequence_length
            )
        return preprocessor
