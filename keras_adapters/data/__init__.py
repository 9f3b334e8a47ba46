"""GLUE task definitions and example readers (original TSV and TFDS), the
SQuAD v1.1 / v2.0 JSON reader, and examples tokenized into arrays."""

from keras_adapters.data.encoding import EncodedExamples
from keras_adapters.data.encoding import encode_examples
from keras_adapters.data.encoding import padded_widths
from keras_adapters.data.glue import GLUE_TASKS
from keras_adapters.data.glue import GlueTask
from keras_adapters.data.glue import InputExample
from keras_adapters.data.glue import get_task
from keras_adapters.data.glue import read_examples
from keras_adapters.data.glue import read_tfds_examples
from keras_adapters.data.squad import SquadAnswer
from keras_adapters.data.squad import SquadExample
from keras_adapters.data.squad import SquadFile
from keras_adapters.data.squad import SquadFormatError
from keras_adapters.data.squad import read_squad_examples
from keras_adapters.data.squad import split_squad_articles
from keras_adapters.data.squad_features import SquadFeatures
from keras_adapters.data.squad_features import convert_examples_to_features

__all__ = [
    "EncodedExamples",
    "encode_examples",
    "padded_widths",
    "GLUE_TASKS",
    "GlueTask",
    "InputExample",
    "get_task",
    "read_examples",
    "read_tfds_examples",
    "SquadAnswer",
    "SquadExample",
    "SquadFile",
    "SquadFormatError",
    "read_squad_examples",
    "split_squad_articles",
    "SquadFeatures",
    "convert_examples_to_features",
]
