"""GLUE's own metrics, computed over a whole evaluation set with NumPy.

GLUE scores CoLA with the Matthews correlation, STS-B with the Pearson and
Spearman correlations, MRPC and QQP with F1 and accuracy, and the other
tasks with accuracy. These are corpus-level statistics: compute them once
over every example, not per batch.

Where a statistic is undefined (a correlation with a constant input, or F1
with no positive labels or predictions) the functions return 0.0 rather
than NaN, so a score can always be compared and logged.
"""

import numpy as np

from keras_adapters.data.glue import get_task
from keras_adapters.errors import KerasAdaptersError


def _pair(labels, predictions, dtype):
    labels = np.asarray(labels, dtype)
    predictions = np.asarray(predictions, dtype)
    if labels.ndim != 1 or labels.shape != predictions.shape:
        raise KerasAdaptersError(
            "Expected two 1-D arrays of the same length, got shapes "
            f"{labels.shape} and {predictions.shape}."
        )
    if labels.size == 0:
        raise KerasAdaptersError("Cannot compute a metric over zero examples.")
    return labels, predictions


def accuracy(labels, predictions):
    """The fraction of predictions equal to the labels.

    Args:
        labels: 1-D array-like of class ids.
        predictions: 1-D array-like of predicted class ids.

    Returns:
        A float in [0, 1].

    Example:

    ```python
    accuracy([0, 1, 1], [0, 1, 0])  # 0.6667
    ```
    """
    labels, predictions = _pair(labels, predictions, np.int64)
    return float(np.mean(labels == predictions))


def f1(labels, predictions):
    """Binary F1 score of the positive class 1.

    Returns 0.0 when it is undefined: no example is labelled 1 and none is
    predicted 1 (this matches scikit-learn's default).

    Args:
        labels: 1-D array-like of class ids 0 and 1.
        predictions: 1-D array-like of predicted class ids.

    Returns:
        A float in [0, 1].

    Example:

    ```python
    f1([0, 1, 1, 1], [1, 1, 1, 0])  # 2 / 3
    ```
    """
    labels, predictions = _pair(labels, predictions, np.int64)
    true_positives = np.sum((labels == 1) & (predictions == 1))
    denominator = np.sum(labels == 1) + np.sum(predictions == 1)
    return float(2 * true_positives / denominator) if denominator else 0.0


def matthews_corrcoef(labels, predictions):
    """Matthews correlation coefficient, for two or more classes.

    With more than two classes this is Gorodkin's R_K, the statistic GLUE
    reports for its diagnostic set. Returns 0.0 when it is undefined: when
    all labels, or all predictions, are one class.

    Args:
        labels: 1-D array-like of class ids.
        predictions: 1-D array-like of predicted class ids.

    Returns:
        A float in [-1, 1].

    Example:

    ```python
    matthews_corrcoef([1, 1, 0, 0], [1, 0, 0, 0])  # 0.5774
    ```
    """
    labels, predictions = _pair(labels, predictions, np.int64)
    classes = np.union1d(labels, predictions)
    true_counts = np.sum(labels[:, None] == classes, axis=0).astype(float)
    pred_counts = np.sum(predictions[:, None] == classes, axis=0)
    pred_counts = pred_counts.astype(float)
    n = float(labels.size)
    correct = float(np.sum(labels == predictions))
    covariance = correct * n - true_counts @ pred_counts
    true_variance = n * n - true_counts @ true_counts
    pred_variance = n * n - pred_counts @ pred_counts
    if true_variance == 0 or pred_variance == 0:
        return 0.0
    return float(covariance / np.sqrt(true_variance * pred_variance))


def pearson(x, y):
    """Pearson correlation; 0.0 when either input is constant.

    Args:
        x: 1-D array-like of floats, e.g. gold STS-B scores.
        y: 1-D array-like of floats of the same length.

    Returns:
        A float in [-1, 1].

    Example:

    ```python
    pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0])  # 0.9934
    ```
    """
    x, y = _pair(x, y, np.float64)
    x = x - x.mean()
    y = y - y.mean()
    norm = np.sqrt(np.sum(x * x) * np.sum(y * y))
    if norm == 0:
        return 0.0
    return float(np.clip(np.sum(x * y) / norm, -1.0, 1.0))


def _average_ranks(values):
    """1-based ranks; tied values share the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts_group = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], values.size]
    ranks = np.empty(values.size)
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def spearman(x, y):
    """Spearman rank correlation, with average ranks for ties.

    Args:
        x: 1-D array-like of floats.
        y: 1-D array-like of floats of the same length.

    Returns:
        A float in [-1, 1]; 0.0 when either input is constant.

    Example:

    ```python
    spearman([1.0, 2.0, 3.0], [2.0, 4.0, 7.0])  # 1.0
    ```
    """
    x, y = _pair(x, y, np.float64)
    return pearson(_average_ranks(x), _average_ranks(y))


def glue_metrics(task, labels, predictions):
    """The metrics GLUE reports for a task, over a whole evaluation set.

    Args:
        task: a `GlueTask` or task name.
        labels: 1-D array-like of class ids, or of float scores for STS-B.
        predictions: 1-D array-like of predicted class ids, or of
            predicted scores for STS-B.

    Returns:
        A dict of floats: CoLA `{"mcc"}`; STS-B `{"pearson", "spearman",
        "corr"}` with `corr` their mean; MRPC and QQP `{"accuracy", "f1",
        "acc_and_f1"}` with `acc_and_f1` their mean; AX `{"mcc"}` (R_3
        over the three NLI classes, as GLUE scores the diagnostic set);
        every other task `{"accuracy"}`.

    Example:

    ```python
    glue_metrics("MRPC", [1, 0, 1, 1], [1, 0, 0, 1])
    # {"accuracy": 0.75, "f1": 0.8, "acc_and_f1": 0.775}
    ```
    """
    name = get_task(task).name
    if name in ("CoLA", "AX"):
        return {"mcc": matthews_corrcoef(labels, predictions)}
    if name == "STS-B":
        result = {
            "pearson": pearson(labels, predictions),
            "spearman": spearman(labels, predictions),
        }
        result["corr"] = (result["pearson"] + result["spearman"]) / 2
        return result
    result = {"accuracy": accuracy(labels, predictions)}
    if name in ("MRPC", "QQP"):
        result["f1"] = f1(labels, predictions)
        result["acc_and_f1"] = (result["accuracy"] + result["f1"]) / 2
    return result
