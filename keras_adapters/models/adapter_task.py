"""What every task on the adapter BERT backbone shares: presets, modes."""

from keras_adapters.keras_hub_internals import get_preset_loader
from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_backbone import check_adapter_settings
from keras_adapters.models.adapter_bert_backbone import preset_backbone_class
from keras_adapters.models.adapter_bert_backbone import readable_load_errors
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


class AdapterTask:
    """Mixin of the keras-hub tasks built on an `AdapterBertBackbone`.

    Put it before the keras-hub task class (`class T(AdapterTask,
    keras_hub.models.TextClassifier)`). It loads plain BERT presets with
    fresh adapters, reloads presets saved from the task itself, and applies
    and serializes the tuning mode.
    """

    backbone_cls = AdapterBertBackbone

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
        """Builds the task on a pretrained BERT preset.

        Args:
            preset: anything `AdapterBertBackbone.from_preset` accepts. A
                preset saved from this task (`save_to_preset`) reloads with
                its head and adapters.
            load_weights: bool. Whether to load pretrained weights.
            adapter_size: int. Adapter width for a plain BERT preset
                (default: the config's); a saved adapter preset keeps its
                own.
            adapter_init_scale: float. Defaults to the config's.
            adapter_activation: adapter non-linearity. Defaults to the
                config's.
            adapter_layers: int or `None`. Adapters only in the top
                `adapter_layers` blocks of a plain BERT preset (`None`, the
                default: every block); a saved adapter preset keeps its own.
            adapter_config: `"adapter-bert"` (the default), `"houlsby"`,
                `"pfeiffer"` or an `AdapterConfig`, for a plain BERT
                preset; a saved adapter preset keeps its own.
            intermediate_activation: the blocks' feedforward activation
                (see `AdapterBertBackbone.from_preset`; `"auto"` reads a
                Hugging Face folder's `hidden_act`).
            **kwargs: constructor arguments (`tuning_mode`, `preprocessor`,
                `dtype`, ...).

        Returns:
            The task, with the preset's preprocessor unless `preprocessor`
            is given.
        """
        if issubclass(preset_backbone_class(preset), AdapterBertBackbone):
            # The preset loader loads `cls` itself: keras-hub's
            # `Task.from_preset` picks a task class by backbone class, and
            # two classifiers share `AdapterBertBackbone`. As keras-hub's,
            # a given `num_classes` means a new head (no task weights).
            with readable_load_errors(preset):
                task = get_preset_loader(preset).load_task(
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
        backbone = AdapterBertBackbone.from_preset(
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
    def preset_preprocessor(cls, preset, backbone=None, **kwargs):
        """The task's preprocessor for any BERT preset (tokenizer included).

        Args:
            preset: a keras-hub preset id or folder, or a Hugging Face BERT
                folder.
            backbone: optional backbone the preprocessor feeds: its
                `sequence_length` is then at most the backbone's
                `max_sequence_length` (keras-hub's default, 512, exceeds the
                positions of small models).
            **kwargs: preprocessor arguments, e.g. `sequence_length`.

        Returns:
            An instance of `cls.preprocessor_cls`.
        """
        preprocessor = get_preset_loader(preset).load_preprocessor(
            cls.preprocessor_cls, **kwargs
        )
        if backbone is not None and hasattr(preprocessor, "sequence_length"):
            preprocessor.sequence_length = min(
                preprocessor.sequence_length, backbone.max_sequence_length
            )
        return preprocessor
