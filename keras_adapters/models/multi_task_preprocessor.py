"""Raw strings and task names into the inputs of a multi-task classifier."""

import tensorflow as tf
from keras_hub.models import BertTextClassifierPreprocessor

from keras_adapters.errors import KerasAdaptersError


def _check(condition, *message):
    """Refuses a batch unless `condition`, saying `message` (strings and
    string tensors): at once as a `KerasAdaptersError` when running
    eagerly, else as a graph assertion (a SavedModel's
    `InvalidArgumentError`).

    Returns:
        The control dependencies to run first (empty when eager).
    """
    if not tf.executing_eagerly():
        return [tf.debugging.Assert(condition, list(message), summarize=8)]
    if not condition:
        words = [
            part
            if isinstance(part, str)
            else ", ".join(value.decode() for value in part.numpy())
            for part in message
        ]
        raise KerasAdaptersError(" ".join(words))
    return []


class MultiTaskPreprocessor:
    """Tokenizes a batch in which every example names its task.

    Each example is packed as its own task was trained, by the packer of
    the family's text classifier preprocessor: BERT's `[CLS] a [SEP]` for
    single-sentence tasks and `[CLS] a [SEP] b [SEP]` for sentence-pair
    tasks (RoBERTa's `<s> a </s></s> b </s>`, ...), truncated to the task's
    sequence length; the batch is cut to its
    longest example (padding is masked, so outputs do not depend on it).
    The text is tokenized once and packed once per distinct (pair, length)
    setting among the tasks. TensorFlow ops only, so it runs in `tf.data`
    and inside a SavedModel, on any Keras backend.

    Args:
        tokenizer: the base model's tokenizer (`keras_hub.models.
            BertTokenizer`, `RobertaTokenizer`, ...).
        task_names: list of the task names, in task-id order.
        pair: list of bools, whether each task reads sentence pairs.
        sequence_lengths: list of ints, each task's sequence length.
        preprocessor_cls: the family's keras-hub `TextClassifierPreprocessor`
            class, whose packer joins the segments. Defaults to BERT's.

    Example:

    ```python
    preprocessor = MultiTaskPreprocessor(
        tokenizer, ["cola", "mrpc"], pair=[False, True],
        sequence_lengths=[128, 128],
    )
    features = preprocessor(
        task=tf.constant(["cola", "mrpc"]),
        sentence=tf.constant(["It rains.", "He left."]),
        sentence2=tf.constant(["", "He went away."]),
    )
    sorted(features)
    # ['padding_mask', 'segment_ids', 'task_ids', 'token_ids']
    ```
    """

    def __init__(
        self,
        tokenizer,
        task_names,
        pair,
        sequence_lengths,
        preprocessor_cls=BertTextClassifierPreprocessor,
    ):
        self.tokenizer = tokenizer
        self.preprocessor_cls = preprocessor_cls
        self.task_names = list(task_names)
        self.pair = [bool(value) for value in pair]
        self.sequence_lengths = [int(value) for value in sequence_lengths]
        self.settings = sorted(set(zip(self.pair, self.sequence_lengths)))

    def packer(self, sequence_length):
        """The family's packer of segments into `sequence_length` tokens."""
        preprocessor = self.preprocessor_cls(
            tokenizer=self.tokenizer, sequence_length=sequence_length
        )
        preprocessor.build(None)
        return preprocessor.packer

    def task_ids(self, task):
        """The task index of each name in `task`; fails on unknown names."""
        task = tf.convert_to_tensor(task, tf.string)
        names = tf.constant(self.task_names)
        matches = tf.equal(task[:, None], names[None, :])
        known = tf.reduce_any(matches, axis=1)
        check = _check(
            tf.reduce_all(known),
            "Unknown task name(s):",
            tf.boolean_mask(task, ~known),
            "known tasks:",
            names,
        )
        with tf.control_dependencies(check):
            return tf.argmax(
                tf.cast(matches, tf.int32), axis=1, output_type=tf.int32
            )

    def __call__(self, task, sentence, sentence2=None):
        """Features of a batch.

        Args:
            task: `[batch]` strings, each example's task name.
            sentence: `[batch]` strings, the first (or only) sentence.
            sentence2: `[batch]` strings, the second sentence of pair
                tasks; ignored for single-sentence tasks (`""` there).
                Defaults to none, for batches of single-sentence tasks.

        Returns:
            A dict of `token_ids`, `segment_ids`, `padding_mask`
            (`[batch, width]` int32) and `task_ids` (`[batch]` int32).

        Raises:
            KerasAdaptersError: an unknown task name or a pair task's empty
                `sentence2` (`tf.errors.InvalidArgumentError` in a graph,
                e.g. a SavedModel), or inputs of different sizes.
        """
        sentence = tf.convert_to_tensor(sentence, tf.string)
        if sentence2 is None:
            sentence2 = tf.fill(tf.shape(sentence), "")
        sentence2 = tf.convert_to_tensor(sentence2, tf.string)
        task_ids = self.task_ids(task)
        pair = tf.gather(tf.constant(self.pair), task_ids)
        checks = [
            tf.debugging.assert_equal(
                tf.size(sentence),
                tf.size(task_ids),
                message="task, sentence and sentence2 need as many strings",
            ),
            tf.debugging.assert_equal(
                tf.size(sentence2),
                tf.size(task_ids),
                message="task, sentence and sentence2 need as many strings",
            ),
            *_check(
                ~tf.reduce_any(pair & tf.equal(sentence2, "")),
                "sentence2 is empty for sentence-pair task(s):",
                tf.boolean_mask(task, pair & tf.equal(sentence2, "")),
            ),
        ]
        with tf.control_dependencies(checks):
            first = self.tokenizer(tf.identity(sentence))
            second = self.tokenizer(sentence2)
        width = max(self.sequence_lengths)
        setting_of_task = tf.constant(
            [
                self.settings.index(setting)
                for setting in zip(self.pair, self.sequence_lengths)
            ]
        )
        setting_ids = tf.gather(setting_of_task, task_ids)
        token_ids = segment_ids = None
        for index, (is_pair, length) in enumerate(self.settings):
            packer = self.packer(length)
            tokens, segments = packer((first, second) if is_pair else (first,))
            tokens, segments = [
                tf.pad(x, [[0, 0], [0, width - length]], constant_values=value)
                for x, value in (
                    (tokens, self.tokenizer.pad_token_id),
                    (segments, 0),
                )
            ]
            if token_ids is None:
                token_ids, segment_ids = tokens, segments
                continue
            chosen = tf.equal(setting_ids, index)[:, None]
            token_ids = tf.where(chosen, tokens, token_ids)
            segment_ids = tf.where(chosen, segments, segment_ids)
        padding_mask = tf.cast(
            token_ids != self.tokenizer.pad_token_id, tf.int32
        )
        # Padding is masked: the batch is cut to its longest example.
        longest = tf.maximum(tf.reduce_max(tf.reduce_sum(padding_mask, 1)), 1)
        return {
            "token_ids": token_ids[:, :longest],
            "segment_ids": segment_ids[:, :longest],
            "padding_mask": padding_mask[:, :longest],
            "task_ids": task_ids,
        }
