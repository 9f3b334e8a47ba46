import collections
import os

import pytest
import tensorflow as tf

from keras_adapters.data import GLUE_TASKS
from keras_adapters.data import InputExample
from keras_adapters.data import get_task
from keras_adapters.data import read_examples
from keras_adapters.data import read_tfds_examples
from tests.conftest import SHARED_DATA

GLUE = os.path.join(SHARED_DATA, "glue")


def write(folder, name, lines, *, final_newline=True, bom=False):
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path = folder / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return str(folder)


def error_of(function, *args):
    with pytest.raises(ValueError) as info:
        function(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


# Tasks.


def test_task_table():
    assert list(GLUE_TASKS) == [
        "CoLA",
        "SST-2",
        "MRPC",
        "STS-B",
        "QQP",
        "MNLI",
        "QNLI",
        "RTE",
        "WNLI",
        "AX",
    ]
    mnli = GLUE_TASKS["MNLI"]
    assert mnli.labels == ("contradiction", "entailment", "neutral")
    assert mnli.eval_splits == ("dev_matched", "dev_mismatched")
    assert mnli.submission_files == {
        "test_matched": "MNLI-m.tsv",
        "test_mismatched": "MNLI-mm.tsv",
    }
    assert mnli.splits == (
        "train",
        "dev_matched",
        "dev_mismatched",
        "test_matched",
        "test_mismatched",
    )
    ax = GLUE_TASKS["AX"]
    assert (ax.folder, ax.labels, ax.splits) == (
        "diagnostic",
        mnli.labels,
        ("test",),
    )
    assert ax.eval_splits == () and ax.submission_files == {"test": "AX.tsv"}
    assert GLUE_TASKS["QNLI"].labels == ("entailment", "not_entailment")
    assert GLUE_TASKS["RTE"].label_ids == {"entailment": 0, "not_entailment": 1}
    assert [t.tfds_name for t in GLUE_TASKS.values()] == [
        "glue/cola",
        "glue/sst2",
        "glue/mrpc",
        "glue/stsb",
        "glue/qqp",
        "glue/mnli",
        "glue/qnli",
        "glue/rte",
        "glue/wnli",
        "glue/ax",
    ]
    assert [t.is_pair for t in GLUE_TASKS.values()] == [False] * 2 + [True] * 8
    assert [t.name for t in GLUE_TASKS.values() if t.is_regression] == ["STS-B"]
    assert GLUE_TASKS["SST-2"].submission_files == {"test": "SST-2.tsv"}
    assert hash(mnli) == hash(get_task("mnli"))
    assert "regression" in error_of(lambda: GLUE_TASKS["STS-B"].label_ids)


@pytest.mark.parametrize(
    "alias, name",
    [
        ("cola", "CoLA"),
        ("COLA", "CoLA"),
        ("sst2", "SST-2"),
        ("sst-2", "SST-2"),
        ("SST_2", "SST-2"),
        ("stsb", "STS-B"),
        ("sts-b", "STS-B"),
        ("mnli", "MNLI"),
        ("qqp", "QQP"),
        ("ax", "AX"),
        ("diagnostic", "AX"),
        ("Diagnostic", "AX"),
    ],
)
def test_get_task_aliases(alias, name):
    assert get_task(alias).name == name
    assert get_task(get_task(alias)) is get_task(alias)


def test_get_task_unknown():
    assert error_of(get_task, "foo") == (
        "Unknown task 'foo'. Choose one of: CoLA, SST-2, MRPC, STS-B, QQP, "
        "MNLI, QNLI, RTE, WNLI, AX."
    )


# TSV layouts.


def test_cola_headerless_train_and_test(tmp_path):
    write(
        tmp_path,
        "train.tsv",
        ["gj04\t1\t\tOur friends won't buy this.", 'cj99\t0\t*\tHe "left.'],
        final_newline=False,
    )
    write(
        tmp_path, "test.tsv", ["index\tsentence", "0\tBill whistled.", "7\tX"]
    )
    assert read_examples("cola", tmp_path, "train") == [
        InputExample("train-0", "Our friends won't buy this.", None, "1", 1),
        InputExample("train-1", 'He "left.', None, "0", 2),
    ]
    assert read_examples("CoLA", tmp_path, "test") == [
        InputExample("0", "Bill whistled.", None, None, 2),
        InputExample("7", "X", None, None, 3),
    ]


def test_mrpc_with_bom(tmp_path):
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
    write(
        tmp_path, "dev.tsv", [header, '1\t11\t12\tA " b .\t" C d .'], bom=True
    )
    write(
        tmp_path,
        "test.tsv",
        ["index\t#1 ID\t#2 ID\t#1 String\t#2 String", "0\t1\t2\tA\tB"],
    )
    assert read_examples("mrpc", tmp_path, "dev") == [
        InputExample("dev-0", 'A " b .', '" C d .', "1", 2)
    ]
    assert read_examples("mrpc", tmp_path, "test") == [
        InputExample("0", "A", "B", None, 2)
    ]


MNLI_COLUMNS = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
]


