import os

import pytest

from keras_adapters.data import SquadAnswer
from keras_adapters.data import SquadExample
from keras_adapters.data import SquadFile
from keras_adapters.data import read_squad_examples
from keras_adapters.metrics import exact_match_score
from keras_adapters.metrics import f1_score
from keras_adapters.metrics import normalize_answer
from keras_adapters.metrics import squad_evaluate
from tests.conftest import SHARED_DATA

DEV_V11 = os.path.join(SHARED_DATA, "squad", "v1.1", "dev-v1.1.json")


def example(qas_id, *texts, is_impossible=False):
    answers = [SquadAnswer(text, 0) for text in texts]
    return SquadExample(qas_id, "q?", "context", answers, is_impossible)


# Normalisation.


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The  Denver Broncos!", "denver broncos"),
        ("DENVER Broncos", "denver broncos"),
        ("An apple a day", "apple day"),
        ("the, a; AN.", ""),
        # Articles only as whole words.
        ("Theatre and anthem", "theatre and anthem"),
        ("Santa Clara, California.", "santa clara california"),
        # Punctuation goes before articles: "a.m." is the word "am".
        ("10 a.m.", "10 am"),
        ("U.S.-based", "usbased"),
        ("  \t tab\nand  \n newline ", "tab and newline"),
        ("\u201cquoted\u201d", "\u201cquoted\u201d"),
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_score():
    assert exact_match_score("the Broncos.", "Broncos") == 1.0
    assert exact_match_score("Denver  BRONCOS", "denver broncos") == 1.0
    assert exact_match_score("Broncos", "Denver Broncos") == 0.0
    assert exact_match_score("", "the") == 1.0
    assert exact_match_score("", "Broncos") == 0.0


def test_f1_score_by_hand():
    # Shared: denver, broncos. Precision 2/3, recall 2/2.
    assert f1_score("Denver Broncos team", "the Denver Broncos") == (
        pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    )
    assert f1_score("Denver Broncos team", "the Denver Broncos") == (
        pytest.approx(0.8)
    )
    # Counts as a bag: "y" is shared twice. Precision 2/4, recall 2/3.
    assert f1_score("x y y y", "y y z") == pytest.approx(4 / 7)
    assert f1_score("Broncos", "broncos!") == 1.0
    assert f1_score("Carolina Panthers", "Denver Broncos") == 0.0


def test_f1_score_of_empty_texts():
    assert f1_score("", "") == 1.0
    assert f1_score("The", "a") == 1.0
    assert f1_score("", "Broncos") == 0.0
    assert f1_score("Broncos", "") == 0.0


# Scoring a set of questions.


def test_max_over_gold_answers():
    examples = [
        example("q1", "Broncos", "Denver Broncos", "the Denver team"),
        example("q2", "Broncos", "Denver Broncos", "the Denver team"),
    ]
    result = squad_evaluate(examples, {"q1": "Denver Broncos", "q2": "Denver"})
    # q1: exact. q2: F1 2/3 against both of the two-word answers.
    assert result == {
        "exact_match": pytest.approx(50.0),
        "f1": pytest.approx(100 * (1 + 2 / 3) / 2),
        "total": 2,
        "missing": 0,
    }


def test_gold_answer_that_normalises_to_nothing_is_dropped():
    examples = [example("q", "The", "Broncos")]
    assert squad_evaluate(examples, {"q": ""})["exact_match"] == 0.0
    assert squad_evaluate(examples, {"q": "broncos"})["exact_match"] == 100.0


def test_dev_v11_against_its_own_first_answers():
    if not os.path.isfile(DEV_V11):
        pytest.skip(f"no SQuAD v1.1 dev file at {DEV_V11}")
    squad_file = read_squad_examples(DEV_V11, is_training=False)
    predictions = {e.qas_id: e.answer.text for e in squad_file.examples}
    assert squad_evaluate(squad_file, predictions) == {
        "exact_match": 100.0,
        "f1": 100.0,
        "total": 10570,
        "missing": 0,
    }
    # Predicting nothing scores nothing.
    result = squad_evaluate(squad_file.examples, {})
    assert (result["exact_match"], result["f1"]) == (0.0, 0.0)
    assert result["missing"] == 10570


V2_EXAMPLES = [
    example("has1", "Denver Broncos"),
    example("has2", "Santa Clara"),
    example("none1", is_impossible=True),
    example("none2", is_impossible=True),
]


