"""GLUE metrics over a whole evaluation set (NumPy)."""

from keras_adapters.metrics.glue import accuracy
from keras_adapters.metrics.glue import f1
from keras_adapters.metrics.glue import glue_metrics
from keras_adapters.metrics.glue import matthews_corrcoef
from keras_adapters.metrics.glue import pearson
from keras_adapters.metrics.glue import spearman

__all__ = [
    "accuracy",
    "f1",
    "glue_metrics",
    "matthews_corrcoef",
    "pearson",
    "spearman",
]
