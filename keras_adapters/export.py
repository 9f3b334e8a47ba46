"""SavedModel exports of classifiers and question answerers (raw strings).

The TensorFlow and the JAX backends export the same signatures.
"""

import numbers
import os

import keras
import tensorflow as tf

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models.multi_task_classifier import MultiTaskClassifier
from keras_adapters.models.span_decoding import best_answer_spans
from keras_adapters.output_files import check_output_folder
from keras_adapters.output_files import write_folder

# The signature's input names, for single sentences and for sentence pairs.
SENTENCE = "sentence"
PAIR = ("sentence1", "sentence2")
# The kind of folder an export writes (`keras_adapters.output_files`).
SAVED_MODEL = "saved_model"


def export_saved_model(
    classifier,
    export_dir,
    labels=None,
    sequence_length=None,
    *,
    pair=False,
    task_signatures=None,
):
    """Exports a classifier as a TensorFlow SavedModel that reads raw strings.

    The `serving_default` signature takes UTF-8 strings and runs the
    classifier's preprocessor (WordPiece tokenizer and packer, as tf-text
    ops) and the model in one graph, with the trained weights stored in the
    SavedModel. Loading it needs only `tensorflow` and `tensorflow_text`
    (`import tensorflow_text` registers the tokenizer ops): no keras-hub, no
    `keras_adapters` and no Keras code runs. (`import tensorflow` and
    `import tensorflow_text` do import Keras, which tf-text requires; a
    Keras-free process can register the ops with `tf.load_op_library` on
    each `.so` of `tensorflow_text/python/ops` instead.)

    Signature inputs: `sentence` (`[None]` `tf.string`), or `sentence1` and
    `sentence2` with `pair=True` (the pair is packed as
    `[CLS] a [SEP] b [SEP]`, as in training).

    Signature outputs: `probabilities` (`[None, num_classes]` float32: the
    softmax of the logits, or the outputs as they are when the classifier's
    activation already is softmax), `label_id` (`[None]` int32, the
    argmax), `score` (`[None]` float32, the probability of `label_id`) and,
    when `labels` is given, `label` (`[None]` `tf.string`, the name of the
    argmax). A regression classifier (`regression=True`) gives `score`
    (`[None]` float32, its output) only. These are the names the
    multi-task SavedModel answers with; the names of earlier versions stay
    as aliases: `label_ids`, `labels`, and `scores` for regression.

    The model runs in inference mode (`training=False`, no dropout), on
    each batch cut to its longest tokenized input.

    A `keras_adapters.MultiTaskClassifier` exports as one SavedModel for
    all its tasks: `serving_default(task, sentence, sentence2)` (`[None]`
    strings each; `task` names each example's task, `sentence2` is read for
    pair tasks only) returns `label` (string, `""` for regression),
    `label_id` (int32, `-1` for regression), `probabilities` (`[None,
    widest task]`, zeros beyond a task's classes and for regression) and
    `score` (the regression output, else the probability of `label`); and
    one signature per task, named after it, with that task's own inputs
    (`sentence`, or `sentence1` and `sentence2`) and classes. `labels`,
    `sequence_length` and `pair` come from each task then. Every signature
    calls one traced graph of the model, which runs each batch sorted by
    length, `SERVING_CHUNK` (8) examples at a time, each cut to its own
    longest example.

    On the JAX backend the model goes into the graph through `jax2tf`, as
    StableHLO lowered for CPU, CUDA and TPU (TensorFlow's `XlaCallModule`
    op runs it; `jax` is needed to export, not to serve). Each batch runs
    padded up to a multiple of 16 tokens (`JAX_WIDTH_MULTIPLE`; padding is
    masked, so the outputs do not change), and TensorFlow compiles the
    model at the first batch of each size and width (about 1 s for MiniLM
    on CPU), then reuses it. An empty batch gives empty outputs.

    `saved_model_cli show --dir DIR --all` works as installed, but
    `saved_model_cli run` fails with "Op type not registered
    'RegexSplitWithOffsets'": the CLI has no option to load custom-op
    libraries. Run the same CLI in a process that imported tensorflow_text:

    ```shell
    python -c "import sys, tensorflow_text; \\
    from tensorflow.python.tools import saved_model_cli; \\
    sys.argv[0] = 'saved_model_cli'; saved_model_cli.main()" \\
        run --dir DIR --tag_set serve --signature_def serving_default \\
        --input_exprs 'sentence=["a fine film"]'
    ```

    Args:
        classifier: an `AdapterBertTextClassifier` (or any keras-hub
            `TextClassifier`) with a preprocessor, or a
            `MultiTaskClassifier`, on the TensorFlow or the JAX backend.
        export_dir: string or path-like. The SavedModel directory, written
            whole and then renamed into place. A SavedModel this package
            wrote there earlier is replaced; any other existing folder, a
            file, or the current folder is refused (`OutputFolderError`)
            before any work is done.
        labels: optional list of `num_classes` label names, in class-id
            order. Not allowed for regression.
        sequence_length: optional int. Padded length of the exported
            tokenization; defaults to the preprocessor's `sequence_length`.
            The preprocessor itself is left unchanged.
        pair: bool, keyword-only. Export a sentence-pair signature
            (`sentence1`, `sentence2`, as many strings each) instead of
            `sentence`. Defaults to `False`.
        task_signatures: bool, keyword-only, for a `MultiTaskClassifier`
            only: whether to add one signature per task beside
            `serving_default`. Each costs memory where the SavedModel is
            loaded with `tf.saved_model.load` (MiniLM: about 20 MiB each),
            since TensorFlow loads a copy of the model's graph into every
            signature that calls it. Defaults to `False`.

    Returns:
        `export_dir`, as given.

    Example:

    ```python
    classifier = keras_adapters.models.AdapterBertTextClassifier.from_preset(
        "bert_base_en_uncased", num_classes=2
    )
    classifier.fit(x=["a fine film", "a dull film"], y=[1, 0], batch_size=2)
    keras_adapters.export.export_saved_model(
        classifier, "sentiment_model", labels=["neg", "pos"]
    )

    # Anywhere with TensorFlow and tf-text installed (no Keras needed):
    import tensorflow as tf
    import tensorflow_text  # registers the tokenizer ops

    serve = tf.saved_model.load("sentiment_model").signatures[
        "serving_default"
    ]
    serve(sentence=tf.constant(["what a film"]))["labels"]
    ```
    """
    check_output_folder(export_dir, SAVED_MODEL, "export_dir")
    if isinstance(classifier, MultiTaskClassifier):
        if (labels, sequence_length, pair) != (None, None, False):
            raise KerasAdaptersError(
                "A MultiTaskClassifier exports each task's own labels, "
                "sequence length and inputs; drop `labels`, "
                "`sequence_length` and `pair`."
            )
        return _export_multi_task(classifier, export_dir, bool(task_signatures))
    if task_signatures is not None:
        raise KerasAdaptersError(
            "`task_signatures` is for a MultiTaskClassifier; a single-task "
            "classifier has one signature."
        )
    regression = bool(getattr(classifier, "regression", False))
    if labels is not None and not isinstance(labels, (str, bytes)):
        labels = list(labels)
    preprocessor = _check_arguments(
        classifier, labels, sequence_length, pair, regression
    )
    if labels is not None:
        labels = [str(label) for label in labels]

    run_model = _serving_model(classifier)

    def serve(inputs):
        # `y=None`: called with a bare `(a, b)` tuple, keras-hub
        # preprocessors take it for `(x, y)` and drop the second sentence.
        outputs = run_model(preprocessor(inputs, y=None))
        if regression:
            return _with_old_names({"score": tf.reshape(outputs, [-1])})
        if classifier.activation is not keras.activations.softmax:
            outputs = tf.nn.softmax(outputs, axis=-1)
        label_ids = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        result = {
            "probabilities": outputs,
            "label_id": label_ids,
            "score": tf.reduce_max(outputs, axis=-1),
        }
        if labels is not None:
            result["label"] = tf.gather(tf.constant(labels), label_ids)
        return _with_old_names(result)

    if pair:

        def serve_pair(sentence1, sentence2):
            with tf.control_dependencies(
                [
                    tf.debugging.assert_equal(
                        tf.size(sentence1),
                        tf.size(sentence2),
                        message="sentence1 and sentence2 need as many "
                        "strings each",
                    )
                ]
            ):
                return serve((tf.identity(sentence1), tf.identity(sentence2)))

        function, names = serve_pair, PAIR
    else:

        def serve_sentence(sentence):
            return serve(sentence)

        function, names = serve_sentence, (SENTENCE,)

    signature = [tf.TensorSpec([None], tf.string, name=name) for name in names]
    serving = tf.function(function, input_signature=signature, autograph=False)
    previous_length = preprocessor.sequence_length
    if sequence_length is not None:
        preprocessor.sequence_length = int(sequence_length)
    try:
        concrete = serving.get_concrete_function()
    finally:
        preprocessor.sequence_length = previous_length
    _save_signature(concrete, export_dir, preprocessor)
    return export_dir