def mnli_row(index, premise, hypothesis, labels):
    parses = ["( a )", "( b )", "(ROOT a)", "(ROOT b)"]
    return "\t".join(
        [str(index), "1", "1e", "fiction"]
        + parses
        + [premise, hypothesis]
        + labels
    )


def test_mnli_splits(tmp_path):
    write(
        tmp_path,
        "train.tsv",
        [
            "\t".join(MNLI_COLUMNS + ["label1", "gold_label"]),
            mnli_row(5, "P one.", "H one.", ["neutral", "neutral"]),
            mnli_row(9, "P two.", "H two.", ["entailment", "entailment"]),
        ],
    )
    dev_header = "\t".join(
        MNLI_COLUMNS + [f"label{i}" for i in range(1, 6)] + ["gold_label"]
    )
    for split in ("dev_matched", "dev_mismatched"):
        row = mnli_row(
            0, f"P {split}", "H", ["neutral"] * 4 + ["contradiction"] * 2
        )
        write(tmp_path, f"{split}.tsv", [dev_header, row])
    write(
        tmp_path,
        "test_matched.tsv",
        ["\t".join(MNLI_COLUMNS), mnli_row(3, "P", "H", [])],
    )

    assert read_examples("mnli", tmp_path, "train") == [
        InputExample("train-0", "P one.", "H one.", "neutral", 2),
        InputExample("train-1", "P two.", "H two.", "entailment", 3),
    ]
    assert read_examples("mnli", tmp_path, "dev_matched") == [
        InputExample("dev_matched-0", "P dev_matched", "H", "contradiction", 2)
    ]
    mismatched = read_examples("mnli", tmp_path, "dev_mismatched")
    assert [e.text_a for e in mismatched] == ["P dev_mismatched"]
    assert read_examples("mnli", tmp_path, "test_matched") == [
        InputExample("3", "P", "H", None, 2)
    ]


def test_stsb_scores(tmp_path):
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2"
    write(
        tmp_path,
        "train.tsv",
        [
            header + "\tsentence1\tsentence2\tscore",
            "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane.\tA "
            "jet.\t5.000",
            "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man.\tA "
            "dog.\t0.75",
        ],
    )
    write(
        tmp_path,
        "test.tsv",
        [header + "\tsentence1\tsentence2", "0\tg\tf\ty\t1\tn\tn\tA.\tB."],
    )
    examples = read_examples("sts-b", tmp_path, "train")
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [
        ("A plane.", "A jet.", 5.0),
        ("A man.", "A dog.", 0.75),
    ]
    assert all(isinstance(e.label, float) for e in examples)
    assert read_examples("stsb", tmp_path, "test") == [
        InputExample("0", "A.", "B.", None, 2)
    ]


