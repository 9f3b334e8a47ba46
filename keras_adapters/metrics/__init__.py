"""GLUE metrics over a whole evaluation set (NumPy) and SQuAD EM/F1."""

from keras_adapters.metrics.glue import accuracy
from keras_adapters.metrics.glue import f1
from keras_adapters.metrics.glue import glue_metrics
from keras_adapters.metrics.glue import matthews_corrcoef
from keras_adapters.metrics.glue import pearson
from keras_adapters.metrics.glue import spearman
from keras_adapters.metrics.squad import exact_match_score
from keras_adapters.metrics.squad import f1_score
from keras_adapters.metrics.squad import normalize_answer
from keras_adapters.metrics.squad import squad_evaluate

__all__ = [
    "accuracy",
    "f1",
    "glue_metrics",
    "matthews_corrcoef",
    "pearson",
    "spearman",
    "exact_match_score",
    "f1_score",
    "normalize_answer",
    "squad_evaluate",
]