# The output names of the first single-task SavedModels, kept beside the
# names every SavedModel of the package shares.
OLD_OUTPUT_NAMES = {
    "label": "labels",
    "label_id": "label_ids",
    "score": "scores",
}


def _with_old_names(outputs):
    """`outputs` plus each under its old single-task name (`labels`, ...)."""
    renamed = {
        OLD_OUTPUT_NAMES[name]: value
        for name, value in outputs.items()
        if name in OLD_OUTPUT_NAMES
    }
    # A regression model's `scores` was its only output; a classifier had
    # no `scores`.
    if "probabilities" in outputs:
        renamed.pop("scores")
    return {**outputs, **renamed}


# The inputs of `MultiTaskClassifier`'s signature.
MULTI_TASK = ("task", SENTENCE, "sentence2")


def _export_multi_task(model, export_dir, task_signatures):
    """`export_saved_model` of a `MultiTaskClassifier`.

    Writes `serving_default(task, sentence, sentence2)` over every task
    and, with `task_signatures`, one signature per task, named after it,
    with that task's own inputs (`sentence`, or `sentence1` and
    `sentence2`).
    """
    _exportable_backend()
    infos = list(model.tasks.values())
    if not infos:
        raise KerasAdaptersError(
            "The MultiTaskClassifier has no task to export; add one with "
            "`add_task` first."
        )
    preprocessor = model.preprocessor
    run_model = _serving_model(
        model,
        tuple(name for name in MODEL_INPUTS if name in model.backbone.input)
        + ("task_ids",),
    )
    width = max(info.num_outputs for info in infos)
    label_names = tf.constant(
        [
            list(info.labels or ()) + [""] * (width - len(info.labels or ()))
            for info in infos
        ]
    )
    is_regression_task = tf.constant([info.regression for info in infos])

    def serve(task, sentence, sentence2):
        features = preprocessor(task, sentence, sentence2)
        logits = _in_length_chunks(run_model, features, width)
        task_ids = features["task_ids"]
        regression = tf.gather(is_regression_task, task_ids)
        # A task's unused columns are -inf: their probability is 0.
        probabilities = tf.where(
            regression[:, None], 0.0, tf.nn.softmax(logits, axis=-1)
        )
        label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        labels = tf.gather_nd(
            label_names, tf.stack([task_ids, label_ids], axis=1)
        )
        return {
            "label": tf.where(regression, "", labels),
            "label_id": tf.where(regression, -1, label_ids),
            "probabilities": probabilities,
            "score": tf.where(
                regression,
                logits[:, 0],
                tf.reduce_max(probabilities, axis=-1),
            ),
        }

    # Traced once: every signature calls this one graph of the model, so
    # the SavedModel holds (and loads) one copy of it, not one per task.
    serve = _string_function(serve, MULTI_TASK)
    signatures = {"serving_default": serve.get_concrete_function()}
    for info in infos if task_signatures else ():
        signatures[info.name] = _task_signature(serve, info)
    _save_signatures(signatures, export_dir, model.preprocessor)
    return export_dir


