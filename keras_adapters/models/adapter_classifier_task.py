"""What the adapter text classifiers share: labels or scores, inputs,
the default optimizer."""

import keras
from keras_hub.tokenizers import WordPieceTokenizer

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.adapter_bert_tokenizer import (
    hugging_face_strip_accents,
)
from keras_adapters.models.adapter_task import AdapterTask
from keras_adapters.models.adapter_task import family_task


class AdapterClassifierTask(AdapterTask):
    """Mixin of the text classifiers built on an adapter backbone.

    Put it before the keras-hub task class (`class C(AdapterClassifierTask,
    keras_hub.models.RobertaTextClassifier)`): its constructor takes the
    tuning mode and `regression` and passes the rest to the keras-hub
    classifier's. It checks `num_classes` against `regression`, takes raw
    strings or tokenized batches, and compiles with the original optimizer
    and a loss for classes or for one score. Each
    family has its classifier (`AdapterBertTextClassifier`,
    `AdapterRobertaTextClassifier`, ...: `for_family()` finds it); a
    classifier of any family (`AdapterHubTextClassifier`) reads text with
    its family's preprocessor.
    """

    # How the head reads the backbone, with the class's default arguments.
    default_head_layout = None

    @classmethod
    def head_layout(cls, config=None):
        """How the head of a classifier of this class reads the backbone.

        Args:
            config: optional dict, the classifier's config (as an artifact
                saves it). Defaults to the class's default arguments.

        Returns:
            A `keras_adapters.models.HeadLayout`.
        """
        del config  # The head's layout takes no argument.
        return cls.default_head_layout

    @classmethod
    def for_family(cls, family):
        """The classifier class of a family (an adapter backbone class)."""
        return family_task(AdapterClassifierTask, family)

    @classmethod
    def family_preprocessor_cls(cls, family):
        """The preprocessor class of the family's own classifier."""
        return cls.for_family(family).preprocessor_cls

    @classmethod
    def preset_preprocessor(cls, preset, backbone=None, **kwargs):
        """`AdapterTask.preset_preprocessor`, whose WordPiece tokenizer
        strips accents as a Hugging Face folder's own tokenizer does (see
        `hugging_face_strip_accents`)."""
        preprocessor = super().preset_preprocessor(preset, backbone, **kwargs)
        strip_accents = hugging_face_strip_accents(preset)
        if strip_accents is not None and isinstance(
            preprocessor.tokenizer, WordPieceTokenizer
        ):
            preprocessor.tokenizer.strip_accents = strip_accents
        return preprocessor

    def __init__(
        self,
        backbone,
        num_classes=None,
        regression=False,
        tuning_mode="adapters",
        top_k=None,
        train_pooler=False,
        freeze_below_adapters=False,
        train_layer_norms=None,
        **kwargs,
    ):
        """Checks the head's size and the tuning mode, builds the keras-hub
        classifier (`**kwargs` are its arguments) and applies the mode."""
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
            backbone=backbone, num_classes=int(num_classes), **kwargs
        )
        self._apply_tuning()

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Tokenizes raw strings; passes already tokenized batches through.

        `fit`, `evaluate` and `predict` thus take raw strings (through the
        preprocessor) or dicts of `token_ids`, `padding_mask` (and
        `segment_ids` for the families that read them), such as the
        length-bucketed batches of `keras_adapters.training.pipeline`; the
        features the model does not read are dropped.
        """
        if isinstance(x, dict) and "token_ids" in x:
            x = {name: x[name] for name in self.input}
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
