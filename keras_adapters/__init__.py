"""Bottleneck adapters (Houlsby et al., 2019) for BERT on Keras 3 and keras-hub."""

# First: a command's process loads TensorFlow quietly (keras_adapters.commands).
from keras_adapters.commands import start_quietly

start_quietly()

# ruff: noqa: E402
from keras_adapters import adapterhub
from keras_adapters import checkpoints
from keras_adapters import data
from keras_adapters import layers
from keras_adapters import metrics
from keras_adapters import models
from keras_adapters import optimization
from keras_adapters.ablation import adapters_removed
from keras_adapters.artifacts import ArtifactError
from keras_adapters.artifacts import load_adapters
from keras_adapters.artifacts import save_adapters
from keras_adapters.averaging import average_adapters
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import export_question_answerer
from keras_adapters.export import export_saved_model
from keras_adapters.fusion import fuse_adapters
from keras_adapters.fusion import load_fusion
from keras_adapters.fusion import save_fusion
from keras_adapters.models.artifact import read_artifact_config
from keras_adapters.models.multi_task_classifier import MultiTaskClassifier
from keras_adapters.models.multi_task_classifier import TaskInfo
from keras_adapters.saving import load_model
from keras_adapters.tuning import TuningMode
from keras_adapters.tuning import lowest_trained_block
from keras_adapters.tuning import parameter_groups
from keras_adapters.tuning import set_tuning_mode
from keras_adapters.tuning import tuning_summary
from keras_adapters.version import __version__

__all__ = [
    "adapterhub",
    "ArtifactError",
    "KerasAdaptersError",
    "adapters_removed",
    "average_adapters",
    "export_question_answerer",
    "load_adapters",
    "load_model",
    "MultiTaskClassifier",
    "TaskInfo",
    "read_artifact_config",
    "save_adapters",
    "export_saved_model",
    "fuse_adapters",
    "load_fusion",
    "save_fusion",
    "checkpoints",
    "data",
    "layers",
    "metrics",
    "models",
    "optimization",
    "TuningMode",
    "lowest_trained_block",
    "parameter_groups",
    "set_tuning_mode",
    "tuning_summary",
]