# A multi-task batch runs sorted by length, this many examples at a time.
SERVING_CHUNK = 8


def _in_length_chunks(run_model, features, width, chunk=SERVING_CHUNK):
    """`run_model` over a batch sorted by length, `chunk` rows at a time.

    Each chunk is cut to its own longest row, so a batch that mixes short
    single sentences with long sentence pairs (tasks differ) does not pad
    every row to the longest one. The model runs in a loop, so the graph
    holds it once.

    Args:
        run_model: `_serving_model`'s function, features to `[rows,
            width]` outputs.
        features: the batch's features (`padding_mask` among them).
        width: the static width of the outputs.
        chunk: rows per model call.

    Returns:
        The `[batch, width]` outputs, in the batch's order.
    """
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), 1)
    order = tf.argsort(lengths)
    count = tf.size(lengths)
    num_chunks = (count + chunk - 1) // chunk

    def body(index, outputs):
        rows = order[index * chunk : tf.minimum((index + 1) * chunk, count)]
        part = {key: tf.gather(value, rows) for key, value in features.items()}
        return index + 1, outputs.write(index, run_model(part))

    _, outputs = tf.while_loop(
        lambda index, _: index < num_chunks,
        body,
        (
            tf.constant(0),
            tf.TensorArray(
                tf.float32,
                size=num_chunks,
                infer_shape=False,
                element_shape=[None, width],
            ),
        ),
    )
    return tf.scatter_nd(order[:, None], outputs.concat(), [count, width])


