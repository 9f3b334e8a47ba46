"""Sentence (pair) classification and regression with an adapter BERT."""

import keras
from keras_hub.models import BertTextClassifier

from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_text_classifier_preprocessor import (
    AdapterBertTextClassifierPreprocessor,
)
from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.models.head_layout import HeadLayout


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterBertTextClassifier(AdapterClassifierTask, BertTextClassifier):
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

    backbone_cls = AdapterBertBackbone
    preprocessor_cls = AdapterBertTextClassifierPreprocessor
    default_head_layout = HeadLayout(
        reads_pooler=True, dense_layers=(("logits", None),)
    )
