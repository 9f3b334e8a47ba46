import json
import os

import keras
import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf
from keras_hub.models import BertBackbone

from keras_adapters.checkpoints import backbone_from_tf1_checkpoint
from keras_adapters.checkpoints import classifier_from_tf1_checkpoint
from keras_adapters.checkpoints import export_tf1
from keras_adapters.checkpoints import load_tf1_checkpoint
from keras_adapters.checkpoints import validate_case_matches_checkpoint
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifier
from tests.conftest import TINY_CONFIG
from tests.conftest import tiny_inputs


def outputs(model, data):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(data).items()}


def write_checkpoint(prefix, tensors):
    """An independent TF1 name-based checkpoint writer for test fixtures."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tensors[n] for n in names],
    )


def read_checkpoint(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


@pytest.fixture
def plain_export(tmp_path):
    backbone = AdapterBertBackbone(**TINY_CONFIG, adapter_size=0)
    folder = str(tmp_path / "tf1")
    prefix = export_tf1(backbone, folder)
    return backbone, folder, prefix


def test_exported_names_and_shapes_are_the_original_ones(plain_export):
    backbone, folder, prefix = plain_export
    tensors = read_checkpoint(prefix)
    d, heads = TINY_CONFIG["hidden_dim"], TINY_CONFIG["num_heads"]
    assert tensors[
        "bert/encoder/layer_1/attention/self/query/kernel"
    ].shape == (d, d)
    assert tensors[
        "bert/encoder/layer_1/attention/output/dense/kernel"
    ].shape == (d, d)
    assert tensors["bert/encoder/layer_0/attention/self/key/bias"].shape == (d,)
    assert tensors["bert/encoder/layer_0/intermediate/dense/kernel"].shape == (
        d,
        32,
    )
    assert (
        "bert/embeddings/LayerNorm/gamma" in tensors
        and "bert/pooler/dense/bias" in tensors
    )
    assert len(tensors) == len(backbone.weights) == 5 + 16 * 2 + 2
    query = backbone.transformer_layers[
        1
    ]._self_attention_layer.query_dense.kernel.numpy()
    np.testing.assert_array_equal(
        tensors["bert/encoder/layer_1/attention/self/query/kernel"],
        query.reshape(d, heads * (d // heads)),
    )
    with open(os.path.join(folder, "bert_config.json")) as handle:
        config = json.load(handle)
    assert (
        config["num_hidden_layers"] == 2
        and config["hidden_size"] == d
        and config["hidden_act"] == "gelu"
    )


def test_round_trip_plain_and_ignored_entries(plain_export, tmp_path):
    backbone, folder, prefix = plain_export
    tensors = read_checkpoint(prefix)
    # Optimizer slots, global_step and pretraining heads are ignored.
    tensors["bert/pooler/dense/kernel/adam_m"] = np.zeros((16, 16), np.float32)
    tensors["global_step"] = np.array(573, np.int64)
    tensors["cls/predictions/output_bias"] = np.zeros((40,), np.float32)
    noisy = str(tmp_path / "noisy" / "bert_model.ckpt")
    write_checkpoint(noisy, tensors)
    loaded = backbone_from_tf1_checkpoint(
        os.path.join(folder, "bert_config.json"), noisy, adapter_size=0
    )
    data = tiny_inputs()
    for key, value in outputs(backbone, data).items():
        np.testing.assert_array_equal(outputs(loaded, data)[key], value)
    report = load_tf1_checkpoint(loaded, noisy)
    assert report.fresh == [] and len(report.skipped) == 3


def test_fresh_adapters_on_a_plain_checkpoint_are_reported(plain_export):
    _, folder, prefix = plain_export
    backbone = backbone_from_tf1_checkpoint(
        os.path.join(folder, "bert_config.json"), prefix
    )
    assert backbone.adapter_size == 64
    report = load_tf1_checkpoint(backbone, prefix)
    assert len(report.fresh) == 2 * 2 * 4 and all(
        "_adapter/" in p for p in report.fresh
    )


def test_adapter_bert_checkpoint_with_head_reproduces_logits(tmp_path):
    backbone = AdapterBertBackbone(**TINY_CONFIG, adapter_size=6)
    model = AdapterBertTextClassifier(backbone, num_classes=3)
    rng = np.random.default_rng(0)
    for variable in model.trainable_weights:
        variable.assign(rng.normal(scale=0.2, size=variable.shape))
    folder = str(tmp_path / "adapter_bert")
    prefix = export_tf1(model, folder)
    tensors = read_checkpoint(prefix)
    assert tensors[
        "bert/encoder/layer_0/attention/output/adapters/biases1"
    ].shape == (1, 6)
    assert tensors["bert/encoder/layer_1/output/adapters/biases2"].shape == (
        1,
        16,
    )
    assert tensors["bert/encoder/layer_1/output/adapters/weights1"].shape == (
        16,
        6,
    )
    assert tensors["output_weights"].shape == (3, 16) and tensors[
        "output_bias"
    ].shape == (3,)
    np.testing.assert_array_equal(
        tensors["output_weights"], model.output_dense.kernel.numpy().T
    )
    loaded = classifier_from_tf1_checkpoint(
        os.path.join(folder, "bert_config.json"), prefix
    )
    assert loaded.backbone.adapter_size == 6 and loaded.num_classes == 3
    data = tiny_inputs()
    np.testing.assert_array_equal(
        loaded.predict(data, verbose=0), model.predict(data, verbose=0)
    )
    with pytest.raises(
        KerasAdaptersError,
        match="holds adapters of size 6, but `adapter_size`=8",
    ):
        backbone_from_tf1_checkpoint(
            os.path.join(folder, "bert_config.json"), prefix, adapter_size=8
        )
    # A backbone alone skips the head, and says so.
    alone = backbone_from_tf1_checkpoint(
        os.path.join(folder, "bert_config.json"), prefix
    )
    assert load_tf1_checkpoint(alone, prefix).skipped == [
        "output_bias",
        "output_weights",
    ]


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda t: t.pop("bert/encoder/layer_1/output/dense/bias"),
            "missing from .*layer_1/output/dense/bias",
        ),
        (
            lambda t: t.update(
                {"bert/encoder/layer_0/extra/kernel": np.zeros(3, np.float32)}
            ),
            "no place in the model: bert/encoder/layer_0/extra/kernel",
        ),
        (
            lambda t: t.update(
                {"bert/pooler/dense/bias": np.zeros(17, np.float32)}
            ),
            r"bert/pooler/dense/bias \(17,\) vs \(16,\)",
        ),
    ],
)
def test_bad_checkpoints_are_clear_errors(
    plain_export, tmp_path, edit, message
):
    backbone, folder, prefix = plain_export
    tensors = read_checkpoint(prefix)
    edit(tensors)
    bad = str(tmp_path / "bad" / "bert_model.ckpt")
    write_checkpoint(bad, tensors)
    before = [v.numpy().copy() for v in backbone.weights]
    with pytest.raises(ValueError, match=message):
        load_tf1_checkpoint(backbone, bad)
    for value, variable in zip(before, backbone.weights):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_config_checkpoint_mismatch_and_missing_files(plain_export, tmp_path):
    _, folder, prefix = plain_export
    config_path = os.path.join(folder, "bert_config.json")
    with open(config_path) as handle:
        config = json.load(handle)
    config["num_hidden_layers"] = 1
    other = str(tmp_path / "one_layer.json")
    with open(other, "w") as handle:
        json.dump(config, handle)
    with pytest.raises(
        KerasAdaptersError, match="layer_1.*Does `bert_config_file` describe"
    ):
        backbone_from_tf1_checkpoint(other, prefix, adapter_size=0)
    with pytest.raises(
        KerasAdaptersError, match="Cannot read `init_checkpoint`"
    ):
        backbone_from_tf1_checkpoint(
            config_path, str(tmp_path / "none" / "bert_model.ckpt")
        )
    with pytest.raises(
        KerasAdaptersError, match="No such file: `bert_config_file`"
    ):
        backbone_from_tf1_checkpoint(str(tmp_path / "missing.json"), prefix)
    with pytest.raises(KerasAdaptersError, match="No such file: `vocab_file`"):
        classifier_from_tf1_checkpoint(
            config_path,
            prefix,
            vocab_file=str(tmp_path / "v.txt"),
            num_classes=2,
        )


def test_case_check_matches_the_original():
    validate_case_matches_checkpoint(
        True, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt"
    )
    validate_case_matches_checkpoint(False, "/m/my_own_model/bert_model.ckpt")
    with pytest.raises(
        KerasAdaptersError, match="uncased model, so pass `do_lower_case`=True"
    ):
        validate_case_matches_checkpoint(
            False, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt"
        )
    with pytest.raises(
        KerasAdaptersError, match="cased model, so pass `do_lower_case`=False"
    ):
        validate_case_matches_checkpoint(
            True, "gs://b/cased_L-24_H-1024_A-16/bert_model.ckpt"
        )


@pytest.mark.integration
def test_real_minilm_through_a_tf1_checkpoint(minilm_path, tmp_path):
    reference = BertBackbone.from_preset(minilm_path)
    source = AdapterBertTextClassifier.from_preset(
        minilm_path, num_classes=2, adapter_size=0, tuning_mode="full"
    )
    folder = str(tmp_path / "minilm_tf1")
    prefix = export_tf1(source, folder)  # With vocab.txt from its tokenizer.
    # Independent check against the Hugging Face file itself.
    hf = safetensors.numpy.load_file(
        os.path.join(minilm_path, "model.safetensors")
    )
    reader = tf.train.load_checkpoint(prefix)
    np.testing.assert_array_equal(
        reader.get_tensor("bert/encoder/layer_3/attention/self/query/kernel"),
        hf["encoder.layer.3.attention.self.query.weight"].T,
    )
    np.testing.assert_array_equal(
        reader.get_tensor("bert/encoder/layer_5/output/LayerNorm/gamma"),
        hf["encoder.layer.5.output.LayerNorm.weight"],
    )
    np.testing.assert_array_equal(
        reader.get_tensor("bert/embeddings/word_embeddings"),
        hf["embeddings.word_embeddings.weight"],
    )
    loaded = classifier_from_tf1_checkpoint(
        os.path.join(folder, "bert_config.json"),
        prefix,
        vocab_file=os.path.join(folder, "vocab.txt"),
        adapter_size=0,
        tuning_mode="full",
        sequence_length=source.preprocessor.sequence_length,
    )
    assert loaded.num_classes == 2
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "Adapters keep BERT frozen.",
    ]
    ids = loaded.preprocessor(texts)
    np.testing.assert_array_equal(
        ids["token_ids"], source.preprocessor(texts)["token_ids"]
    )
    expected, got = outputs(reference, ids), outputs(loaded.backbone, ids)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(
            got[key], expected[key]
        )  # Measured: exactly equal.
    np.testing.assert_array_equal(
        loaded.predict(texts, verbose=0), source.predict(texts, verbose=0)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(adapter_config="pfeiffer"),
        dict(adapter_config="houlsby"),
        dict(intermediate_activation="gelu"),
    ],
)
def test_models_the_tf1_code_computes_differently_are_refused(tmp_path, kwargs):
    backbone = AdapterBertBackbone(**TINY_CONFIG, **kwargs)
    with pytest.raises(KerasAdaptersError, match="TF1 checkpoint") as raised:
        export_tf1(backbone, str(tmp_path / "tf1"))
    assert "\n" not in str(raised.value)
    assert not os.path.exists(tmp_path / "tf1" / "bert_model.ckpt.index")