def _task_signature(serve, info):
    """One task's signature: its own inputs, its own classes."""

    def serve_task(*texts):
        count = tf.size(texts[0])
        second = texts[1] if info.pair else tf.fill([count], "")
        outputs = serve(tf.fill([count], info.name), texts[0], second)
        if info.regression:
            return {"score": outputs["score"]}
        probabilities = outputs["probabilities"][:, : info.num_outputs]
        return {**outputs, "probabilities": probabilities}

    names = PAIR if info.pair else (SENTENCE,)
    return _string_function(serve_task, names).get_concrete_function()


def _string_function(function, names):
    """`function` as a `tf.function` of `[None]` string inputs `names`."""
    signature = [tf.TensorSpec([None], tf.string, name=name) for name in names]
    return tf.function(function, input_signature=signature, autograph=False)


def _trim_to_longest(features):
    """Cuts every `[batch, sequence]` feature to the batch's longest row.

    The model masks padding, so its outputs do not change; a batch of short
    sentences then costs what its tokens cost, not `sequence_length`.
    """
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), 1)
    width = tf.maximum(tf.reduce_max(lengths), 1)
    return {
        key: value[:, :width] if value.shape.rank == 2 else value
        for key, value in features.items()
    }


# The model's inputs among the preprocessor's features.
MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask")

# On the JAX backend each batch runs padded up to a multiple of this many
# tokens (at most the preprocessor's sequence length), so that the served
# model compiles once per batch size and width step, not once per length.
JAX_WIDTH_MULTIPLE = 16

# The platforms the JAX export's StableHLO is lowered for: TensorFlow runs
# the SavedModel on whichever of them it places the model on.
JAX_PLATFORMS = ("cpu", "cuda", "tpu")


def _serving_model(model, input_names=None):
    """The model in inference mode as a function of TensorFlow tensors.

    Returns `run(features)`: the preprocessor's features of a batch (full
    `sequence_length` width) in, the model's outputs (float32) out, the
    batch cut to its longest input. Sequence outputs (question answering)
    may come out wider than that longest input (on JAX); their first
    `longest` positions are the model's outputs.

    Args:
        model: the Keras model.
        input_names: the features the model reads: `[batch, sequence]`
            ones, then any `[batch]` ones (`task_ids`). Defaults to those of
            `MODEL_INPUTS` among the model's inputs (RoBERTa, XLM-RoBERTa
            and DistilBERT read no `segment_ids`).
    """
    if input_names is None:
        input_names = tuple(
            name for name in MODEL_INPUTS if name in model.input
        )
    if keras.config.backend() == "jax":
        return _jax_serving_model(model, input_names)

    def run(features):
        inputs = _trim_to_longest({key: features[key] for key in input_names})
        return tf.cast(model(inputs, training=False), tf.float32)

    return run


def _jax_serving_model(model, input_names):
    """`_serving_model` on the JAX backend, through `jax2tf`.

    The model's weights become `tf.Variable`s that the graph reads (the
    SavedModel stores them); its `stateless_call` is serialized as StableHLO
    with a symbolic batch size `b` and width `L` (`L` bounded by the
    preprocessor's sequence length, which keras-hub's position embedding
    needs to know). Each batch is padded up to a multiple of
    `JAX_WIDTH_MULTIPLE` tokens; the padding is masked, so the outputs are
    those of the batch at its own width.
    """
    from jax.experimental import jax2tf

    weights = list(model.weights)
    index = {id(weight): i for i, weight in enumerate(weights)}
    variables = [
        tf.Variable(keras.ops.convert_to_numpy(weight), trainable=False)
        for weight in weights
    ]

    def stateless(values, *inputs):
        def value(variable):
            # Not a weight (a dropout seed): unused in inference.
            i = index.get(id(variable))
            return variable.value if i is None else values[i]

        outputs, _ = model.stateless_call(
            [value(v) for v in model.trainable_variables],
            [value(v) for v in model.non_trainable_variables],
            dict(zip(input_names, inputs)),
            training=False,
        )
        return keras.ops.cast(outputs, "float32")

    def run(features):
        inputs = [features[key] for key in input_names]
        limit = inputs[0].shape[1]
        if limit is None:
            limit = model.backbone.max_sequence_length
        lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), 1)
        step = JAX_WIDTH_MULTIPLE
        width = (tf.maximum(tf.reduce_max(lengths), 1) + step - 1) // step
        width = tf.minimum(width * step, limit)
        # JAX's symbolic sizes are at least 1: an empty batch runs one row
        # of padding, dropped from the outputs.
        count = tf.shape(inputs[0])[0]
        extra = tf.maximum(count, 1) - count
        inputs = [
            tf.pad(x[:, :width], [[0, extra], [0, 0]])
            if x.shape.rank == 2
            else tf.pad(x, [[0, extra]])
            for x in inputs
        ]
        converted = jax2tf.convert(
            stateless,
            polymorphic_shapes=[None]
            + ["(b, L)" if x.shape.rank == 2 else "(b,)" for x in inputs],
            polymorphic_constraints=[f"L <= {limit}"],
            with_gradient=False,
            native_serialization_platforms=JAX_PLATFORMS,
        )
        return converted(variables, *inputs)[:count]

    return run


