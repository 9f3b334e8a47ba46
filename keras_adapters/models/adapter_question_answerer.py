"""Extractive question answering (SQuAD) with an adapter encoder."""

import keras
from keras_hub.models import Task

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.span_head import SpanHead
from keras_adapters.models.adapter_task import AdapterTask
from keras_adapters.models.adapter_task import family_task


class AdapterQuestionAnswerer(AdapterTask, Task):
    """BERT's SQuAD model on an adapter backbone of any family.

    The base of each family's question answerer
    (`AdapterBertQuestionAnswerer`, `AdapterRobertaQuestionAnswerer`, ...:
    `for_family()` finds it), which names its backbone and preprocessor
    classes.

    The head is the original one: a dense layer over every token of the
    sequence output giving a start and an end logit (`SpanHead`). The head
    belongs to the task, so it trains in every tuning mode (adapter-bert's
    optimizer, which trained only variables named `adapter` or `layer_norm`,
    would have frozen it).

    The model reads the windows of its family's
    `AdapterQuestionAnswererPreprocessor` (`token_ids`, `padding_mask`, and
    `segment_ids` for BERT and ELECTRA) and returns `[batch, 2,
    sequence]` float32 logits, start then end. Its targets are `[batch, 2]`
    gold start and end positions (`0`, the `[CLS]` token, for a window
    without the answer). `keras_adapters.data.squad_features` makes both
    from SQuAD examples and `keras_adapters.models.span_decoding` turns
    logits back into answer strings.

    Args:
        backbone: an adapter backbone of the family.
        preprocessor: the family's `AdapterQuestionAnswererPreprocessor` or
            `None`.
        tuning_mode: string. Defaults to `"adapters"`.
        top_k: int. Number of trained blocks in `"top_k"` mode.
        train_pooler: must stay `False`: the span head does not read the
            pooler, which stays frozen in every mode (`"full"` included).
        freeze_below_adapters: bool. In `"adapters"` mode, also freeze the
            LayerNorms below the lowest adapter block (AdapterDrop; see
            `keras_adapters.set_tuning_mode`).
        train_layer_norms: bool. In `"adapters"` mode, whether the
            pretrained LayerNorms train. Defaults to `None`: as the
            backbone's adapter config says (adapter-bert's: yes; AdapterHub's
            `"houlsby"` and `"pfeiffer"`: no).

    Example:

    ```python
    model = keras_adapters.models.AdapterBertQuestionAnswerer.from_preset(
        "bert_base_en_uncased", adapter_size=64
    )
    windows = model.preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    logits = model.predict(
        {k: windows[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    )
    ```
    """

    @classmethod
    def for_family(cls, family):
        """The question answerer class of a family (an adapter backbone
        class)."""
        return family_task(AdapterQuestionAnswerer, family)

    def __init__(
        self,
        backbone,
        preprocessor=None,
        tuning_mode="adapters",
        top_k=None,
        train_pooler=False,
        freeze_below_adapters=False,
        train_layer_norms=None,
        **kwargs,
    ):
        if train_pooler:
            raise KerasAdaptersError(
                "The question answerer does not use the pooler; drop "
                "`train_pooler`."
            )
        self._init_tuning(
            backbone,
            tuning_mode,
            top_k,
            train_pooler,
            freeze_below_adapters,
            train_layer_norms,
        )
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.span_head = SpanHead(dtype=backbone.dtype_policy, name="span_head")

        # === Functional Model ===
        inputs = backbone.input
        outputs = backbone(inputs)
        if isinstance(outputs, dict):
            outputs = outputs["sequence_output"]
        logits = self.span_head(outputs, inputs["padding_mask"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self._apply_tuning()
        for layer in backbone.pooler_layers:
            for variable in layer.weights:
                variable.trainable = False

    def compile(
        self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs
    ):
        """Configures training, with the original loss and optimizer.

        Args:
            optimizer: `"auto"` for `AdamWeightDecay` at a constant 3e-4
                (adapters, layer_norm) or 5e-5 (full, top_k).
            loss: `"auto"` for the mean of the start and end cross-entropies.
            metrics: `"auto"` for the accuracy of the start and end positions.
            **kwargs: other `keras.Model.compile` arguments.
        """
        if optimizer == "auto":
            optimizer = self.default_optimizer()
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Passes windows through (this task is fed tokenized windows),
        without the features the model does not read."""
        x = {name: x[name] for name in self.input}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
