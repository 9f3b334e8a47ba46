import json
import os
import zipfile

import keras
import pytest

import keras_adapters
from keras_adapters.models import AdapterBertTextClassifier


def test_truncated_keras_file_is_a_clear_error(tmp_path, tiny_backbone):
    path = str(tmp_path / "model.keras")
    AdapterBertTextClassifier(tiny_backbone, num_classes=2).save(path)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        keras_adapters.load_model(path)
    with pytest.raises(ValueError, match="No such model file"):
        keras_adapters.load_model(str(tmp_path / "missing.keras"))


def test_serialized_code_is_refused(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = str(tmp_path / "lambda.keras")
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match="never executes code"):
        keras_adapters.load_model(path)


def with_config(path, edit):
    """Rewrites the `config.json` of a `.keras` file with `edit(config)`."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    edit(config)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def rename(node, class_name, module):
    node.update(
        class_name=class_name,
        module=module,
        registered_name=f"{module}>{class_name}",
    )


@pytest.mark.parametrize("nested", [False, True])
def test_unregistered_class_is_a_one_line_error(
    tmp_path, tiny_backbone, nested
):
    path = str(tmp_path / "model.keras")
    AdapterBertTextClassifier(tiny_backbone, num_classes=2).save(path)
    with_config(
        path,
        lambda config: rename(
            config["config"]["backbone"] if nested else config,
            "Gone",
            "nowhere",
        ),
    )
    with pytest.raises(ValueError) as info:
        keras_adapters.load_model(path)
    assert str(info.value) == (
        f"'{path}' uses class 'Gone' of module 'nowhere', which is not "
        "registered; install and import the package that defines it (with "
        "@keras.saving.register_keras_serializable) before loading."
    )
    # A class of a Keras package that cannot be imported reads the same.
    with_config(path, lambda config: rename(config, "Gone", "keras_hub.gone"))
    with pytest.raises(
        ValueError, match="module 'keras_hub.gone', which is not"
    ):
        keras_adapters.load_model(path)