def test_quotes_stay_literal_and_no_row_is_swallowed(tmp_path):
    # With default CSV quoting, the opening " on line 2 would swallow the
    # following lines into one field.
    write(
        tmp_path,
        "train.tsv",
        [
            "index\tsentence1\tsentence2\tlabel",
            '0\t"Quoted start, no end.\tHe said "hi".\tentailment',
            '1\tPlain.\t"\tnot_entailment',
            '2\tA "" b.\tEnd."\tentailment',
        ],
    )
    examples = read_examples("rte", tmp_path, "train")
    assert [(e.text_a, e.text_b, e.label, e.line) for e in examples] == [
        ('"Quoted start, no end.', 'He said "hi".', "entailment", 2),
        ("Plain.", '"', "not_entailment", 3),
        ('A "" b.', 'End."', "entailment", 4),
    ]


def test_named_columns_in_any_order_and_crlf(tmp_path):
    write(
        tmp_path, "dev.tsv", ["label\tsentence\r", "1\tgood . \r", "0\tbad .\r"]
    )
    write(tmp_path, "test.tsv", ["index\tsentence", "0\tfine ."])
    assert read_examples("sst2", tmp_path, "dev") == [
        InputExample("dev-0", "good . ", None, "1", 2),
        InputExample("dev-1", "bad .", None, "0", 3),
    ]
    assert read_examples("SST-2", tmp_path, "test")[0].guid == "0"


def test_qnli_wnli_qqp_ax(tmp_path):
    qnli, wnli, qqp, ax = (tmp_path / name for name in ("q", "w", "qqp", "d"))
    for folder in (qnli, wnli, qqp, ax):
        folder.mkdir()
    write(
        qnli,
        "dev.tsv",
        ["index\tquestion\tsentence\tlabel", "0\tWho?\tHim.\tentailment"],
    )
    write(
        wnli,
        "train.tsv",
        ["index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\t1"],
    )
    write(
        qqp,
        "dev.tsv",
        [
            "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
            "7\t1\t2\tHow?\tWhy?\t0",
        ],
    )
    write(qqp, "test.tsv", ["id\tquestion1\tquestion2", "3\tWho?\tWhen?"])
    write(
        ax,
        "diagnostic.tsv",
        ["index\tsentence1\tsentence2", "0\tA.\tB."],
        final_newline=False,
    )
    assert read_examples("qnli", qnli, "dev") == [
        InputExample("dev-0", "Who?", "Him.", "entailment", 2)
    ]
    assert read_examples("wnli", wnli, "train") == [
        InputExample("train-0", "A.", "B.", "1", 2)
    ]
    assert read_examples("qqp", qqp, "dev") == [
        InputExample("dev-0", "How?", "Why?", "0", 2)
    ]
    assert read_examples("qqp", qqp, "test") == [
        InputExample("3", "Who?", "When?", None, 2)
    ]
    assert read_examples("ax", ax, "test") == [
        InputExample("0", "A.", "B.", None, 2)
    ]


# Errors.


def test_missing_file(tmp_path):
    message = error_of(read_examples, "cola", tmp_path, "train")
    assert str(tmp_path / "train.tsv") in message
    assert (
        "point `data_dir` at the GLUE folder of the task, e.g. $GLUE_DIR/CoLA"
        in message
    )
    assert "$GLUE_DIR/diagnostic" in error_of(
        read_examples, "ax", tmp_path, "test"
    )


def test_wrong_split():
    assert error_of(read_examples, "ax", ".", "train") == (
        "AX has no split 'train'. Choose one of: test."
    )
    message = error_of(read_examples, "mnli", ".", "dev")
    assert "dev_matched, dev_mismatched" in message
    assert "'dev_matched'" in error_of(
        read_tfds_examples, "cola", "dev_matched"
    )


