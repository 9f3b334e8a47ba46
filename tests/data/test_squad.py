import codecs
import json
import logging
import os

import pytest

from keras_adapters.data import SquadAnswer
from keras_adapters.data import SquadExample
from keras_adapters.data import SquadFormatError
from keras_adapters.data import read_squad_examples
from tests.conftest import SHARED_DATA

DEV_V11 = os.path.join(SHARED_DATA, "squad", "v1.1", "dev-v1.1.json")
CONTEXT = "The Denver Broncos won Super Bowl 50 in 2016."


@pytest.fixture(scope="module")
def dev_json():
    if not os.path.isfile(DEV_V11):
        pytest.skip(f"no SQuAD v1.1 dev file at {DEV_V11}")
    with open(DEV_V11, encoding="utf-8") as f:
        return json.load(f)


def question(qas_id, answers=(("Denver Broncos", 4),), **fields):
    qa = {
        "id": qas_id,
        "question": f"Question {qas_id}?",
        "answers": [{"text": t, "answer_start": s} for t, s in answers],
    }
    qa.update(fields)
    return qa


def squad(*qas, context=CONTEXT):
    return {
        "version": "1.1",
        "data": [
            {
                "title": "Super_Bowl_50",
                "paragraphs": [{"context": context, "qas": list(qas)}],
            }
        ],
    }


def write(tmp_path, content, name="squad.json"):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


