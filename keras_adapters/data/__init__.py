"""GLUE task definitions and example readers (original TSV and TFDS)."""

from keras_adapters.data.glue import GLUE_TASKS
from keras_adapters.data.glue import GlueTask
from keras_adapters.data.glue import InputExample
from keras_adapters.data.glue import get_task
from keras_adapters.data.glue import read_examples
from keras_adapters.data.glue import read_tfds_examples

__all__ = [
    "GLUE_TASKS",
    "GlueTask",
    "InputExample",
    "get_task",
    "read_examples",
    "read_tfds_examples",
]