def test_wrong_number_of_columns(tmp_path):
    rows = (
        ["gj04\t1\t\tFine."] * 16 + ["gj04\t1\tBroken."] + ["gj04\t1\t\tFine."]
    )
    write(tmp_path, "train.tsv", rows)
    assert error_of(read_examples, "cola", tmp_path, "train") == (
        "CoLA train.tsv line 17: expected 4 tab-separated columns, found 3"
    )
    # A blank line is an error too, never silently skipped.
    write(tmp_path, "dev.tsv", ["gj04\t1\t\tFine.", "", "gj04\t1\t\tFine."])
    assert error_of(read_examples, "cola", tmp_path, "dev") == (
        "CoLA dev.tsv line 2: expected 4 tab-separated columns, found 0"
    )
    write(tmp_path, "test.tsv", ["index\tsentence", "0\ta\textra"])
    assert "CoLA test.tsv line 2: expected 2 " in error_of(
        read_examples, "cola", tmp_path, "test"
    )


def test_bad_label(tmp_path):
    write(tmp_path, "train.tsv", ["gj04\t1\t\tA."] * 4 + ["gj04\tmaybe\t\tB."])
    assert error_of(read_examples, "cola", tmp_path, "train") == (
        "CoLA train.tsv line 5: label 'maybe' is not one of 0, 1"
    )
    header = "\t".join(MNLI_COLUMNS + ["label1", "gold_label"])
    write(tmp_path, "train.tsv", [header, mnli_row(0, "P", "H", ["-", "-"])])
    assert error_of(read_examples, "mnli", tmp_path, "train") == (
        "MNLI train.tsv line 2: label '-' is not one of contradiction, "
        "entailment, neutral"
    )


@pytest.mark.parametrize("score", ["abc", "", "nan", "inf"])
def test_bad_score(tmp_path, score):
    write(
        tmp_path,
        "dev.tsv",
        ["sentence1\tsentence2\tscore", "A\tB\t1.0", f"A\tB\t{score}"],
    )
    assert error_of(read_examples, "stsb", tmp_path, "dev") == (
        f"STS-B dev.tsv line 3: score '{score}' is not a number"
    )


def test_header_without_required_column(tmp_path):
    write(tmp_path, "train.tsv", ["index\tsentence1\tlabel", "0\tA\t1"])
    assert error_of(read_examples, "wnli", tmp_path, "train") == (
        "WNLI train.tsv line 1: header has no column 'sentence2' "
        "(found: index, sentence1, label)"
    )
    write(tmp_path, "test.tsv", ["sentence1\tsentence2", "A\tB"])
    assert "WNLI test.tsv line 1: header has no column 'index'" in error_of(
        read_examples, "wnli", tmp_path, "test"
    )
    write(tmp_path, "dev.tsv", [], final_newline=False)
    assert error_of(read_examples, "wnli", tmp_path, "dev") == (
        "WNLI dev.tsv: empty file, expected a header"
    )


# TFDS.


class FakeBuilder:
    """Stands in for `tfds.builder(...)`: a prepared dataset in memory."""

    def __init__(self, name, features, calls, data_dir, fail=None):
        self.name, self.features, self.calls = name, features, calls
        self.data_dir, self.fail = data_dir, fail
        self.builder_config = type(
            "Config", (), {"data_url": "https://glue.example.org/CoLA.zip"}
        )

    def download_and_prepare(self):
        if self.fail:
            raise self.fail

    def as_dataset(self, split):
        self.calls.append((self.name, split))
        return tf.data.Dataset.from_tensor_slices(self.features)


def fake_tfds_load(monkeypatch, features, data_dir=None, fail=None):
    import tensorflow_datasets as tfds

    calls = []
    prepared = data_dir or os.path.dirname(os.path.abspath(__file__))
    monkeypatch.setattr(
        tfds,
        "builder",
        lambda name: FakeBuilder(name, features, calls, prepared, fail),
    )
    return calls