def error_of(path, is_training=False, **kwargs):
    with pytest.raises(SquadFormatError) as info:
        read_squad_examples(path, is_training, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message and message.startswith(path)
    return message


# The real dev file.


def test_dev_v11_for_evaluation(dev_json):
    squad_file = read_squad_examples(DEV_V11, is_training=False)
    examples = squad_file.examples
    assert len(examples) == 10570
    assert len({e.context for e in examples}) == 2067
    assert squad_file.skipped == []
    expected = [
        qa["id"]
        for article in dev_json["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    assert [e.qas_id for e in examples] == expected
    first = examples[0]
    assert first.qas_id == "56be4db0acb8001400a502ec"
    assert first.question.startswith("Which NFL team represented the AFC")
    assert first.answer == SquadAnswer("Denver Broncos", 177)
    assert len(first.answers) == 3 and not first.is_impossible
    # Evaluation keeps every gold answer as given.
    assert sum(len(e.answers) for e in examples) == sum(
        len(qa["answers"])
        for article in dev_json["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    )


def test_dev_v11_for_training_with_first_answers(dev_json, tmp_path, caplog):
    for article in dev_json["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["answers"] = qa["answers"][:1]
    path = write(tmp_path, dev_json, "dev-first-answers.json")
    with caplog.at_level(logging.WARNING):
        squad_file = read_squad_examples(path, is_training=True)
    # Every first answer of dev-v1.1 sits at its answer_start.
    assert squad_file.skipped == []
    assert not caplog.records
    assert len(squad_file.examples) == 10570
    for example in squad_file.examples:
        (answer,) = example.answers
        end = answer.start + len(answer.text)
        assert answer.text and 0 <= answer.start and end <= len(example.context)
        assert example.context[answer.start : end] == answer.text


def test_dev_v11_multi_answer_training_error():
    if not os.path.isfile(DEV_V11):
        pytest.skip(f"no SQuAD v1.1 dev file at {DEV_V11}")
    message = error_of(DEV_V11, is_training=True)
    assert "(id '56be4db0acb8001400a502ec')" in message
    assert "exactly one answer, found 3" in message


# Well-formed files.


def test_reads_examples_in_file_order(tmp_path):
    content = squad(question("q2"), question("q1", answers=[("won", 19)]))
    content["data"].append(
        {
            "title": "Other",
            "paragraphs": [
                {"context": "abc def", "qas": [question("q0", [("def", 4)])]}
            ],
        }
    )
    path = write(tmp_path, content)
    for is_training in (False, True):
        squad_file = read_squad_examples(path, is_training)
        assert squad_file.skipped == []
        assert squad_file.examples == [
            SquadExample(
                "q2",
                "Question q2?",
                CONTEXT,
                [SquadAnswer("Denver Broncos", 4)],
            ),
            SquadExample(
                "q1", "Question q1?", CONTEXT, [SquadAnswer("won", 19)]
            ),
            SquadExample(
                "q0", "Question q0?", "abc def", [SquadAnswer("def", 4)]
            ),
        ]


def test_example_answer_property():
    assert SquadExample("a", "q", "c", []).answer is None
    answers = [SquadAnswer("x", 0), SquadAnswer("y", 1)]
    assert SquadExample("a", "q", "c", answers).answer == answers[0]


def test_accepts_byte_order_mark_and_path_objects(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps(squad(question("q"))).encode()
    )
    assert len(read_squad_examples(path, True).examples) == 1


def test_version_2(tmp_path):
    content = squad(
        question("has", is_impossible=False),
        question("none", answers=[], is_impossible=True),
        question("plain"),
    )
    content["data"][0]["paragraphs"][0]["qas"][1]["plausible_answers"] = [
        {"text": "Denver", "answer_start": 4}
    ]
    path = write(tmp_path, content)
    for is_training in (False, True):
        examples = read_squad_examples(
            path, is_training, version_2_with_negative=True
        ).examples
        assert [e.is_impossible for e in examples] == [False, True, False]
        assert examples[1].answers == [] and examples[1].answer is None
        assert examples[0].answer == SquadAnswer("Denver Broncos", 4)


def test_is_impossible_false_is_fine_in_v1(tmp_path):
    path = write(tmp_path, squad(question("q", is_impossible=False)))
    (example,) = read_squad_examples(path, True).examples
    assert not example.is_impossible


def test_v2_impossible_with_answers_is_an_error(tmp_path):
    path = write(tmp_path, squad(question("q", is_impossible=True)))
    message = error_of(path, version_2_with_negative=True)
    assert (
        "qas[0] (id 'q'): is_impossible is true but 'answers' has 1" in message
    )


def test_is_impossible_without_version_2(tmp_path):
    path = write(tmp_path, squad(question("q", answers=[], is_impossible=True)))
    for is_training in (False, True):
        assert error_of(path, is_training) == (
            f"{path}: data[0] (title 'Super_Bowl_50') paragraphs[0] qas[0] "
            "(id 'q'): is_impossible is true in a file read as SQuAD v1.1; "
            "pass `version_2_with_negative` to read SQuAD v2.0"
        )


# Answers that do not match the context.


def test_mismatched_answers_skipped_in_training_kept_in_eval(tmp_path, caplog):
    content = squad(
        question("good"),
        question("shifted", answers=[("Denver Broncos", 11)]),
        question("outside", answers=[("2016.", 41)]),
        question("negative", answers=[("The", -1)]),
        question("empty", answers=[("", 0)]),
        question("tail", answers=[("won", 19)]),
    )
    path = write(tmp_path, content)
    with caplog.at_level(logging.WARNING, logger="keras_adapters.data.squad"):
        squad_file = read_squad_examples(path, is_training=True)
    assert [e.qas_id for e in squad_file.examples] == ["good", "tail"]
    assert [qas_id for qas_id, _ in squad_file.skipped] == [
        "shifted",
        "outside",
        "negative",
        "empty",
    ]
    reasons = dict(squad_file.skipped)
    assert reasons["shifted"] == (
        "answer text 'Denver Broncos' does not match the context at "
        "answer_start 11 ('Broncos won Su')"
    )
    assert reasons["outside"] == (
        "answer_start 41 + length 5 is outside the context of 45 characters"
    )
    assert "outside the context" in reasons["negative"]
    assert reasons["empty"] == "answer text is empty"
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"{path}: skipped 4 of 6 training questions whose answer does not "
        "match the context at answer_start (first: shifted, outside, "
        "negative, empty)"
    )

    caplog.clear()
    squad_file = read_squad_examples(path, is_training=False)
    assert len(squad_file.examples) == 6 and squad_file.skipped == []
    assert squad_file.examples[1].answer == SquadAnswer("Denver Broncos", 11)
    assert not caplog.records


def test_warning_lists_only_the_first_ids(tmp_path, caplog):
    bad = [question(f"bad{i}", answers=[("Broncos", 0)]) for i in range(7)]
    path = write(tmp_path, squad(*bad))
    with caplog.at_level(logging.WARNING, logger="keras_adapters.data.squad"):
        squad_file = read_squad_examples(path, is_training=True)
    assert squad_file.examples == [] and len(squad_file.skipped) == 7
    (record,) = caplog.records
    assert "skipped 7 of 7" in record.getMessage()
    assert "(first: bad0, bad1, bad2, bad3, bad4)" in record.getMessage()


def test_lenient_white_space_match(tmp_path):
    context = "They  played in\tSanta Clara, California."
    content = squad(
        # Single spaces where the context has two and a tab.
        question("spaces", answers=[("They played", 0)]),
        question("tab", answers=[("in Santa", 13)]),
        # Starts on the space before "Clara,", a word that contains it.
        question("inside", answers=[("Clara", 21)]),
        # The covering words do not contain it.
        question("wrong", answers=[("Santa Monica", 16)]),
        context=context,
    )
    path = write(tmp_path, content)
    squad_file = read_squad_examples(path, is_training=True)
    assert [e.qas_id for e in squad_file.examples] == [
        "spaces",
        "tab",
        "inside",
    ]
    assert [qas_id for qas_id, _ in squad_file.skipped] == ["wrong"]


# Malformed files.


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.json")
    assert error_of(path) == (
        f"{path}: no such file; pass a SQuAD JSON file such as "
        "train-v1.1.json or dev-v1.1.json"
    )


def test_invalid_json(tmp_path):
    path = write(tmp_path, '{"data": [\n  {"title": "x",,}\n]}')
    assert error_of(path) == (
        f"{path}: line 2 column 17: invalid JSON (Expecting property name "
        "enclosed in double quotes); fix the file or download it again"
    )


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"data": ["caf\xe9"]}')
    assert error_of(str(path)) == (
        f"{path}: byte offset 14: not UTF-8 text; SQuAD files are UTF-8 JSON"
    )
    path.write_bytes(codecs.BOM_UTF8 + b'{"data": ["caf\xe9"]}')
    assert "byte offset 17: not UTF-8" in error_of(str(path))


def test_top_level(tmp_path):
    path = write(tmp_path, [1, 2])
    assert (
        error_of(path) == f"{path}: top level: should be an object, got a list"
    )
    path = write(tmp_path, {"version": "1.1"})
    assert error_of(path) == (
        f"{path}: top level: missing field 'data' (a SQuAD file is an object "
        "{'data': [article, ...]})"
    )


def _node(content, where):
    node = content["data"][0]
    if where in ("paragraph", "qa", "answer"):
        node = node["paragraphs"][0]
    if where in ("qa", "answer"):
        node = node["qas"][0]
    if where == "answer":
        node = node["answers"][0]
    return node


@pytest.mark.parametrize(
    "where, key, place",
    [
        ("article", "paragraphs", "data[0] (title 'Super_Bowl_50')"),
        ("paragraph", "context", "paragraphs[0]"),
        ("paragraph", "qas", "paragraphs[0]"),
        ("qa", "id", "paragraphs[0] qas[0]"),
        ("qa", "question", "qas[0] (id 'q')"),
        ("qa", "answers", "qas[0] (id 'q')"),
        ("answer", "text", "qas[0] (id 'q') answers[0]"),
        ("answer", "answer_start", "qas[0] (id 'q') answers[0]"),
    ],
)
def test_missing_fields(tmp_path, where, key, place):
    content = squad(question("q"))
    del _node(content, where)[key]
    path = write(tmp_path, content)
    for is_training in (False, True):
        message = error_of(path, is_training)
        assert f"{place}: missing field '{key}' (" in message


@pytest.mark.parametrize(
    "where, key, value, expected",
    [
        ("article", "paragraphs", {}, "should be a list, got an object"),
        ("paragraph", "context", None, "should be a string, got null"),
        ("paragraph", "qas", "q", "should be a list, got a string"),
        ("qa", "id", 7, "should be a string, got an integer"),
        ("qa", "question", ["q"], "should be a string, got a list"),
        ("qa", "answers", {"text": "x"}, "should be a list, got an object"),
        ("qa", "is_impossible", "no", "should be true or false, got a string"),
        ("answer", "text", 1.5, "should be a string, got a number"),
        ("answer", "answer_start", "4", "should be an integer, got a string"),
        ("answer", "answer_start", 4.0, "should be an integer, got a number"),
        ("answer", "answer_start", True, "should be an integer, got true or"),
    ],
)
def test_wrong_types(tmp_path, where, key, value, expected):
    content = squad(question("q"))
    _node(content, where)[key] = value
    path = write(tmp_path, content)
    assert f"field '{key}' {expected}" in error_of(path)


@pytest.mark.parametrize(
    "content, place",
    [
        ({"data": ["article"]}, "data[0]"),
        ({"data": [{"paragraphs": [3]}]}, "data[0] paragraphs[0]"),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": [None]}]}]},
            "data[0] paragraphs[0] qas[0]",
        ),
    ],
)
def test_entries_that_are_not_objects(tmp_path, content, place):
    path = write(tmp_path, content)
    assert f"{path}: {place}: should be an object, got " in error_of(path)


def test_answer_not_an_object(tmp_path):
    content = squad(question("q"))
    content["data"][0]["paragraphs"][0]["qas"][0]["answers"] = ["Denver"]
    path = write(tmp_path, content)
    assert error_of(path).endswith(
        "qas[0] (id 'q') answers[0]: should be an object, got a string"
    )


def test_repeated_id(tmp_path):
    path = write(tmp_path, squad(question("q"), question("q")))
    assert error_of(path) == (
        f"{path}: data[0] (title 'Super_Bowl_50') paragraphs[0] qas[1] "
        "(id 'q'): question id repeats that of data[0] (title "
        "'Super_Bowl_50') paragraphs[0] qas[0] (id 'q'); ids must be "
        "unique, predictions are keyed by them"
    )


@pytest.mark.parametrize(
    "answers", [[], [("Denver", 4), ("Denver Broncos", 4)]]
)
def test_training_needs_exactly_one_answer(tmp_path, answers):
    path = write(tmp_path, squad(question("q", answers=answers)))
    for version_2 in (False, True):
        assert error_of(
            path, is_training=True, version_2_with_negative=version_2
        ) == (
            f"{path}: data[0] (title 'Super_Bowl_50') paragraphs[0] qas[0] "
            f"(id 'q'): for training each question needs exactly one answer, "
            f"found {len(answers)}; train on a training file (evaluation "
            "files list several answers) or keep only the first answer"
        )
    # Evaluation keeps them as given.
    (example,) = read_squad_examples(path, is_training=False).examples
    assert [a.text for a in example.answers] == [t for t, _ in answers]


@pytest.mark.parametrize("text", ["", " \t\n"])
def test_empty_question_or_context(tmp_path, text):
    path = write(tmp_path, squad(question("q", question=text)))
    for is_training in (False, True):
        assert error_of(path, is_training) == (
            f"{path}: data[0] (title 'Super_Bowl_50') paragraphs[0] qas[0] "
            "(id 'q'): field 'question' is empty (each question needs its "
            "'question' text)"
        )
    path = write(tmp_path, squad(question("q", answers=[]), context=text))
    for is_training in (False, True):
        assert error_of(path, is_training) == (
            f"{path}: data[0] (title 'Super_Bowl_50') paragraphs[0]: field "
            "'context' is empty (each paragraph needs its 'context' text)"
        )
