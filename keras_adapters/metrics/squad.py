"""SQuAD's exact match and F1, as its official evaluation scripts score them.

Both compare texts after SQuAD's normalisation (lower case, no punctuation,
no articles a/an/the, single spaces). Exact match asks for equal normalised
texts; F1 is the harmonic mean of the precision and recall of the shared
normalised words. A question is scored against each of its gold answers and
keeps the best score; the dataset scores are means, in percent.

The semantics are those of the v2.0 script, which agree with the v1.1
script on SQuAD v1.1: a gold answer that normalises to nothing is dropped,
an unanswerable question has the single gold answer `""`, and F1 is 1.0
when both texts normalise to nothing.
"""

import collections
import re
import string

from keras_adapters.data.squad import SquadFile
from keras_adapters.errors import KerasAdaptersError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# How many unknown question ids an error lists.
_IDS_IN_ERROR = 5


def normalize_answer(text):
    """Normalises an answer as SQuAD's evaluation does.

    Lower-cases, removes the characters of `string.punctuation`, removes
    the articles a, an and the as whole words, and collapses white space
    to single spaces (none at either end).

    Args:
        text: an answer string.

    Returns:
        The normalised string.

    Example:

    ```python
    normalize_answer("The  Denver Broncos!")  # "denver broncos"
    ```
    """
    text = text.lower()
    text = "".join(char for char in text if char not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction, ground_truth):
    """1.0 when the two texts are equal after `normalize_answer`, else 0.0.

    Args:
        prediction: the predicted answer text.
        ground_truth: a gold answer text.

    Returns:
        1.0 or 0.0.

    Example:

    ```python
    exact_match_score("the Broncos.", "Broncos")  # 1.0
    ```
    """
    predicted = normalize_answer(prediction)
    return float(predicted == normalize_answer(ground_truth))


def f1_score(prediction, ground_truth):
    """Word-overlap F1 of two texts after `normalize_answer`.

    The words they share are counted as a bag: a word found twice in one
    and three times in the other is shared twice. When either text
    normalises to no words, F1 is 1.0 if both do and 0.0 otherwise.

    Args:
        prediction: the predicted answer text.
        ground_truth: a gold answer text.

    Returns:
        A float in [0, 1].

    Example:

    ```python
    # 2 of 3 predicted words and 2 of 2 gold words are shared.
    f1_score("Denver Broncos team", "the Denver Broncos")  # 0.8
    ```
    """
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    if not predicted or not gold:
        return float(predicted == gold)
    common = collections.Counter(predicted) & collections.Counter(gold)
    shared = sum(common.values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def _gold_texts(example):
    texts = [a.text for a in example.answers if normalize_answer(a.text)]
    return texts or [""]


def _unknown_ids(name, ids):
    listed = ", ".join(repr(i) for i in ids[:_IDS_IN_ERROR])
    more = ""
    if len(ids) > _IDS_IN_ERROR:
        more = f" and {len(ids) - _IDS_IN_ERROR} more"
    return ValueError(
        f"{name} has {len(ids)} question id(s) not in the examples: "
        f"{listed}{more}; score predictions against the file they were made "
        "for."
    )


def _percentages(exact, f1, ids):
    return (
        100.0 * sum(exact[i] for i in ids) / len(ids),
        100.0 * sum(f1[i] for i in ids) / len(ids),
    )


def squad_evaluate(
    examples,
    predictions,
    no_answer_probabilities=None,
    no_answer_threshold=1.0,
):
    """Scores SQuAD predictions as the official v1.1 and v2.0 scripts do.

    Each question takes its best exact match and F1 over its gold answers
    (`[""]` when none is left after normalisation, as for an unanswerable
    SQuAD v2.0 question). A question missing from `predictions` scores 0
    and is counted in `missing`. With `no_answer_probabilities`, a question
    whose probability exceeds `no_answer_threshold` counts as predicting
    `""`, as the v2.0 script's `--na-prob-thresh` does.

    Args:
        examples: the `SquadExample`s, or a `SquadFile`, read with
            `is_training=False`.
        predictions: a dict from question id to predicted text.
        no_answer_probabilities: optional dict from question id to the
            probability that the question has no answer; it needs an entry
            for every predicted question.
        no_answer_threshold: see above. Defaults to 1.0 (as the v2.0
            script), which never overrides a prediction.

    Returns:
        A dict: `exact_match` and `f1` in percent (0 to 100), `total`
        questions and `missing` predictions; when any example is
        unanswerable, also `HasAns_exact`, `HasAns_f1`, `HasAns_total` over
        the answerable questions and `NoAns_exact`, `NoAns_f1`,
        `NoAns_total` over the others (a split without questions is left
        out).

    Raises:
        ValueError: for no examples, repeated example ids, a prediction
            that is not a string, or an id in `predictions` or
            `no_answer_probabilities` that is not in `examples`.

    Example:

    ```python
    squad = keras_adapters.data.read_squad_examples(
        "dev-v1.1.json", is_training=False
    )
    squad_evaluate(squad, {"56be4db0acb8001400a502ec": "Denver Broncos"})
    # {"exact_match": ..., "f1": ..., "total": 10570, "missing": 10569}
    ```
    """
    if isinstance(examples, SquadFile):
        examples = examples.examples
    by_id = {}
    for example in examples:
        if example.qas_id in by_id:
            raise KerasAdaptersError(
                f"Question id {example.qas_id!r} appears twice in the "
                "examples; each question must be scored once."
            )
        by_id[example.qas_id] = example
    if not by_id:
        raise KerasAdaptersError(
            "Cannot score SQuAD predictions over zero examples."
        )
    unknown = [i for i in predictions if i not in by_id]
    if unknown:
        raise _unknown_ids("predictions", unknown)
    probabilities = no_answer_probabilities
    if probabilities is not None:
        unknown = [i for i in probabilities if i not in by_id]
        if unknown:
            raise _unknown_ids("no_answer_probabilities", unknown)
        lacking = [i for i in predictions if i not in probabilities]
        if lacking:
            raise KerasAdaptersError(
                f"no_answer_probabilities has no entry for {len(lacking)} "
                f"predicted question(s), e.g. {lacking[0]!r}; pass the "
                "null_odds of the same run."
            )

    exact = {}
    f1 = {}
    missing = 0
    for qas_id, example in by_id.items():
        if qas_id not in predictions:
            missing += 1
            exact[qas_id] = f1[qas_id] = 0.0
            continue
        prediction = predictions[qas_id]
        if not isinstance(prediction, str):
            raise KerasAdaptersError(
                f"The prediction for {qas_id!r} should be a string, got "
                f"{type(prediction).__name__}."
            )
        if probabilities is not None and (
            probabilities[qas_id] > no_answer_threshold
        ):
            prediction = ""
        gold = _gold_texts(example)
        exact[qas_id] = max(exact_match_score(prediction, g) for g in gold)
        f1[qas_id] = max(f1_score(prediction, g) for g in gold)

    ids = list(by_id)
    result = {}
    result["exact_match"], result["f1"] = _percentages(exact, f1, ids)
    result["total"] = len(ids)
    result["missing"] = missing
    if any(example.is_impossible for example in by_id.values()):
        has_answer = [i for i in ids if _gold_texts(by_id[i]) != [""]]
        no_answer = [i for i in ids if _gold_texts(by_id[i]) == [""]]
        for name, split in (("HasAns", has_answer), ("NoAns", no_answer)):
            if split:
                (
                    result[f"{name}_exact"],
                    result[f"{name}_f1"],
                ) = _percentages(exact, f1, split)
                result[f"{name}_total"] = len(split)
    return result