def test_tfds_mnli_labels_and_splits(monkeypatch):
    calls = fake_tfds_load(
        monkeypatch,
        {
            "premise": ["P0", "P1", "P2"],
            "hypothesis": ["H0", "H1", "H2"],
            # TFDS order: entailment, neutral, contradiction.
            "label": [0, 1, 2],
            "idx": [0, 1, 2],
        },
    )
    examples = read_tfds_examples("mnli", "dev_mismatched")
    assert calls == [("glue/mnli", "validation_mismatched")]
    assert examples == [
        InputExample("dev_mismatched-0", "P0", "H0", "entailment"),
        InputExample("dev_mismatched-1", "P1", "H1", "neutral"),
        InputExample("dev_mismatched-2", "P2", "H2", "contradiction"),
    ]
    read_tfds_examples("mnli", "test_matched")
    read_tfds_examples("mnli", "train")
    assert calls[1:] == [("glue/mnli", "test_matched"), ("glue/mnli", "train")]


def test_tfds_test_split(monkeypatch):
    calls = fake_tfds_load(
        monkeypatch,
        {"sentence": ["caf\u00e9 .", "b"], "label": [-1, -1], "idx": [4, 5]},
    )
    assert read_tfds_examples("cola", "test") == [
        InputExample("4", "caf\u00e9 .", None, None),
        InputExample("5", "b", None, None),
    ]
    assert calls == [("glue/cola", "test")]


def test_tfds_label_ids(monkeypatch):
    fake_tfds_load(
        monkeypatch,
        {
            "sentence1": ["a", "b"],
            "sentence2": ["c", "d"],
            "label": [0, 1],
            "idx": [0, 1],
        },
    )
    assert [e.label for e in read_tfds_examples("rte", "train")] == [
        "entailment",
        "not_entailment",
    ]
    assert [e.label for e in read_tfds_examples("wnli", "dev")] == ["0", "1"]
    fake_tfds_load(
        monkeypatch,
        {"sentence1": ["a"], "sentence2": ["c"], "label": [3.8], "idx": [0]},
    )
    [example] = read_tfds_examples("stsb", "dev")
    assert example.label == pytest.approx(3.8) and isinstance(
        example.label, float
    )
    fake_tfds_load(
        monkeypatch,
        {"sentence1": ["a"], "sentence2": ["c"], "label": [-1], "idx": [9]},
    )
    assert error_of(read_tfds_examples, "mrpc", "train") == (
        "TFDS glue/mrpc idx 9: label id -1 is out of range"
    )


def test_tfds_offline_fails_fast_with_one_line(monkeypatch, tmp_path):
    import socket

    def no_dns(*args):
        raise socket.gaierror(-2, "Name or service not known")

    fake_tfds_load(monkeypatch, {}, data_dir=str(tmp_path / "not_prepared"))
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert error_of(read_tfds_examples, "cola", "train") == (
        "TFDS glue/cola is not available offline (cannot resolve "
        "glue.example.org: [Errno -2] Name or service not known). Download "
        "GLUE with download_glue_data.py and pass `data_dir` (or set "
        "GLUE_DIR)."
    )


def test_tfds_download_failure(monkeypatch):
    fake_tfds_load(
        monkeypatch, {}, fail=OSError("Network is unreachable\nmore detail")
    )
    assert error_of(read_tfds_examples, "cola", "train") == (
        "TFDS glue/cola is not available offline (OSError: Network is "
        "unreachable). Download GLUE with download_glue_data.py and pass "
        "`data_dir` (or set GLUE_DIR)."
    )


# The real GLUE files in ../shared/data.


def real(folder, task, split):
    data_dir = os.path.join(GLUE, folder)
    if not os.path.isdir(data_dir):
        pytest.skip(f"GLUE data not found at {data_dir}")
    return read_examples(task, data_dir, split)


