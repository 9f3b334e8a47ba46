"""Sentence (pair) classification and regression with an adapter BERT."""

import keras
from keras_hub.models import BertTextClassifier
from keras_hub.src.utils.keras_utils import gelu_approximate
from keras_hub.src.utils.preset_utils import get_preset_loader

from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_backbone import check_adapter_size
from keras_adapters.models.adapter_bert_backbone import preset_backbone_class
from keras_adapters.models.adapter_bert_backbone import readable_load_errors
from keras_adapters.models.adapter_bert_text_classifier_preprocessor import (
    AdapterBertTextClassifierPreprocessor,
)
from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.tuning import TuningMode
from keras_adapters.tuning import set_tuning_mode

# Default peak rates of `compile()`: the original README's adapter example
# (3e-4) and BERT's fine-tuning default (5e-5).
DEFAULT_LEARNING_RATES = {
    "adapters": 3e-4,
    "layer_norm": 3e-4,
    "top_k": 5e-5,
    "full": 5e-5,
}


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertTextClassifier(BertTextClassifier):
    """A BERT classifier (or regressor) trained through adapters.

    The head is the original one: the pooled `[CLS]` output, dropout, and a
    dense layer (truncated-normal 0.02 initializer) giving `num_classes`
    logits. With `regression=True` the head gives one score and `compile()`
    defaults to mean squared error (STS-B).

    The model is put in `tuning_mode` at construction (`"adapters"` unless
    told otherwise; see `keras_adapters.set_tuning_mode`), and the mode is
    part of its config, so a reloaded model trains the same variables.

    Args:
        backbone: an `AdapterBertBackbone`.
        num_classes: int. Number of classes; must be `1` with
            `regression=True` (its default then).
        preprocessor: an `AdapterBertTextClassifierPreprocessor` (or
            keras-hub's `BertTextClassifierPreprocessor`), or `None` for
            models fed with token ids.
        activation: optional activation of the outputs, e.g. `"softmax"`.
            Defaults to `None` (logits).
        dropout: float. Dropout before the head. Defaults to `0.1`.
        regression: bool. One real-valued output. Defaults to `False`.
        tuning_mode: string. Defaults to `"adapters"`.
        top_k: int. Number of trained blocks in `"top_k"` mode.
        train_pooler: bool. Also train the pooler in partial modes.

    Example:

    ```python
    classifier = keras_adapters.models.AdapterBertTextClassifier.from_preset(
        "bert_base_en_uncased", num_classes=2, adapter_size=64
    )
    classifier.fit(x=["a fine film", "a dull film"], y=[1, 0], batch_size=2)
    classifier.predict(["what a film"])
    ```
    """

    backbone_cls = AdapterBertBackbone
    preprocessor_cls = AdapterBertTextClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes=None,
        preprocessor=None,
        activation=None,
        dropout=0.1,
        regression=False,
        tuning_mode="adapters",
        top_k=None,
        train_pooler=False,
        **kwargs,
    ):
        if regression:
            num_classes = 1 if num_classes is None else num_classes
            if num_classes != 1:
                raise ValueError(
                    "A regression classifier has one output; got "
                    f"num_classes={num_classes}. Drop `num_classes`."
                )
        elif num_classes is None or int(num_classes) < 2:
            raise ValueError(
                f"`num_classes` must be >= 2 for classification, got "
                f"{num_classes}. Pass regression=True for one real output."
            )
        # Read by `compile()`, which `Task.__init__` calls.
        self.regression = bool(regression)
        self.tuning = TuningMode(tuning_mode, top_k, train_pooler)
        super().__init__(
            backbone=backbone,
            num_classes=int(num_classes),
            preprocessor=preprocessor,
            activation=activation,
            dropout=dropout,
            **kwargs,
        )
        set_tuning_mode(self, tuning_mode, top_k, train_pooler)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Tokenizes raw strings; passes already tokenized batches through.

        `fit`, `evaluate` and `predict` thus take raw strings (through the
        preprocessor) or dicts of `token_ids`, `segment_ids` and
        `padding_mask`, such as the length-bucketed batches of
        `keras_adapters.training.pipeline`.
        """
        if isinstance(x, dict) and "token_ids" in x:
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        return super().preprocess_samples(x, y, sample_weight)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Configures training, with the original optimizer by default.

        Args:
            optimizer: `"auto"` for `AdamWeightDecay` at a constant 3e-4
                (adapters, layer_norm) or 5e-5 (full, top_k); pass an
                `AdamWeightDecay` with a `WarmupLinearDecay` schedule to
                reproduce the original recipe.
            loss: `"auto"` for sparse categorical cross-entropy, or mean
                squared error with `regression=True`.
            metrics: `"auto"` for sparse categorical accuracy, or mean
                absolute error with `regression=True`.
            **kwargs: other `keras.Model.compile` arguments.
        """
        if optimizer == "auto":
            optimizer = AdamWeightDecay(
                DEFAULT_LEARNING_RATES[self.tuning.mode]
            )
        if self.regression:
            if loss == "auto":
                loss = keras.losses.MeanSquaredError()
            if metrics == "auto":
                metrics = [keras.metrics.MeanAbsoluteError()]
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "regression": self.regression,
                "tuning_mode": self.tuning.mode,
                "top_k": self.tuning.top_k,
                "train_pooler": self.tuning.train_pooler,
            }
        )
        return config

    @classmethod
    def from_preset(
        cls,
        preset,
        load_weights=True,
        adapter_size=None,
        adapter_init_scale=1e-3,
        adapter_activation=gelu_approximate,
        **kwargs,
    ):
        """Builds a classifier on a pretrained BERT preset.

        Args:
            preset: anything `AdapterBertBackbone.from_preset` accepts. A
                preset saved from this classifier (`save_to_preset`) reloads
                with its head and adapters.
            load_weights: bool. Whether to load pretrained weights.
            adapter_size: int. Adapter width for a plain BERT preset
                (default `64`); a saved adapter preset keeps its own.
            adapter_init_scale: float. Defaults to `1e-3`.
            adapter_activation: adapter non-linearity. Defaults to GELU.
            **kwargs: constructor arguments (`num_classes`, `tuning_mode`,
                `preprocessor`, `dtype`, ...).

        Returns:
            An `AdapterBertTextClassifier` whose preprocessor comes from the
            preset unless `preprocessor` is given.
        """
        if issubclass(preset_backbone_class(preset), AdapterBertBackbone):
            with readable_load_errors(preset):
                classifier = super().from_preset(
                    preset, load_weights=load_weights, **kwargs
                )
            check_adapter_size(preset, classifier.backbone, adapter_size)
            return classifier
        backbone = AdapterBertBackbone.from_preset(
            preset,
            adapter_size=adapter_size,
            adapter_init_scale=adapter_init_scale,
            adapter_activation=adapter_activation,
            load_weights=load_weights,
            dtype=kwargs.pop("dtype", None),
        )
        if "preprocessor" not in kwargs:
            kwargs["preprocessor"] = cls.preset_preprocessor(preset)
        return cls(backbone=backbone, **kwargs)

    @classmethod
    def preset_preprocessor(cls, preset):
        """The classifier preprocessor of any BERT preset (tokenizer included).

        Args:
            preset: a keras-hub preset id or folder, or a Hugging Face BERT
                folder.

        Returns:
            An `AdapterBertTextClassifierPreprocessor`.
        """
        return get_preset_loader(preset).load_preprocessor(
            cls.preprocessor_cls
        )