def _save_signature(concrete, export_dir, preprocessor):
    """Saves one concrete function as `serving_default`, with its weights
    and the lookup tables of `preprocessor`'s tokenizer."""
    _save_signatures({"serving_default": concrete}, export_dir, preprocessor)


def _tokenizer_resources(preprocessor):
    """The lookup tables (and `tf.Module`s holding them) a preprocessor's
    tokenizer keeps outside Keras' tracking: keras-hub's byte-pair
    tokenizer (RoBERTa's) has its vocabulary and merge cache in them."""
    tokenizer = getattr(preprocessor, "tokenizer", None)
    return [
        value
        for value in vars(tokenizer).values()
        if isinstance(
            value, (tf.Module, tf.saved_model.experimental.TrackableResource)
        )
    ]


def _save_signatures(signatures, export_dir, preprocessor):
    """Saves concrete functions by signature name, with their weights and
    the lookup tables of `preprocessor`'s tokenizer."""
    # Only the signature is saved (no polymorphic function: saving one would
    # trace it again). Track the `tf.Variable`s the graph reads, not the
    # Keras variables that wrap them: a Keras variable exports as a second,
    # separate variable, so the weights would be restored into a copy that
    # the graph never reads when the SavedModel is loaded as a TF1 graph
    # (`saved_model_cli run`, TF Serving).
    module = tf.Module()
    module.model_variables = list(
        {
            id(variable): variable
            for concrete in signatures.values()
            for variable in concrete.variables
        }.values()
    )
    if not module.model_variables:
        raise KerasAdaptersError(
            "The traced model reads no variables; nothing to export."
        )
    module.tokenizer_resources = _tokenizer_resources(preprocessor)
    write_folder(
        os.fspath(export_dir),
        lambda path: tf.saved_model.save(module, path, signatures=signatures),
        SAVED_MODEL,
        argument="export_dir",
    )


