"""SQuAD v1.1 and v2.0 JSON files read into examples.

A SQuAD file is `{"data": [article, ...]}`; each article has `paragraphs`,
each paragraph a `context` and its questions `qas`, and each question an
`id`, the `question` text and its `answers` (`text` and `answer_start`, the
character offset of the text in the context). SQuAD v2.0 adds
`is_impossible` to questions that the context does not answer.

The reader follows the original BERT `run_squad.py` where it decides what
to train on: in training every answerable question has exactly one answer,
and a question whose answer does not match the context at `answer_start`
is skipped with a warning. It is strict where the original was not: a
malformed file is a one-line `SquadFormatError` that names the file and the
article, paragraph and question, instead of a `KeyError` deep in the loop.
"""

import codecs
import dataclasses
import json
import logging
import os

from keras_adapters.errors import KerasAdaptersError

logger = logging.getLogger(__name__)

# How many skipped question ids the warning lists.
_IDS_IN_WARNING = 5

_FIELD_HINTS = {
    "data": "a SQuAD file is an object {'data': [article, ...]}",
    "paragraphs": "each article needs a 'paragraphs' list",
    "context": "each paragraph needs its 'context' text",
    "qas": "each paragraph needs a 'qas' list of questions",
    "id": "each question needs a unique string 'id'",
    "question": "each question needs its 'question' text",
    "answers": (
        "each question needs an 'answers' list, empty for an unanswerable "
        "SQuAD v2.0 question"
    ),
    "text": "each answer needs its 'text' and 'answer_start'",
    "answer_start": (
        "each answer needs 'answer_start', the character offset of its "
        "text in the context"
    ),
    "is_impossible": "'is_impossible' is true or false",
}
_JSON_TYPES = (
    (bool, "true or false"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "an object"),
    (type(None), "null"),
)


class SquadFormatError(KerasAdaptersError):
    """A SQuAD file that is missing, not JSON, or not laid out as SQuAD."""


