"""GLUE tasks and readers for the original TSV files and for TFDS.

The TSV reader follows the original BERT `run_classifier.py`: tab-separated
fields with quoting off (a `"` is literal text), UTF-8 with an optional BOM,
and the column layout of each GLUE folder as `download_glue_data.py` writes
it. It is strict where the original was lenient: every malformed row is a
one-line `ValueError` that names the file and its 1-based line, and no row
is ever dropped.
"""

import collections
import csv
import dataclasses
import math
import os
import socket
import urllib.parse

import tensorflow as tf

from keras_adapters.errors import KerasAdaptersError

_BINARY = ("0", "1")
_NLI = ("contradiction", "entailment", "neutral")
_ENTAILMENT = ("entailment", "not_entailment")
_DATA_DIR_HINT = (
    "point `data_dir` at the GLUE folder of the task, e.g. $GLUE_DIR/{folder}"
)


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its labels, splits and file names.

    Args:
        name: canonical name, e.g. `"CoLA"`, `"SST-2"`, `"AX"`.
        folder: the task's folder in the GLUE data, e.g. `"diagnostic"`.
        labels: label strings in class-id order, or `None` for the
            regression task STS-B.
        is_pair: whether examples are sentence pairs.
        eval_splits: the labelled evaluation splits (none for AX).
        test_splits: the unlabelled splits predicted for the leaderboard.
        tfds_name: the TensorFlow Datasets name, e.g. `"glue/cola"`.
        submission_files: leaderboard file name of each test split.
    """

    name: str
    folder: str
    labels: tuple
    is_pair: bool
    eval_splits: tuple
    test_splits: tuple
    tfds_name: str
    submission_files: dict = dataclasses.field(hash=False)

    @property
    def is_regression(self):
        """Whether labels are float scores (STS-B) rather than classes."""
        return self.labels is None

    @property
    def splits(self):
        """Every split `read_examples` accepts for this task."""
        train = () if self.name == "AX" else ("train",)
        return train + self.eval_splits + self.test_splits

    @property
    def label_ids(self):
        """A dict from each label string to its class id.

        Raises:
            ValueError: for the regression task STS-B.
        """
        if self.is_regression:
            raise KerasAdaptersError(
                f"{self.name} is a regression task; its labels are float "
                "scores, not class ids."
            )
        return {label: i for i, label in enumerate(self.labels)}


def _task(name, labels, is_pair, **overrides):
    fields = dict(
        name=name,
        folder=name,
        labels=labels,
        is_pair=is_pair,
        eval_splits=("dev",),
        test_splits=("test",),
        tfds_name="glue/" + name.lower().replace("-", ""),
        submission_files={"test": f"{name}.tsv"},
    )
    fields.update(overrides)
    return GlueTask(**fields)


GLUE_TASKS = {
    task.name: task
    for task in (
        _task("CoLA", _BINARY, False),
        _task("SST-2", _BINARY, False),
        _task("MRPC", _BINARY, True),
        _task("STS-B", None, True),
        _task("QQP", _BINARY, True),
        _task(
            "MNLI",
            _NLI,
            True,
            eval_splits=("dev_matched", "dev_mismatched"),
            test_splits=("test_matched", "test_mismatched"),
            submission_files={
                "test_matched": "MNLI-m.tsv",
                "test_mismatched": "MNLI-mm.tsv",
            },
        ),
        _task("QNLI", _ENTAILMENT, True),
        _task("RTE", _ENTAILMENT, True),
        _task("WNLI", _BINARY, True),
        # The diagnostic set is predicted with an MNLI model.
        _task("AX", _NLI, True, folder="diagnostic", eval_splits=()),
    )
}

_Columns = collections.namedtuple(
    "_Columns",
    ["text_a", "text_b", "label", "tfds_a", "tfds_b", "test_id"],
    defaults=("index",),
)
# TSV header names of text_a, text_b and the label, the TFDS feature names
# of text_a and text_b, and the id column of the (unlabelled) test file.
_COLUMNS = {
    "CoLA": _Columns("sentence", None, "label", "sentence", None),
    "SST-2": _Columns("sentence", None, "label", "sentence", None),
    "MRPC": _Columns(
        "#1 String", "#2 String", "Quality", "sentence1", "sentence2"
    ),
    "STS-B": _Columns(
        "sentence1", "sentence2", "score", "sentence1", "sentence2"
    ),
    "QQP": _Columns(
        "question1",
        "question2",
        "is_duplicate",
        "question1",
        "question2",
        test_id="id",
    ),
    # `gold_label` is the last column of every labelled MNLI file.
    "MNLI": _Columns(
        "sentence1", "sentence2", "gold_label", "premise", "hypothesis"
    ),
    "QNLI": _Columns("question", "sentence", "label", "question", "sentence"),
    "RTE": _Columns(
        "sentence1", "sentence2", "label", "sentence1", "sentence2"
    ),
    "WNLI": _Columns(
        "sentence1", "sentence2", "label", "sentence1", "sentence2"
    ),
    "AX": _Columns("sentence1", "sentence2", None, "premise", "hypothesis"),
}
# CoLA train.tsv and dev.tsv have no header line; these are their columns.
_COLA_COLUMNS = ("source", "label", "mark", "sentence")
# TFDS class order where it differs from `GlueTask.labels`.
_TFDS_LABELS = {
    "MNLI": ("entailment", "neutral", "contradiction"),
    "AX": ("entailment", "neutral", "contradiction"),
}


def _normalize(name):
    return name.lower().replace("-", "").replace("_", "")


_ALIASES = {_normalize(name): task for name, task in GLUE_TASKS.items()}
_ALIASES["diagnostic"] = GLUE_TASKS["AX"]


def get_task(name):
    """Looks up a GLUE task by name, case-insensitively.

    Args:
        name: a task name or alias (`"sst2"`, `"STS-B"`, `"diagnostic"`),
            or a `GlueTask`, which is returned as is.

    Returns:
        The `GlueTask`.

    Example:

    ```python
    task = keras_adapters.data.get_task("sst2")
    task.name, task.labels  # ("SST-2", ("0", "1"))
    ```
    """
    if isinstance(name, GlueTask):
        return name
    task = _ALIASES.get(_normalize(str(name)))
    if task is None:
        raise KerasAdaptersError(
            f"Unknown task '{name}'. Choose one of: {', '.join(GLUE_TASKS)}."
        )
    return task


@dataclasses.dataclass(frozen=True)
class InputExample:
    """One GLUE example.

    Args:
        guid: `"{split}-{n}"` for train and dev rows; for test rows the
            `index` (QQP: `id`) the GLUE submission needs.
        text_a: the first (or only) sentence.
        text_b: the second sentence of a pair task, else `None`.
        label: a label string, a float score for STS-B, or `None` for
            test examples.
        line: 1-based line number in the source TSV file, or `None` for
            examples read from TFDS.
    """

    guid: str
    text_a: str
    text_b: str = None
    label: object = None
    line: int = None


def _check_split(task, split):
    if split not in task.splits:
        raise KerasAdaptersError(
            f"{task.name} has no split '{split}'. Choose one of: "
            f"{', '.join(task.splits)}."
        )


def _parse_label(task, value, where):
    if task.is_regression:
        try:
            score = float(value)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise KerasAdaptersError(
                f"{where}: score {value!r} is not a number"
            )
        return score
    if value not in task.labels:
        raise KerasAdaptersError(
            f"{where}: label {value!r} is not one of {', '.join(task.labels)}"
        )
    return value


def _column_positions(header, names, where):
    for name in names:
        if name is not None and name not in header:
            raise KerasAdaptersError(
                f"{where} line 1: header has no column '{name}' "
                f"(found: {', '.join(header)})"
            )
    return [None if name is None else header.index(name) for name in names]


def _check_utf8(row, where):
    """Fails on the first byte of `row` that was not valid UTF-8.

    Args:
        row: the fields of one line, decoded with `errors="surrogateescape"`.
        where: the file and line, for the message.

    Raises:
        ValueError: with the byte and its 1-based (character) column.
    """
    line = "\t".join(row)  # Quoting is off: exactly the line's text.
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as error:
        byte = ord(line[error.start]) - 0xDC00
        raise KerasAdaptersError(
            f"{where}: not valid UTF-8 (byte {byte:#04x} at column "
            f"{error.start + 1}); save the file as UTF-8"
        ) from None


def _read_tsv(task, path, split):
    """Parses one TSV file into `InputExample`s; see `read_examples`."""
    columns = _COLUMNS[task.name]
    is_test = split in task.test_splits
    where = f"{task.name} {os.path.basename(path)}"
    # Undecodable bytes become lone surrogates, found row by row below, so
    # the error names their line instead of a position in a read buffer.
    with open(
        path, encoding="utf-8-sig", errors="surrogateescape", newline=""
    ) as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if task.name == "CoLA" and not is_test:
            header = list(_COLA_COLUMNS)
        else:
            header = next(reader, None)
            if header is None:
                raise KerasAdaptersError(
                    f"{where}: empty file, expected a header"
                )
            _check_utf8(header, f"{where} line 1")
        names = (columns.text_a, columns.text_b)
        names += (columns.test_id, None) if is_test else (None, columns.label)
        a_at, b_at, guid_at, label_at = _column_positions(header, names, where)
        examples = []
        for row in reader:
            at = f"{where} line {reader.line_num}"
            _check_utf8(row, at)
            if len(row) != len(header):
                raise KerasAdaptersError(
                    f"{at}: expected {len(header)} tab-separated columns, "
                    f"found {len(row)}"
                )
            examples.append(
                InputExample(
                    guid=(
                        row[guid_at] if is_test else f"{split}-{len(examples)}"
                    ),
                    text_a=row[a_at],
                    text_b=None if b_at is None else row[b_at],
                    label=(
                        None
                        if is_test
                        else _parse_label(task, row[label_at], at)
                    ),
                    line=reader.line_num,
                )
            )
    return examples


def read_examples(task, data_dir, split):
    """Reads one split of a GLUE task from its original TSV file.

    Args:
        task: a `GlueTask` or task name.
        data_dir: the task's GLUE folder, e.g. `$GLUE_DIR/CoLA` (for AX
            the `diagnostic` folder).
        split: one of `task.splits`: `"train"`, `"dev"`, `"test"`, or for
            MNLI `"dev_matched"`, `"dev_mismatched"`, `"test_matched"`,
            `"test_mismatched"`. The file is `{split}.tsv`, except AX reads
            `diagnostic.tsv`.

    Returns:
        A list of `InputExample`, in file order. Test examples have
        `label=None` and the file's `index` (QQP: `id`) as `guid`.

    Raises:
        ValueError: for an unknown split, a missing file, or a malformed
            header or row (including bytes that are not UTF-8); the
            message names the file and the line.

    Example:

    ```python
    examples = keras_adapters.data.read_examples(
        "MRPC", "glue_data/MRPC", "dev"
    )
    examples[0].text_a, examples[0].label
    ```
    """
    task = get_task(task)
    _check_split(task, split)
    file_name = "diagnostic.tsv" if task.name == "AX" else f"{split}.tsv"
    path = os.path.join(data_dir, file_name)
    if not os.path.isfile(path):
        hint = _DATA_DIR_HINT.format(folder=task.folder)
        raise KerasAdaptersError(
            f"{task.name} {split}: no file {path}; {hint}."
        )
    return _read_tsv(task, path, split)


def _tfds_unavailable(task, reason):
    return ValueError(
        f"TFDS {task.tfds_name} is not available offline ({reason}). "
        "Download GLUE with download_glue_data.py and pass `data_dir` (or "
        "set GLUE_DIR)."
    )


def _check_download_host(task, builder):
    """Fails fast when an unprepared dataset's host does not resolve.

    Without this, TFDS retries the download with back-off for minutes.
    """
    url = getattr(builder.builder_config, "data_url", None)
    host = urllib.parse.urlparse(url or "").hostname
    if not host:
        return
    try:
        socket.getaddrinfo(host, 443)
    except OSError as error:
        raise _tfds_unavailable(
            task, f"cannot resolve {host}: {error}"
        ) from None


def _load_tfds(task, split):
    import tensorflow_datasets as tfds

    tfds_split = split.replace("dev", "validation")
    builder = tfds.builder(task.tfds_name)
    if not tf.io.gfile.exists(builder.data_dir):
        _check_download_host(task, builder)
    try:
        builder.download_and_prepare()
        return builder.as_dataset(split=tfds_split)
    except Exception as error:
        reason = (str(error).splitlines() or [""])[0]
        raise _tfds_unavailable(
            task, f"{type(error).__name__}: {reason}"
        ) from error


def _tfds_label(task, label, where):
    if task.is_regression:
        return float(label)
    order = _TFDS_LABELS.get(task.name, task.labels)
    label = int(label)
    if not 0 <= label < len(order):
        raise KerasAdaptersError(f"{where}: label id {label} is out of range")
    return order[label]


def read_tfds_examples(task, split):
    """Reads one split of a GLUE task from TensorFlow Datasets.

    TFDS downloads GLUE on first use, so this needs network access or a
    prepared `~/tensorflow_datasets`. Labels are converted to the label
    strings of `task.labels` (TFDS numbers MNLI's classes in another
    order), so examples match those of `read_examples`.

    Args:
        task: a `GlueTask` or task name.
        split: as in `read_examples`; `"dev"` reads TFDS `"validation"`,
            `"dev_matched"` reads `"validation_matched"`, and so on.

    Returns:
        A list of `InputExample` with `line=None`; test examples have
        `label=None` and the TFDS `idx` as `guid`.

    Raises:
        ValueError: for an unknown split, or when TFDS cannot load the
            dataset (offline, for example).

    Example:

    ```python
    examples = keras_adapters.data.read_tfds_examples("sst2", "dev")
    ```
    """
    task = get_task(task)
    _check_split(task, split)
    columns = _COLUMNS[task.name]
    is_test = split in task.test_splits
    examples = []
    for row in _load_tfds(task, split).as_numpy_iterator():
        idx = int(row["idx"])
        text_b = row[columns.tfds_b].decode() if columns.tfds_b else None
        examples.append(
            InputExample(
                guid=str(idx) if is_test else f"{split}-{idx}",
                text_a=row[columns.tfds_a].decode(),
                text_b=text_b,
                label=(
                    None
                    if is_test
                    else _tfds_label(
                        task, row["label"], f"TFDS {task.tfds_name} idx {idx}"
                    )
                ),
            )
        )
    return examples
