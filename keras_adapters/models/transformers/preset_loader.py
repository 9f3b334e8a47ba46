"""The preset loader of any preset, with this package's converters.

keras-hub's `get_preset_loader` reads keras-hub presets and Hugging Face
folders through its converters. For the Hugging Face model types of
`CONVERTERS` the loader runs this package's converter instead: the same
keras-hub loader class, with another `converter`.
"""

from keras_adapters.keras_hub_internals import PresetLoader
from keras_adapters.keras_hub_internals import TransformersPresetLoader
from keras_adapters.keras_hub_internals import check_file_exists
from keras_adapters.keras_hub_internals import get_preset_loader
from keras_adapters.keras_hub_internals import load_json
from keras_adapters.models.transformers import convert_electra
from keras_adapters.models.transformers import convert_roberta

# Hugging Face `model_type` -> the converter this package uses for it.
CONVERTERS = {"electra": convert_electra, "roberta": convert_roberta}


class _TransformersLoader(TransformersPresetLoader):
    """keras-hub's Hugging Face loader running a converter of `CONVERTERS`.

    keras-hub's `__init__` picks the converter by `model_type` (and refuses
    ones it lacks); this one sets it and runs the base loader's `__init__`.
    """

    def __init__(self, preset, config, converter):
        PresetLoader.__init__(self, preset, config)
        self.converter = converter


def preset_loader(preset):
    """keras-hub's preset loader for `preset`, with this package's
    converters for the Hugging Face model types of `CONVERTERS`.

    Args:
        preset: a keras-hub preset id or folder, or a Hugging Face folder.

    Returns:
        A keras-hub `PresetLoader`.

    Raises:
        ValueError: keras-hub's errors for a preset it cannot read.
    """
    if check_file_exists(preset, "config.json"):
        config = load_json(preset, "config.json")
        converter = CONVERTERS.get(config.get("model_type"))
        if converter is not None and "registered_name" not in config:
            return _TransformersLoader(preset, config, converter)
    return get_preset_loader(preset)