@dataclasses.dataclass(frozen=True)
class SquadAnswer:
    """One gold answer of a SQuAD question.

    Args:
        text: the answer text.
        start: character offset of `text` in the paragraph's context.
    """

    text: str
    start: int


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One SQuAD question with its context and gold answers.

    Args:
        qas_id: the question's `id`, which keys the predictions.
        question: the question text.
        context: the paragraph the answer is taken from.
        answers: every gold `SquadAnswer` as given in the file; empty for
            an unanswerable SQuAD v2.0 question.
        is_impossible: whether the question is unanswerable (v2.0 only).
    """

    qas_id: str
    question: str
    context: str
    answers: list
    is_impossible: bool = False

    @property
    def answer(self):
        """The first gold `SquadAnswer`, or `None` when there is none."""
        return self.answers[0] if self.answers else None


@dataclasses.dataclass
class SquadFile:
    """The questions read from one SQuAD file.

    Args:
        examples: the `SquadExample`s kept, in file order.
        skipped: `(qas_id, reason)` for each training question dropped
            because its answer does not match the context.
    """

    examples: list
    skipped: list = dataclasses.field(default_factory=list)


def _json_type(value):
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _get(node, key, kind, fail, place):
    """Returns `node[key]`, failing on a missing field or a wrong type."""
    if key not in node:
        fail(place, f"missing field '{key}' ({_FIELD_HINTS[key]})")
    value = node[key]
    is_bool = isinstance(value, bool)
    if not isinstance(value, kind) or (is_bool and kind is not bool):
        fail(
            place,
            f"field '{key}' should be {_json_type(kind())}, got "
            f"{_json_type(value)} ({_FIELD_HINTS[key]})",
        )
    return value


def _get_text(node, key, fail, place):
    """Returns the string `node[key]`, failing when it is only white space."""
    text = _get(node, key, str, fail, place)
    if not text.strip():
        fail(place, f"field '{key}' is empty ({_FIELD_HINTS[key]})")
    return text


def _check_object(node, fail, place):
    if not isinstance(node, dict):
        fail(place, f"should be an object, got {_json_type(node)}")


def _word_spans(text):
    """`(start, end)` character spans of the white-space separated words."""
    spans = []
    start = None
    for i, char in enumerate(text):
        if char.isspace():
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _answer_mismatch(context, answer):
    """Why the answer does not match the context, or `None` when it does.

    It matches when the context holds the text at `answer.start`, or, as
    in the original `run_squad.py`, when the context words that cover the
    answer's characters, joined by single spaces, contain the answer's
    words joined by single spaces (which forgives white-space differences).
    """
    end = answer.start + len(answer.text)
    if not answer.text:
        return "answer text is empty"
    if answer.start < 0 or end > len(context):
        return (
            f"answer_start {answer.start} + length {len(answer.text)} is "
            f"outside the context of {len(context)} characters"
        )
    if context[answer.start : end] == answer.text:
        return None
    covering = " ".join(
        context[s:e]
        for s, e in _word_spans(context)
        if s < end and e > answer.start
    )
    cleaned = " ".join(answer.text.split())
    if cleaned and cleaned in covering:
        return None
    return (
        f"answer text {answer.text!r} does not match the context at "
        f"answer_start {answer.start} ({context[answer.start : end]!r})"
    )


def _load_json(path, fail):
    if not os.path.isfile(path):
        fail(
            None,
            "no such file; pass a SQuAD JSON file such as train-v1.1.json "
            "or dev-v1.1.json",
        )
    with open(path, "rb") as f:
        data = f.read()
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    try:
        text = data[len(bom) :].decode("utf-8")
    except UnicodeDecodeError as error:
        fail(
            f"byte offset {len(bom) + error.start}",
            "not UTF-8 text; SQuAD files are UTF-8 JSON",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        fail(
            f"line {error.lineno} column {error.colno}",
            f"invalid JSON ({error.msg}); fix the file or download it again",
        )


def read_squad_examples(path, is_training, version_2_with_negative=False):
    """Reads the questions of a SQuAD v1.1 or v2.0 JSON file.

    In training (`is_training=True`), as in the original BERT
    `run_squad.py`, each answerable question must have exactly one answer,
    and a question whose answer does not match the context at
    `answer_start` (see below) is skipped: it is listed in
    `SquadFile.skipped` and one warning is logged for the whole file. The
    answer matches when the context holds its text at `answer_start`, or
    when the context words covering those characters, joined by single
    spaces, contain the answer's words joined by single spaces. An offset
    outside the context never matches. In evaluation every answer is kept
    as given (the metric uses only the texts) and nothing is skipped.

    Args:
        path: the SQuAD JSON file, e.g. `"dev-v1.1.json"`.
        is_training: whether the examples are for training (see above).
        version_2_with_negative: read SQuAD v2.0, whose questions may be
            marked `is_impossible` (a question without the field is
            answerable). Defaults to `False` (SQuAD v1.1), where an
            `is_impossible: true` question is an error.

    Returns:
        A `SquadFile` with the examples in file order and the skipped
        `(qas_id, reason)` pairs.

    Raises:
        SquadFormatError: a `ValueError` for a missing file, invalid JSON
            (with its line and column), a missing field or a field of the
            wrong type, an empty context or question, a repeated question
            id, `is_impossible` without `version_2_with_negative`, or, in
            training, an answerable question without exactly one answer.
            The one-line message names the file, the article, paragraph
            and question, and the fix.

    Example:

    ```python
    squad = keras_adapters.data.read_squad_examples(
        "dev-v1.1.json", is_training=False
    )
    example = squad.examples[0]
    example.question, example.answer.text
    ```
    """
    path = os.fspath(path)

    def fail(place, problem):
        where = f"{path}: {place}" if place else path
        raise SquadFormatError(f"{where}: {problem}")

    root = _load_json(path, fail)
    _check_object(root, fail, "top level")
    articles = _get(root, "data", list, fail, "top level")
    examples = []
    skipped = []
    seen = {}
    for i, article in enumerate(articles):
        place = f"data[{i}]"
        _check_object(article, fail, place)
        if isinstance(article.get("title"), str):
            place += f" (title {article['title']!r})"
        paragraphs = _get(article, "paragraphs", list, fail, place)
        for j, paragraph in enumerate(paragraphs):
            paragraph_place = f"{place} paragraphs[{j}]"
            _check_object(paragraph, fail, paragraph_place)
            context = _get_text(paragraph, "context", fail, paragraph_place)
            questions = _get(paragraph, "qas", list, fail, paragraph_place)
            for k, qa in enumerate(questions):
                qa_place = f"{paragraph_place} qas[{k}]"
                _check_object(qa, fail, qa_place)
                qas_id = _get(qa, "id", str, fail, qa_place)
                qa_place += f" (id {qas_id!r})"
                if qas_id in seen:
                    fail(
                        qa_place,
                        f"question id repeats that of {seen[qas_id]}; ids "
                        "must be unique, predictions are keyed by them",
                    )
                seen[qas_id] = qa_place
                example = _read_question(
                    qa,
                    qas_id,
                    context,
                    is_training,
                    version_2_with_negative,
                    fail,
                    qa_place,
                )
                reason = None
                if is_training and not example.is_impossible:
                    reason = _answer_mismatch(context, example.answer)
                if reason is None:
                    examples.append(example)
                else:
                    skipped.append((qas_id, reason))
    if skipped:
        logger.warning(
            "%s: skipped %d of %d training questions whose answer does not "
            "match the context at answer_start (first: %s)",
            path,
            len(skipped),
            len(skipped) + len(examples),
            ", ".join(qas_id for qas_id, _ in skipped[:_IDS_IN_WARNING]),
        )
    return SquadFile(examples=examples, skipped=skipped)


def _read_question(
    qa, qas_id, context, is_training, version_2_with_negative, fail, place
):
    """Builds the `SquadExample` of one `qas` entry; see the reader."""
    question = _get_text(qa, "question", fail, place)
    is_impossible = False
    if "is_impossible" in qa:
        is_impossible = _get(qa, "is_impossible", bool, fail, place)
        if is_impossible and not version_2_with_negative:
            fail(
                place,
                "is_impossible is true in a file read as SQuAD v1.1; pass "
                "`version_2_with_negative` to read SQuAD v2.0",
            )
    answers = []
    for n, answer in enumerate(_get(qa, "answers", list, fail, place)):
        answer_place = f"{place} answers[{n}]"
        _check_object(answer, fail, answer_place)
        answers.append(
            SquadAnswer(
                text=_get(answer, "text", str, fail, answer_place),
                start=_get(answer, "answer_start", int, fail, answer_place),
            )
        )
    if is_impossible and answers:
        fail(
            place,
            f"is_impossible is true but 'answers' has {len(answers)} "
            "answer(s); an unanswerable question has 'answers': [] (SQuAD "
            "v2.0 puts guesses in 'plausible_answers')",
        )
    if is_training and not is_impossible and len(answers) != 1:
        fail(
            place,
            f"for training each question needs exactly one answer, found "
            f"{len(answers)}; train on a training file (evaluation files "
            "list several answers) or keep only the first answer",
        )
    return SquadExample(
        qas_id=qas_id,
        question=question,
        context=context,
        answers=answers,
        is_impossible=is_impossible,
    )


def split_squad_articles(path, train_path, heldout_path, num_train_articles):
    """Splits a SQuAD file by article into a training and a held-out file.

    The official SQuAD training set is not always at hand; this makes a
    documented train/eval split of another file (e.g. the dev set): the
    first `num_train_articles` articles become a training file that keeps
    only the first answer of each question (the original's training
    format), and the other articles are written unchanged, every gold
    answer kept, for evaluation.

    Args:
        path: the SQuAD JSON file to split.
        train_path: the training file to write.
        heldout_path: the held-out file to write.
        num_train_articles: int, `1 <= n < number of articles`.

    Returns:
        `(train questions, held-out questions)` counts.

    Example:

    ```python
    keras_adapters.data.split_squad_articles(
        "dev-v1.1.json", "train_split.json", "heldout_split.json", 38
    )
    ```
    """
    read_squad_examples(path, is_training=False)  # One-line errors first.
    with open(path, encoding="utf-8") as handle:
        squad = json.load(handle)
    articles = squad["data"]
    if not 1 <= num_train_articles < len(articles):
        raise KerasAdaptersError(
            f"num_train_articles must be between 1 and {len(articles) - 1} "
            f"for the {len(articles)} articles of {path}; got "
            f"{num_train_articles}."
        )
    train = [
        {
            **article,
            "paragraphs": [
                {
                    **paragraph,
                    "qas": [
                        {**qa, "answers": qa["answers"][:1]}
                        for qa in paragraph["qas"]
                    ],
                }
                for paragraph in article["paragraphs"]
            ],
        }
        for article in articles[:num_train_articles]
    ]
    heldout = articles[num_train_articles:]
    counts = []
    for part, target in ((train, train_path), (heldout, heldout_path)):
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({**squad, "data": part}, handle, ensure_ascii=False)
        counts.append(
            sum(
                len(p["qas"]) for article in part for p in article["paragraphs"]
            )
        )
    return tuple(counts)
