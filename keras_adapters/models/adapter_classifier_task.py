"""What the adapter text classifiers share: labels or scores, inputs,
the default optimizer."""

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.adapter_bert_text_classifier_preprocessor import (
    AdapterBertTextClassifierPreprocessor,
)
from keras_adapters.models.adapter_bert_tokenizer import (
    hugging_face_strip_accents,
)
from keras_adapters.models.adapter_task import AdapterTask


class AdapterClassifierTask(AdapterTask):
    """Mixin of the text classifiers built on an `AdapterBertBackbone`.

    Put it before the keras-hub task class. It checks `num_classes` against
    `regression`, takes raw strings or tokenized batches, and compiles with
    the original optimizer and a loss for classes or for one score.
    """

    preprocessor_cls = AdapterBertTextClassifierPreprocessor

    @classmethod
    def preset_preprocessor(cls, preset, backbone=None, **kwargs):
        """`AdapterTask.preset_preprocessor`, whose tokenizer strips accents
        as a Hugging Face folder's own tokenizer does (see
        `hugging_face_strip_accents`)."""
        preprocessor = super().preset_preprocessor(preset, backbone, **kwargs)
        strip_accents = hugging_face_strip_accents(preset)
        if strip_accents is not None:
            preprocessor.tokenizer.strip_accents = strip_accents
        return preprocessor

    def _init_classifier(
        self,
        backbone,
        num_classes,
        regression,
        tuning_mode,
        top_k,
        train_pooler,
        freeze_below_adapters,
        train_layer_norms,
    ):
        """Validates the head's size and the tuning mode; call before the
        keras-hub constructor.

        Returns:
            `num_classes` as an int (`1` for regression).
        """
        if regression:
            num_classes = 1 if num_classes is None else num_classes
            if num_classes != 1:
                raise KerasAdaptersError(
                    "A regression classifier has one output; got "
                    f"num_classes={num_classes}. Drop `num_classes`."
                )
        elif num_classes is None or int(num_classes) < 2:
            raise KerasAdaptersError(
                f"`num_classes` must be >= 2 for classification, got "
                f"{num_classes}. Pass regression=True for one real output."
            )
        # Read by `compile()`, which `Task.__init__` calls.
        self.regression = bool(regression)
        self._init_tuning(
            backbone,
            tuning_mode,
            top_k,
            train_pooler,
            freeze_below_adapters,
            train_layer_norms,
        )
        return int(num_classes)

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

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs
    ):
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
            optimizer = self.default_optimizer()
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
        config["regression"] = self.regression
        return config
