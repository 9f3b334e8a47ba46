"""Sentence (pair) classification and regression with an adapter BERT."""

import keras
from keras_hub.models import BertTextClassifier

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.adapter_bert_text_classifier_preprocessor import (
    AdapterBertTextClassifierPreprocessor,
)
from keras_adapters.models.adapter_task import AdapterTask


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertTextClassifier(AdapterTask, BertTextClassifier):
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
        freeze_below_adapters: bool. In `"adapters"` mode, also freeze the
            LayerNorms below the lowest adapter block (AdapterDrop; see
            `keras_adapters.set_tuning_mode`).
        train_layer_norms: bool. In `"adapters"` mode, whether the
            pretrained LayerNorms train. Defaults to `None`: as the
            backbone's adapter config says (adapter-bert's: yes; AdapterHub's
            `"houlsby"` and `"pfeiffer"`: no).

    Example:

    ```python
    classifier = keras_adapters.models.AdapterBertTextClassifier.from_preset(
        "bert_base_en_uncased", num_classes=2, adapter_size=64
    )
    classifier.fit(x=["a fine film", "a dull film"], y=[1, 0], batch_size=2)
    classifier.predict(["what a film"])
    ```
    """

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
        freeze_below_adapters=False,
        train_layer_norms=None,
        **kwargs,
    ):
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
        super().__init__(
            backbone=backbone,
            num_classes=int(num_classes),
            preprocessor=preprocessor,
            activation=activation,
            dropout=dropout,
            **kwargs,
        )
        self._apply_tuning()

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