def export_question_answerer(
    model,
    export_dir,
    n_best_size=20,
    max_answer_length=30,
    null_score_diff_threshold=None,
):
    """Exports a question answerer as a SavedModel that reads raw strings.

    The `serving_default` signature takes `question` and `context`
    (`[None]` `tf.string`, one question per context) and runs, in one
    graph, the model's preprocessor (WordPiece with byte offsets, query
    truncation, sliding windows, max-context marks), the model on every
    window, and the decoding of `decode_answers` (top-1). Loading it needs
    only `tensorflow` and `tensorflow_text`.

    Signature outputs, one per question: `answer` (`tf.string`, an exact
    slice of the context, `""` for no answer), `answer_start` (int32
    character offset of the answer in the context, `-1` for no answer),
    `score` (float32 start + end logit of the answer) and `null_score_diff`
    (float32, the `[CLS]` score minus the best span's: SQuAD 2.0's no-answer
    odds). Each batch runs cut to its longest window, whatever its width
    (narrower than `max_answer_length` included); an empty batch gives
    empty outputs.

    On the JAX backend the model runs as in `export_saved_model` (through
    `jax2tf`, windows padded up to a multiple of 16 tokens); the decoding
    reads its logits at the batch's own width, so the answers are the same.

    Args:
        model: an `AdapterBertQuestionAnswerer` with a preprocessor, on the
            TensorFlow or the JAX backend.
        export_dir: the SavedModel folder, written as in
            `export_saved_model` (only an earlier SavedModel of this package
            there is replaced).
        n_best_size: int. Starts and ends considered per window.
        max_answer_length: int. Longest answer, in tokens.
        null_score_diff_threshold: float or `None`. For SQuAD 2.0 models,
            answer `""` when `null_score_diff` exceeds it; `None` (SQuAD
            1.1) always gives the best span.

    Returns:
        `export_dir`, as given.

    Example:

    ```python
    keras_adapters.export_question_answerer(model, "squad_model")

    import tensorflow as tf
    import tensorflow_text  # registers the tokenizer ops

    serve = tf.saved_model.load("squad_model").signatures["serving_default"]
    serve(
        question=tf.constant(["Who wrote it?"]),
        context=tf.constant(["Ann wrote it."]),
    )["answer"]
    ```
    """
    check_output_folder(export_dir, SAVED_MODEL, "export_dir")
    preprocessor = _exportable_preprocessor(model)
    run_model = _serving_model(model)

    def serve(question, context):
        with tf.control_dependencies(
            [
                tf.debugging.assert_equal(
                    tf.size(question),
                    tf.size(context),
                    message="question and context need as many strings each",
                )
            ]
        ):
            windows = preprocessor(
                {"question": tf.identity(question), "context": context}
            )
        logits = run_model(windows)
        windows = _trim_to_longest(windows)
        # The JAX model may run wider (padded); decode at the batch's width.
        logits = logits[:, :, : tf.shape(windows["token_ids"])[1]]
        begin, end, score, null = best_answer_spans(
            logits,
            windows,
            tf.size(question),
            n_best_size=n_best_size,
            max_answer_length=max_answer_length,
        )
        has_answer = tf.math.is_finite(score)
        if null_score_diff_threshold is not None:
            has_answer &= null - score <= null_score_diff_threshold
        answer = tf.strings.substr(context, begin, end - begin, unit="BYTE")
        start = tf.strings.length(
            tf.strings.substr(
                context, tf.zeros_like(begin), begin, unit="BYTE"
            ),
            unit="UTF8_CHAR",
        )
        return {
            "answer": tf.where(has_answer, answer, ""),
            "answer_start": tf.where(has_answer, start, -1),
            "score": score,
            "null_score_diff": null - score,
        }

    signature = [
        tf.TensorSpec([None], tf.string, name=name)
        for name in ("question", "context")
    ]
    serving = tf.function(serve, input_signature=signature, autograph=False)
    _save_signature(serving.get_concrete_function(), export_dir, preprocessor)
    return export_dir


def _exportable_backend():
    """Raises unless the backend is one that exports SavedModels."""
    if keras.config.backend() not in ("tensorflow", "jax"):
        raise KerasAdaptersError(
            "SavedModel export needs the TensorFlow or JAX backend; got "
            f"KERAS_BACKEND={keras.config.backend()!r}."
        )


def _exportable_preprocessor(model):
    """The preprocessor a raw-string SavedModel of `model` runs in its graph.

    Raises:
        KerasAdaptersError: neither the TensorFlow nor the JAX backend, or
            no preprocessor.
    """
    _exportable_backend()
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        raise KerasAdaptersError(
            "export needs the model's preprocessor to read raw strings; "
            "build the model with `preprocessor=...` (from_preset sets one)."
        )
    return preprocessor


def _check_arguments(classifier, labels, sequence_length, pair, regression):
    """Validates `export_saved_model`'s arguments; returns the preprocessor."""
    preprocessor = _exportable_preprocessor(classifier)
    if not isinstance(pair, bool):
        raise KerasAdaptersError(f"`pair` must be True or False, got {pair!r}.")
    if regression and labels is not None:
        raise KerasAdaptersError(
            "A regression classifier has no classes; drop `labels`."
        )
    num_classes = getattr(classifier, "num_classes", None)
    if labels is not None:
        if isinstance(labels, (str, bytes)) or len(labels) != num_classes:
            raise KerasAdaptersError(
                f"`labels` must name each of the {num_classes} classes; got "
                f"{labels!r}."
            )
    if sequence_length is not None:
        limit = getattr(
            getattr(classifier, "backbone", None),
            "max_sequence_length",
            None,
        )
        # [CLS] a [SEP], or [CLS] a [SEP] b [SEP], needs room.
        minimum = 3 if pair else 2
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, numbers.Integral)
            or sequence_length < minimum
            or (limit is not None and sequence_length > limit)
        ):
            raise KerasAdaptersError(
                f"`sequence_length` must be an int in [{minimum}, the "
                f"backbone's max_sequence_length={limit}]; got "
                f"{sequence_length!r}."
            )
    return preprocessor
