"""SQuAD-style windows of (question, context) pairs for span extraction."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.models import Preprocessor

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.keras_hub_internals import PUNCTUATION_AND_CJK_REGEX
from keras_adapters.keras_hub_internals import PUNCTUATION_REGEX
from keras_adapters.keras_hub_internals import WHITESPACE_AND_PUNCTUATION_REGEX
from keras_adapters.keras_hub_internals import (
    WHITESPACE_PUNCTUATION_AND_CJK_REGEX,
)

# Orders windows of one example in the max-context key; above any window
# count a context can produce.
_WINDOW_SLOTS = 1 << 20


def check_window_settings(
    sequence_length, doc_stride, max_query_length, special_tokens=3
):
    """Checks that windows of `sequence_length` tokens have room for a
    question of `max_query_length` tokens and some context.

    Args:
        sequence_length: int, window length.
        doc_stride: int, distance between window starts.
        max_query_length: int, question tokens kept.
        special_tokens: int, the special tokens of a window (3 for BERT's
            `[CLS] q [SEP] c [SEP]`, 4 for RoBERTa's `<s> q </s></s> c
            </s>`).

    Raises:
        KerasAdaptersError: no room for the context, or a stride or
            question length that is not positive.
    """
    if doc_stride < 1 or max_query_length < 1:
        raise KerasAdaptersError(
            f"`doc_stride` ({doc_stride}) and `max_query_length` "
            f"({max_query_length}) must be positive."
        )
    if sequence_length <= max_query_length + special_tokens:
        raise KerasAdaptersError(
            f"`sequence_length` ({sequence_length}) must be larger than "
            f"`max_query_length` + {special_tokens} "
            f"({max_query_length + special_tokens}): the question, the "
            "context and the special tokens need room. Raise "
            "`sequence_length` or lower `max_query_length`."
        )


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterQuestionAnswererPreprocessor(Preprocessor):
    """Turns questions and contexts into the windows of a SQuAD model.

    As BERT's original `run_squad.py`: the question is truncated to
    `max_query_length` tokens; the context is cut into windows of the room
    left (`sequence_length`, less the question and the special tokens)
    that start every `doc_stride` tokens; each window is `start question
    separator window end` (BERT: `[CLS] q [SEP] c [SEP]`; RoBERTa and
    XLM-RoBERTa, with `separators = 2`: `<s> q </s></s> c </s>`), segment
    0 then segment 1 from the window on; and each context token is marked
    "max context" in the one window where it has the most context on both
    sides (ties go to the earlier window).

    Contexts are tokenized word by word, keeping the byte offsets of every
    word, so each token maps back to an exact span of the original string:
    answers are recovered by slicing the context, never by detokenizing.
    The token ids are those the tokenizer gives for the whole context:
    WordPiece splits words at whitespace and punctuation
    (`word_pattern = "wordpiece"`); byte-pair (RoBERTa's, with the space
    before a word kept with it) and SentencePiece (XLM-RoBERTa's) pieces
    never cross whitespace (`"whitespace"`).

    Each family's subclass names its tokenizer and backbone classes
    (`AdapterBertQuestionAnswererPreprocessor`, ...).

    Args:
        tokenizer: the family's keras-hub tokenizer.
        sequence_length: int. Window length. Defaults to `384`.
        doc_stride: int. Distance between window starts. Defaults to `128`.
        max_query_length: int. Question tokens kept. Defaults to `64`.

    Example:

    ```python
    preprocessor = (
        keras_adapters.models.AdapterBertQuestionAnswererPreprocessor(
            tokenizer=keras_hub.models.BertTokenizer(vocabulary="vocab.txt"),
        )
    )
    windows = preprocessor(
        {"question": ["Who wrote it?"], "context": ["Ann wrote it."]}
    )
    windows["token_ids"]  # [num_windows, 384]
    ```
    """

    # Separator tokens between the question and the context.
    separators = 1
    # How contexts are split into words: "wordpiece" or "whitespace".
    word_pattern = "wordpiece"
    # Whether a word keeps the space before it (byte-level BPE).
    space_before_words = False

    def __init__(
        self,
        tokenizer,
        sequence_length=384,
        doc_stride=128,
        max_query_length=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.doc_stride = int(doc_stride)
        self.max_query_length = int(max_query_length)
        check_window_settings(
            self.sequence_length,
            self.doc_stride,
            self.max_query_length,
            2 + self.separators,
        )

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string)], autograph=False
    )
    def tokenize_with_offsets(self, texts):
        """Token ids of each text with the byte span of every token.

        Args:
            texts: `[batch]` string tensor.

        Returns:
            `(token_ids, starts, ends)`: ragged `[batch, None]` tensors; a
            token covers bytes `[start, end)` of its text (a word split
            into several pieces gives each piece the word's span).
        """
        # Traced, so keras-hub tokenizes with tf-text, as in a SavedModel.
        words, starts, ends = self._split_words(texts)
        flat_words = words.flat_values
        if self.space_before_words:
            flat_words = tf.where(
                starts.flat_values > 0, " " + flat_words, flat_words
            )
        pieces = self.tokenizer(flat_words)
        pieces_per_word = pieces.row_lengths()
        token_ids = tf.RaggedTensor.from_row_lengths(
            pieces, words.row_lengths()
        ).merge_dims(1, 2)
        row_lengths = token_ids.row_lengths()

        def per_token(offsets):
            return tf.RaggedTensor.from_row_lengths(
                tf.repeat(offsets.flat_values, pieces_per_word), row_lengths
            )

        return token_ids, per_token(starts), per_token(ends)

    def _split_words(self, texts):
        """Words of `texts` (ragged) with their byte starts and ends."""
        if self.word_pattern == "whitespace":
            return tf_text.regex_split_with_offsets(texts, r"\s+")
        cjk = getattr(self.tokenizer, "split_on_cjk", True)
        return tf_text.regex_split_with_offsets(
            texts,
            delim_regex_pattern=(
                WHITESPACE_PUNCTUATION_AND_CJK_REGEX
                if cjk
                else WHITESPACE_AND_PUNCTUATION_REGEX
            ),
            keep_delim_regex_pattern=(
                PUNCTUATION_AND_CJK_REGEX if cjk else PUNCTUATION_REGEX
            ),
        )

    def windows(self, question_ids, context_ids, context_starts, context_ends):
        """Packs tokenized questions and contexts into windows.

        Args:
            question_ids: ragged `[batch, None]` question token ids.
            context_ids: ragged `[batch, None]` context token ids.
            context_starts, context_ends: ragged `[batch, None]` byte
                offsets of the context tokens (`tokenize_with_offsets`).

        Returns:
            A dict of dense tensors with one row per window:
            `token_ids`, `segment_ids`, `padding_mask` (`[windows,
            sequence_length]`); `example_index` (`[windows]`, the input row
            of each window); `context_index` (`[windows, sequence_length]`,
            the position of the token in its context, `-1` outside the
            context); `token_start` and `token_end` (byte offsets into the
            context, `-1` outside it); and `max_context` (bool).
        """
        int64 = tf.int64
        query = question_ids[:, : self.max_query_length]
        query_lengths = query.row_lengths()
        context_lengths = context_ids.row_lengths()
        specials = 2 + self.separators
        room = self.sequence_length - query_lengths - specials
        # The original advances by min(window length, doc_stride).
        stride = tf.minimum(room, self.doc_stride)
        extra = tf.maximum(context_lengths - room, 0)
        counts = 1 + (extra + stride - 1) // stride
        example = tf.repeat(tf.range(tf.size(counts, int64)), counts)
        number = tf.ragged.range(counts).flat_values
        start = number * tf.gather(stride, example)
        length = tf.minimum(
            tf.gather(context_lengths, example) - start,
            tf.gather(room, example),
        )
        position = tf.ragged.range(start, start + length)  # [w, len]
        flat_position = position + tf.expand_dims(
            tf.gather(context_ids.row_starts(), example), 1
        )
        # Max context: min(left, right) + 0.01 * length, in integers, with
        # the earlier window winning ties.
        left = position - tf.expand_dims(start, 1)
        right = tf.expand_dims(start + length - 1, 1) - position
        score = (
            tf.minimum(left, right) * 100 + tf.expand_dims(length, 1)
        ) * _WINDOW_SLOTS - tf.expand_dims(number, 1)
        best = tf.math.unsorted_segment_max(
            score.flat_values,
            flat_position.flat_values,
            tf.size(context_ids.flat_values, int64),
        )
        is_best = tf.equal(score, tf.gather(best, flat_position))

        def pack(head, window, tail, default):
            """start question separators window end of per-token values."""
            values = tf.concat([head, window, tail], axis=1)
            return values.to_tensor(
                default_value=default, shape=[None, self.sequence_length]
            )

        window_query = tf.gather(query, example)
        count = tf.size(example)
        ones = tf.ones([count, 1], question_ids.dtype)
        start_id = self.tokenizer.start_token_id
        end_id = self.tokenizer.end_token_id
        separators = tf.tile(ones * end_id, [1, self.separators])
        context_tokens = tf.gather(context_ids.flat_values, flat_position)
        token_ids = pack(
            tf.concat([ones * start_id, window_query, separators], axis=1),
            context_tokens,
            ones * end_id,
            self.tokenizer.pad_token_id,
        )
        query_slots = tf.concat([ones, window_query, separators], 1)
        segment_ids = pack(
            tf.zeros_like(query_slots), tf.ones_like(context_tokens), ones, 0
        )
        outside = tf.cast(tf.fill(tf.shape(query_slots.flat_values), -1), int64)
        outside = query_slots.with_flat_values(outside)
        end_outside = tf.fill([count, 1], tf.constant(-1, int64))

        def context_values(values, default):
            return pack(outside, values, end_outside, default)

        lengths = query_lengths + specials
        lengths = tf.gather(lengths, example) + length
        mask = tf.sequence_mask(lengths, self.sequence_length, tf.int32)
        return {
            "token_ids": tf.cast(token_ids, tf.int32),
            "segment_ids": tf.cast(segment_ids, tf.int32),
            "padding_mask": mask,
            "example_index": tf.cast(example, tf.int32),
            "context_index": tf.cast(context_values(position, -1), tf.int32),
            "token_start": tf.cast(
                context_values(
                    tf.gather(context_starts.flat_values, flat_position), -1
                ),
                tf.int32,
            ),
            "token_end": tf.cast(
                context_values(
                    tf.gather(context_ends.flat_values, flat_position), -1
                ),
                tf.int32,
            ),
            "max_context": context_values(tf.cast(is_best, int64), 0) > 0,
        }

    def call(self, x):
        """Windows of `{"question": [batch], "context": [batch]}` strings."""
        return self._windows_of_strings(
            tf.convert_to_tensor(x["question"], tf.string),
            tf.convert_to_tensor(x["context"], tf.string),
        )

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string)] * 2,
        autograph=False,
    )
    def _windows_of_strings(self, questions, contexts):
        context_ids, starts, ends = self.tokenize_with_offsets(contexts)
        return self.windows(
            self.tokenizer(questions), context_ids, starts, ends
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "doc_stride": self.doc_stride,
                "max_query_length": self.max_query_length,
            }
        )
        return config
