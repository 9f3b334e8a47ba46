"""AdapterHub folders (the `adapters` package, adapter-transformers): read
and written without PyTorch.

`keras_adapters.load_adapters` and `save_adapters(..., format="adapterhub")`
dispatch here; each module has one job: `folder_config` parses and checks
the JSON files, `weights` names and checks the weights, `torch_files` reads
and writes `.bin` files without torch, `reader` and `writer` build and
write models, `fusion` reads AdapterFusion folders.
"""

from keras_adapters.adapterhub.folder_config import AdapterHubConfig
from keras_adapters.adapterhub.fusion import FusionConfig
from keras_adapters.adapterhub.fusion import load_adapterhub_fusion
from keras_adapters.adapterhub.reader import is_adapterhub_folder
from keras_adapters.adapterhub.reader import load_adapterhub
from keras_adapters.adapterhub.writer import save_adapterhub

__all__ = [
    "AdapterHubConfig",
    "FusionConfig",
    "is_adapterhub_folder",
    "load_adapterhub",
    "load_adapterhub_fusion",
    "save_adapterhub",
]