def test_version_2_split():
    predictions = {
        "has1": "Denver Broncos",
        "has2": "Santa Clara, California",
        "none1": "",
        "none2": "Carolina",
    }
    result = squad_evaluate(V2_EXAMPLES, predictions)
    # has2: F1 2 * (2/3 * 1) / (2/3 + 1) = 0.8.
    assert result == {
        "exact_match": pytest.approx(50.0),
        "f1": pytest.approx(100 * (1 + 0.8 + 1 + 0) / 4),
        "total": 4,
        "missing": 0,
        "HasAns_exact": pytest.approx(50.0),
        "HasAns_f1": pytest.approx(90.0),
        "HasAns_total": 2,
        "NoAns_exact": pytest.approx(50.0),
        "NoAns_f1": pytest.approx(50.0),
        "NoAns_total": 2,
    }


def test_version_2_split_leaves_out_an_empty_split():
    result = squad_evaluate(V2_EXAMPLES[2:], {"none1": "", "none2": ""})
    assert result == {
        "exact_match": 100.0,
        "f1": 100.0,
        "total": 2,
        "missing": 0,
        "NoAns_exact": 100.0,
        "NoAns_f1": 100.0,
        "NoAns_total": 2,
    }


def test_no_answer_probabilities_and_threshold():
    predictions = {
        "has1": "Denver Broncos",
        "has2": "Santa Clara",
        "none1": "Carolina",
        "none2": "Carolina",
    }
    probabilities = {"has1": 0.2, "has2": 0.7, "none1": 0.9, "none2": 0.5}
    result = squad_evaluate(V2_EXAMPLES, predictions, probabilities, 0.6)
    # has2 and none1 count as "": has2 loses its answer, none1 is right.
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["HasAns_exact"] == pytest.approx(50.0)
    assert result["NoAns_exact"] == pytest.approx(50.0)
    # Only a probability above the threshold counts: has2 at 0.7 keeps
    # its answer, none1 at 0.9 still counts as "".
    result = squad_evaluate(V2_EXAMPLES, predictions, probabilities, 0.7)
    assert result["HasAns_exact"] == 100.0
    assert result["NoAns_exact"] == pytest.approx(50.0)
    # The default threshold 1.0 never overrides a prediction.
    result = squad_evaluate(V2_EXAMPLES, predictions, probabilities)
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["NoAns_exact"] == 0.0


def test_missing_prediction_scores_zero():
    result = squad_evaluate(
        V2_EXAMPLES, {"has1": "Denver Broncos", "none1": ""}
    )
    assert result["missing"] == 2
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["HasAns_exact"] == pytest.approx(50.0)
    assert result["NoAns_exact"] == pytest.approx(50.0)
    # A missing no-answer question scores 0 even with a high probability.
    result = squad_evaluate(
        V2_EXAMPLES, {"has1": "x"}, {"has1": 0.0, "none2": 1.0}, 0.5
    )
    assert result["exact_match"] == 0.0 and result["missing"] == 3


def test_accepts_a_squad_file():
    squad_file = SquadFile(examples=[example("q", "Broncos")], skipped=[])
    assert squad_evaluate(squad_file, {"q": "Broncos"})["f1"] == 100.0


# Errors.


def error_of(*args):
    with pytest.raises(ValueError) as info:
        squad_evaluate(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_id_is_an_error():
    examples = [example("q", "Broncos")]
    assert error_of(examples, {"q": "x", "zz": "y"}) == (
        "predictions has 1 question id(s) not in the examples: 'zz'; score "
        "predictions against the file they were made for."
    )
    many = {f"id{i}": "" for i in range(7)}
    assert (
        "7 question id(s) not in the examples: 'id0', 'id1', 'id2', 'id3', "
        "'id4' and 2 more;"
    ) in error_of(examples, many)
    assert error_of(examples, {"q": "x"}, {"q": 0.1, "zz": 0.2}).startswith(
        "no_answer_probabilities has 1 question id(s) not in the examples: "
        "'zz';"
    )


def test_other_errors():
    examples = [example("q", "Broncos")]
    assert error_of(examples, {"q": "x"}, {}) == (
        "no_answer_probabilities has no entry for 1 predicted question(s), "
        "e.g. 'q'; pass the null_odds of the same run."
    )
    assert error_of(examples, {"q": 3}) == (
        "The prediction for 'q' should be a string, got int."
    )
    assert "appears twice" in error_of(examples * 2, {})
    assert error_of([], {}) == (
        "Cannot score SQuAD predictions over zero examples."
    )