@pytest.mark.integration
@pytest.mark.parametrize(
    "folder, task, split, count, labels",
    [
        ("CoLA", "cola", "train", 8551, {"1": 6023, "0": 2528}),
        ("CoLA", "cola", "dev", 1043, {"1": 721, "0": 322}),
        ("CoLA", "cola", "test", 1063, {None: 1063}),
        ("MRPC", "mrpc", "train", 3668, {"1": 2474, "0": 1194}),
        ("MRPC", "mrpc", "dev", 408, {"1": 279, "0": 129}),
        ("MRPC", "mrpc", "test", 1725, {None: 1725}),
        ("SST-2", "sst2", "dev", 872, {"1": 444, "0": 428}),
        ("SST-2", "sst2", "test", 1821, {None: 1821}),
        (
            "QNLI",
            "qnli",
            "dev",
            5463,
            {"not_entailment": 2761, "entailment": 2702},
        ),
        ("QNLI", "qnli", "test", 5463, {None: 5463}),
        ("WNLI", "wnli", "train", 635, {"0": 323, "1": 312}),
        ("WNLI", "wnli", "dev", 71, {"0": 40, "1": 31}),
        ("WNLI", "wnli", "test", 146, {None: 146}),
        ("diagnostic", "ax", "test", 1104, {None: 1104}),
        (
            "MNLI/partial_kshot_lmbff/16-13",
            "mnli",
            "train",
            48,
            {"contradiction": 16, "entailment": 16, "neutral": 16},
        ),
        (
            "QQP/partial_kshot_lmbff/16-13",
            "qqp",
            "train",
            32,
            {"0": 16, "1": 16},
        ),
    ],
)
def test_real_glue_files(folder, task, split, count, labels):
    examples = real(folder, task, split)
    assert len(examples) == count
    assert collections.Counter(e.label for e in examples) == labels
    assert len({e.guid for e in examples}) == count
    assert all(e.text_a for e in examples)
    assert all(bool(e.text_b) == get_task(task).is_pair for e in examples)
    if split == "test":
        assert [e.guid for e in examples] == [str(i) for i in range(count)]


@pytest.mark.integration
def test_real_file_details():
    cola = real("CoLA", "cola", "dev")
    # dev.tsv has no final newline: the last row is still read.
    assert cola[-1].line == 1043
    assert cola[0] == InputExample(
        "dev-0", "The sailors rode the breeze clear of the rocks.", None, "1", 1
    )
    mrpc = real("MRPC", "mrpc", "train")
    assert mrpc[0].label == "1" and mrpc[0].line == 2
    assert mrpc[0].text_a.startswith(
        'Amrozi accused his brother , whom he called " the witness "'
    )
    sst2 = real("SST-2", "sst2", "dev")
    assert sst2[0].text_a == "it 's a charming and often affecting journey . "
    ax = real("diagnostic", "ax", "test")
    assert ax[0] == InputExample(
        "0",
        "The cat sat on the mat.",
        "The cat did not sit on the mat.",
        None,
        2,
    )


def test_invalid_utf8_names_the_line_and_column(tmp_path):
    row = "gj04\t1\t\tThe café was fine.\n".encode()
    # Far past the decoder's first chunk, after a non-ASCII character.
    bad = "gj04\t1\t\tcafé ".encode() + b"\xff.\n"
    (tmp_path / "train.tsv").write_bytes(row * 699 + bad + row)
    assert error_of(read_examples, "cola", tmp_path, "train") == (
        "CoLA train.tsv line 700: not valid UTF-8 (byte 0xff at column 14); "
        "save the file as UTF-8"
    )
    # Without the bad row every row is read, text intact.
    (tmp_path / "train.tsv").write_bytes(row * 700)
    examples = read_examples("cola", tmp_path, "train")
    assert len(examples) == 700 and examples[-1].line == 700
    assert {e.text_a for e in examples} == {"The café was fine."}
    # In the header, after a byte order mark (not counted as a column).
    (tmp_path / "dev.tsv").write_bytes(
        b"\xef\xbb\xbfQu\xe9lity\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    )
    assert error_of(read_examples, "mrpc", tmp_path, "dev") == (
        "MRPC dev.tsv line 1: not valid UTF-8 (byte 0xe9 at column 3); "
        "save the file as UTF-8"
    )
