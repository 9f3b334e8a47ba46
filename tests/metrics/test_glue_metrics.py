import math

import numpy as np
import pytest

from keras_adapters.data import get_task
from keras_adapters.metrics import accuracy
from keras_adapters.metrics import f1
from keras_adapters.metrics import glue_metrics
from keras_adapters.metrics import matthews_corrcoef
from keras_adapters.metrics import pearson
from keras_adapters.metrics import spearman


def binary_counts(labels, predictions):
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    # Python ints: the textbook MCC denominator overflows int64.
    return tuple(
        int(np.sum((labels == true) & (predictions == predicted)))
        for true, predicted in ((1, 1), (0, 0), (0, 1), (1, 0))
    )


def textbook_mcc(labels, predictions):
    tp, tn, fp, fn = binary_counts(labels, predictions)
    return (tp * tn - fp * fn) / math.sqrt(
        (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    )


def one_hot_rk(labels, predictions):
    """Gorodkin's R_K as a ratio of one-hot covariances."""
    classes = np.union1d(labels, predictions)
    x = (np.asarray(labels)[:, None] == classes).astype(float)
    y = (np.asarray(predictions)[:, None] == classes).astype(float)

    def cov(a, b):
        return np.sum((a - a.mean(0)) * (b - b.mean(0)))

    return cov(x, y) / math.sqrt(cov(x, x) * cov(y, y))


def test_accuracy():
    assert accuracy([0, 1, 1, 2], [0, 1, 0, 2]) == 0.75
    assert accuracy(np.array([1]), np.array([1])) == 1.0
    assert isinstance(accuracy([0], [1]), float)


def test_f1_hand_computed():
    # tp=2, fp=1, fn=1: precision 2/3, recall 2/3.
    assert f1([0, 1, 1, 1, 0], [1, 1, 1, 0, 0]) == pytest.approx(2 / 3)
    # tp=1, fp=0, fn=2: precision 1, recall 1/3, F1 = 2 * 1/3 / (4/3).
    assert f1([1, 1, 1, 0], [1, 0, 0, 0]) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 2, (2, 500))
    tp, _, fp, fn = binary_counts(labels, predictions)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    expected = 2 * precision * recall / (precision + recall)
    assert f1(labels, predictions) == pytest.approx(expected)


def test_f1_degenerate():
    assert f1([0, 0, 0], [0, 0, 0]) == 0.0  # no positives at all
    assert f1([1, 1, 0], [0, 0, 0]) == 0.0  # none predicted
    assert f1([0, 0], [1, 1]) == 0.0  # none true
    assert f1([1, 0, 1], [1, 0, 1]) == 1.0


def test_mcc_binary():
    assert matthews_corrcoef([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(
        2 / math.sqrt(12)
    )
    rng = np.random.default_rng(1)
    for _ in range(5):
        labels, predictions = rng.integers(0, 2, (2, 300))
        assert matthews_corrcoef(labels, predictions) == pytest.approx(
            textbook_mcc(labels, predictions)
        )
    assert matthews_corrcoef([0, 1, 1, 0], [0, 1, 1, 0]) == 1.0
    assert matthews_corrcoef([0, 1, 1, 0], [1, 0, 0, 1]) == -1.0


def test_mcc_degenerate_is_zero():
    assert matthews_corrcoef([0, 1, 1, 0], [1, 1, 1, 1]) == 0.0
    assert matthews_corrcoef([1, 1, 1], [0, 1, 0]) == 0.0
    assert matthews_corrcoef([1], [1]) == 0.0


def test_mcc_multiclass_and_large():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 400)
    predictions = np.where(
        rng.random(400) < 0.6, labels, rng.integers(0, 3, 400)
    )
    assert matthews_corrcoef(labels, predictions) == pytest.approx(
        one_hot_rk(labels, predictions)
    )
    # n**4 overflows int64 for n this large; the result must not.
    labels = np.tile([0, 1], 200_000)
    predictions = labels.copy()
    predictions[:1000] = 1 - predictions[:1000]
    assert matthews_corrcoef(labels, predictions) == pytest.approx(
        textbook_mcc(labels, predictions)
    )


def test_pearson_and_spearman_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 5, 200)
    y = x + rng.normal(0, 1, 200)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    # Heavy ties, as with STS-B's 0.2-step gold scores.
    x_tied, y_tied = np.round(x), np.round(y * 2) / 2
    assert spearman(x_tied, y_tied) == pytest.approx(
        stats.spearmanr(x_tied, y_tied)[0]
    )


def test_correlations_by_hand():
    assert pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]) == pytest.approx(
        5 / math.sqrt(2 * 38 / 3)
    )
    # Monotone but not linear: Spearman 1, Pearson below 1.
    x = [1.0, 2.0, 3.0, 4.0]
    y = [1.0, 10.0, 100.0, 1000.0]
    assert spearman(x, y) == 1.0 and pearson(x, y) < 0.9
    assert spearman(x, y[::-1]) == -1.0
    # Ties take their average rank: x ranks [1.5, 1.5, 3], y ranks [1, 2, 3].
    assert spearman([5.0, 5.0, 7.0], [1.0, 2.0, 3.0]) == pytest.approx(
        math.sqrt(3) / 2
    )


def test_correlations_of_a_constant_are_zero():
    assert pearson([1.0, 1.0, 1.0], [0.0, 2.0, 5.0]) == 0.0
    assert spearman([0.0, 2.0, 5.0], [3.0, 3.0, 3.0]) == 0.0


@pytest.mark.parametrize(
    "labels, predictions",
    [([0, 1], [0]), ([], []), ([[0, 1]], [[0, 1]])],
)
def test_shape_errors(labels, predictions):
    for metric in (accuracy, f1, matthews_corrcoef, pearson, spearman):
        with pytest.raises(ValueError):
            metric(labels, predictions)


def test_glue_metrics_keys_and_values():
    labels, predictions = [1, 0, 1, 1], [1, 0, 0, 1]
    assert glue_metrics("MRPC", labels, predictions) == {
        "accuracy": 0.75,
        "f1": pytest.approx(0.8),
        "acc_and_f1": pytest.approx(0.775),
    }
    assert set(glue_metrics("qqp", labels, predictions)) == {
        "accuracy",
        "f1",
        "acc_and_f1",
    }
    assert glue_metrics(get_task("cola"), labels, predictions) == {
        "mcc": pytest.approx(textbook_mcc(labels, predictions))
    }
    for name in ("SST-2", "MNLI", "QNLI", "RTE", "WNLI"):
        assert glue_metrics(name, labels, predictions) == {"accuracy": 0.75}
    nli = [0, 1, 2, 2, 1]
    assert glue_metrics("ax", nli, [0, 1, 2, 1, 1]) == {
        "mcc": pytest.approx(one_hot_rk(nli, [0, 1, 2, 1, 1]))
    }
    scores = [0.0, 1.2, 3.4, 5.0]
    result = glue_metrics("sts-b", scores, [0.5, 1.0, 4.0, 3.9])
    assert set(result) == {"pearson", "spearman", "corr"}
    assert result["spearman"] == pytest.approx(0.8)
    assert result["corr"] == pytest.approx(
        (result["pearson"] + result["spearman"]) / 2
    )
    with pytest.raises(ValueError, match="Unknown task 'xnli'"):
        glue_metrics("xnli", labels, predictions)
