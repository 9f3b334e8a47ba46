"""Adapters in RoBERTa, XLM-RoBERTa, DistilBERT and ELECTRA, one mechanism.

The checkpoints are the tiny random Hugging Face folders of
`tests/data/families` (made by its `make_fixtures.py` with transformers),
loaded through keras-hub's preset loader; `expected.json` holds what
Hugging Face computes on them.
"""

import json
import os

import keras
import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf
from keras_hub.models import AlbertBackbone

import keras_adapters
from keras_adapters.models import AdapterBackbone
from keras_adapters.models import AdapterDistilBertBackbone
from keras_adapters.models import AdapterElectraBackbone
from keras_adapters.models import AdapterElectraTextClassifier
from keras_adapters.models import AdapterQuestionAnswerer
from keras_adapters.models import AdapterRobertaBackbone
from keras_adapters.models import AdapterXLMRobertaBackbone
from keras_adapters.models.adapter_backbone import preset_backbone_config
from keras_adapters.models.adapter_classifier_task import AdapterClassifierTask
from keras_adapters.tuning import parameter_groups

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "families")
with open(os.path.join(DATA, "expected.json")) as handle:
    EXPECTED = json.load(handle)
FAMILIES = {
    "roberta": AdapterRobertaBackbone,
    "xlm_roberta": AdapterXLMRobertaBackbone,
    "distilbert": AdapterDistilBertBackbone,
    "electra": AdapterElectraBackbone,
}
# The Hugging Face head's weights and the Keras head's dense layers.
HEADS = {
    "roberta": ("classifier.dense", "classifier.out_proj"),
    "xlm_roberta": ("classifier.dense", "classifier.out_proj"),
    "distilbert": ("pre_classifier", "classifier"),
    "electra": ("classifier.dense", "classifier.out_proj"),
}
ADAPTER_SIZE = 4


def folder(family):
    return os.path.join(DATA, family)


def features(family, backbone):
    """Hugging Face's token ids of the pairs, as the backbone reads them."""
    expected = EXPECTED[family]
    names = ("token_ids", "padding_mask", "segment_ids")
    return {
        name: np.array(expected[name], "int32")
        for name in names
        if name in backbone.input
    }


def sequence_output(outputs):
    return outputs["sequence_output"] if isinstance(outputs, dict) else outputs


def classifier_of(family, num_classes=2, **kwargs):
    return AdapterClassifierTask.for_family(FAMILIES[family]).from_preset(
        folder(family),
        num_classes=num_classes,
        intermediate_activation="auto",
        **kwargs,
    )


def tokenized_pairs(family, classifier):
    """The classifier's preprocessor run eagerly on the pairs (keras-hub's
    byte-pair tokenizer takes seconds to trace in each `predict`)."""
    first, second = zip(*EXPECTED[family]["pairs"])
    return classifier.preprocessor((list(first), list(second)), y=None)


def head_dense_layers(classifier):
    if isinstance(classifier, AdapterElectraTextClassifier):
        return classifier.head.dense_layers
    return [classifier.pooled_dense, classifier.output_dense]


def port_hugging_face_head(family, classifier):
    weights = safetensors.numpy.load_file(
        os.path.join(folder(family), "model.safetensors")
    )
    for dense, name in zip(head_dense_layers(classifier), HEADS[family]):
        dense.kernel.assign(weights[f"{name}.weight"].T)
        dense.bias.assign(weights[f"{name}.bias"])


@pytest.mark.parametrize("family", FAMILIES)
def test_size_0_is_the_hugging_face_model(family):
    backbone = AdapterBackbone.from_preset(
        folder(family), adapter_size=0, intermediate_activation="auto"
    )
    assert type(backbone) is FAMILIES[family]
    assert backbone.adapters == []
    mask = np.array(EXPECTED[family]["padding_mask"], bool)
    outputs = sequence_output(backbone.predict(features(family, backbone)))
    difference = np.abs(outputs - EXPECTED[family]["hidden_states"])[mask]
    assert difference.max() < 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_classifier_reads_text_and_has_the_hugging_face_head(family):
    classifier = classifier_of(family, adapter_size=0, tuning_mode="full")
    inputs = tokenized_pairs(family, classifier)
    expected_ids = np.array(EXPECTED[family]["token_ids"])
    width = expected_ids.shape[1]
    np.testing.assert_array_equal(inputs["token_ids"][:, :width], expected_ids)
    port_hugging_face_head(family, classifier)
    logits = classifier.predict(inputs)
    np.testing.assert_allclose(
        logits, EXPECTED[family]["logits"], rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_variable_paths_are_the_parents_plus_the_adapters(family):
    adapter_cls = FAMILIES[family]
    config = preset_backbone_config(folder(family))
    parent = adapter_cls.plain_backbone_cls()(**config)
    backbone = adapter_cls(**config, adapter_size=ADAPTER_SIZE)
    paths = {variable.path for variable in backbone.weights}
    adapter_paths = {path for path in paths if "_adapter/" in path}
    assert paths - adapter_paths == {v.path for v in parent.weights}
    # Two adapters per block, each down and up projections with biases.
    assert len(adapter_paths) == backbone.num_layers * 2 * 4


@pytest.mark.parametrize("family", FAMILIES)
def test_adapters_train_with_the_layer_norms_and_the_head(family):
    classifier = classifier_of(family, adapter_size=ADAPTER_SIZE)
    backbone = classifier.backbone
    d, m = backbone.hidden_dim, ADAPTER_SIZE
    groups = parameter_groups(classifier)
    trained = sum(int(np.prod(v.shape)) for v in classifier.trainable_weights)
    head = sum(int(np.prod(v.shape)) for v in groups["head"])
    layer_norms = 2 * d * (1 + 2 * backbone.num_layers)
    if family == "electra":  # The embedding LayerNorm is embedding_dim wide.
        layer_norms -= 2 * (d - backbone.embedding_dim)
    adapters = backbone.num_layers * 2 * (2 * m * d + m + d)
    assert trained == adapters + layer_norms + head
    assert all(not v.trainable for v in groups["rest"] + groups["pooler"])
    keras_adapters.set_tuning_mode(classifier, "layer_norm")
    assert sum(int(np.prod(v.shape)) for v in classifier.trainable_weights) == (
        layer_norms + head
    )
    keras_adapters.set_tuning_mode(classifier, "full")
    assert len(classifier.trainable_weights) == len(classifier.weights)


def test_top_k_adapter_drop_and_adapter_configs():
    classifier = classifier_of(
        "roberta", adapter_size=ADAPTER_SIZE, adapter_layers=1
    )
    blocks = classifier.backbone.transformer_layers
    assert [len(block.adapters) for block in blocks] == [0, 2]
    keras_adapters.set_tuning_mode(classifier, "top_k", top_k=1)
    trained = {v.path for v in classifier.trainable_weights}
    assert any(path.startswith("transformer_layer_1/") for path in trained)
    assert not any(path.startswith("transformer_layer_0/") for path in trained)
    pfeiffer = AdapterBackbone.from_preset(
        folder("distilbert"), adapter_config="pfeiffer"
    )
    assert [len(block.adapters) for block in pfeiffer.transformer_layers] == [
        1,
        1,
    ]


def test_a_training_step_moves_only_the_trained_variables():
    family = "roberta"
    classifier = classifier_of(family, adapter_size=ADAPTER_SIZE)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = {v.path: v.numpy().copy() for v in classifier.weights}
    classifier.fit(
        tokenized_pairs(family, classifier),
        np.array([0, 1, 0, 1, 0, 1]),
        batch_size=6,
        epochs=1,
        verbose=0,
    )
    trained = {v.path for v in classifier.trainable_weights}
    for variable in classifier.weights:
        moved = not np.array_equal(variable.numpy(), before[variable.path])
        assert moved == (variable.path in trained), variable.path


@pytest.mark.parametrize("family", FAMILIES)
def test_an_artifact_reloads_the_same_model(family, tmp_path):
    classifier = classifier_of(family, adapter_size=ADAPTER_SIZE)
    rng = np.random.default_rng(0)
    for variable in classifier.trainable_weights:
        variable.assign(rng.normal(scale=0.1, size=variable.shape))
    inputs = tokenized_pairs(family, classifier)
    logits = classifier.predict(inputs)
    keras_adapters.save_adapters(classifier, str(tmp_path / "adapters"))
    reloaded = keras_adapters.load_adapters(
        str(tmp_path / "adapters"), folder(family)
    )
    assert type(reloaded) is type(classifier)
    np.testing.assert_allclose(
        reloaded.predict(inputs), logits, rtol=0, atol=1e-6
    )


# One family per tokenizer: byte-pair, SentencePiece, WordPiece (ELECTRA's
# preprocessor is this package's).
@pytest.mark.parametrize("family", ["roberta", "xlm_roberta", "electra"])
def test_the_saved_model_serves_raw_strings_as_the_model(family, tmp_path):
    classifier = classifier_of(family, adapter_size=ADAPTER_SIZE)
    first, second = (list(texts) for texts in zip(*EXPECTED[family]["pairs"]))
    logits = classifier.predict(tokenized_pairs(family, classifier))
    export = str(tmp_path / "export")
    keras_adapters.export_saved_model(classifier, export, pair=True)
    assert_serves_the_logits(
        export, {"sentence1": first, "sentence2": second}, logits
    )


def assert_serves_the_logits(export, texts, logits):
    """The SavedModel's probabilities on `texts` (signature input name to
    strings) are the softmax of the model's `logits`."""
    serve = tf.saved_model.load(export).signatures["serving_default"]
    served = serve(
        **{name: tf.constant(value) for name, value in texts.items()}
    )
    np.testing.assert_allclose(
        served["probabilities"].numpy(),
        keras.ops.convert_to_numpy(keras.ops.softmax(logits)),
        rtol=0,
        atol=1e-5,
    )


def test_a_base_of_another_family_is_refused(tmp_path):
    classifier = classifier_of("distilbert", adapter_size=ADAPTER_SIZE)
    keras_adapters.save_adapters(classifier, str(tmp_path / "adapters"))
    with pytest.raises(keras_adapters.KerasAdaptersError, match="DistilBERT"):
        keras_adapters.load_adapters(
            str(tmp_path / "adapters"), folder("electra")
        )


def test_an_unsupported_backbone_is_one_line_naming_the_families(tmp_path):
    albert = AlbertBackbone(
        vocabulary_size=10,
        num_layers=1,
        num_heads=2,
        embedding_dim=4,
        hidden_dim=8,
        intermediate_dim=8,
        max_sequence_length=8,
    )
    albert.save_to_preset(str(tmp_path / "albert"))
    with pytest.raises(keras_adapters.KerasAdaptersError) as info:
        AdapterBackbone.from_preset(str(tmp_path / "albert"))
    message = str(info.value)
    assert "\n" not in message
    assert "shares one block across depth" in message
    for family in ("BERT", "RoBERTa", "XLM-RoBERTa", "DistilBERT", "ELECTRA"):
        assert family in message


QUESTION = "Who wrote the book?"
CONTEXT = "Ann wrote the book in Paris. The old dog slept in the sun."


def question_answerer_of(family):
    cls = AdapterQuestionAnswerer.for_family(FAMILIES[family])
    return cls.from_preset(
        folder(family),
        adapter_size=ADAPTER_SIZE,
        intermediate_activation="auto",
        preprocessor=cls.preset_preprocessor(
            folder(family), sequence_length=24, doc_stride=8, max_query_length=8
        ),
    )


# Packings and word splits: RoBERTa's, XLM-RoBERTa's, BERT's without
# segment ids (ELECTRA's is BERT's).
@pytest.mark.parametrize("family", ["roberta", "xlm_roberta", "distilbert"])
def test_question_answerer_windows_and_artifact(family, tmp_path):
    model = question_answerer_of(family)
    windows = model.preprocessor({"question": [QUESTION], "context": [CONTEXT]})
    # Tokenized word by word, the context's tokens are the whole context's,
    # and each token's span is a word of the context.
    tokens = np.array(windows["token_ids"])
    index = np.array(windows["context_index"])
    context_ids = {
        int(i): int(t) for i, t in zip(index.ravel(), tokens.ravel()) if i >= 0
    }
    whole = np.array(model.preprocessor.tokenizer(CONTEXT)).tolist()
    assert [context_ids[i] for i in range(len(context_ids))] == whole
    starts, ends = (
        np.array(windows["token_start"]),
        np.array(windows["token_end"]),
    )
    spans = {
        CONTEXT[a:b] for a, b in zip(starts.ravel(), ends.ravel()) if a >= 0
    }
    # WordPiece words end at punctuation; byte-pair and SentencePiece
    # words at whitespace.
    assert spans <= set(CONTEXT.split() + CONTEXT.replace(".", " .").split())
    inputs = {name: windows[name] for name in model.input}
    logits = model.predict(inputs)
    assert logits.shape == (len(tokens), 2, 24)
    keras_adapters.save_adapters(model, str(tmp_path / "adapters"))
    reloaded = keras_adapters.load_adapters(
        str(tmp_path / "adapters"), folder(family)
    )
    assert type(reloaded) is type(model)
    np.testing.assert_allclose(
        reloaded.predict(inputs), logits, rtol=0, atol=1e-6
    )


def save_task_artifact(family, directory, seed, pair, **kwargs):
    """An artifact of the family's classifier, random changes standing in
    for training."""
    classifier = classifier_of(family, **kwargs)
    classifier.preprocessor.sequence_length = 16
    rng = np.random.default_rng(seed)
    for variable in classifier.trainable_weights:
        variable.assign(variable + rng.normal(0, 0.2, variable.shape))
    inputs = ["sentence1", "sentence2"] if pair else ["sentence"]
    keras_adapters.save_adapters(classifier, directory, inputs=inputs)
    return directory


# A mixed batch of a single-sentence task and a pair task.
MIXED = {
    "task": ["single", "pair", "single"],
    "sentence": ["the film was good", "a dull movie", "hello world"],
    "sentence2": ["", "a boring film", ""],
}


def multi_task_artifacts(family, root):
    """Two-class single-sentence adapters in every block, and three-class
    pair adapters in the top block only (AdapterDrop)."""
    return {
        "single": save_task_artifact(
            family, str(root / "single"), 0, False, adapter_size=4
        ),
        "pair": save_task_artifact(
            family,
            str(root / "pair"),
            1,
            True,
            num_classes=3,
            adapter_size=8,
            adapter_layers=1,
            freeze_below_adapters=True,
        ),
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_the_multi_task_model_serves_each_family(family, tmp_path):
    """Each row of a mixed batch equals its task's own model; the
    family's head, packing and inputs (no segment ids for RoBERTa,
    XLM-RoBERTa, DistilBERT) are routed."""
    artifacts = multi_task_artifacts(family, tmp_path)
    model = keras_adapters.MultiTaskClassifier.from_artifacts(
        folder(family), artifacts
    )
    features = model.preprocessor(**MIXED)
    logits = keras.ops.convert_to_numpy(model(features))
    assert logits.shape == (3, 3) and np.isinf(logits[[0, 2], 2]).all()
    for row, (task, first, second) in enumerate(zip(*MIXED.values())):
        single = keras_adapters.load_adapters(artifacts[task], folder(family))
        texts = ([first], [second]) if task == "pair" else [first]
        expected = single(single.preprocessor(texts, y=None))
        np.testing.assert_allclose(
            logits[row, : expected.shape[-1]],
            keras.ops.convert_to_numpy(expected)[0],
            rtol=0,
            atol=1e-5,
        )
    # DistilBERT's SavedModel (no segment ids) on every backend; XLM-R's
    # (SentencePiece in the graph, TensorFlow on every backend) once.
    if family == "distilbert" or (
        family == "xlm_roberta" and keras.config.backend() == "tensorflow"
    ):
        export = str(tmp_path / "export")
        keras_adapters.export_saved_model(model, export)
        assert_serves_the_logits(export, MIXED, logits)


def test_the_multi_task_model_refuses_another_familys_artifact(tmp_path):
    artifact = save_task_artifact(
        "electra", str(tmp_path / "electra"), 0, False, adapter_size=4
    )
    with pytest.raises(keras_adapters.ArtifactError) as info:
        keras_adapters.MultiTaskClassifier.from_artifacts(
            folder("roberta"), {"task": artifact}
        )
    assert str(info.value) == (
        "Task 'task': its model is AdapterElectraTextClassifier; this "
        "MultiTaskClassifier serves AdapterRobertaTextClassifier models (the "
        "text classifier of its base's family) only."
    )


def test_the_multi_task_model_refuses_a_head_of_another_layout(tmp_path):
    gelu = save_task_artifact(
        "electra", str(tmp_path / "gelu"), 0, False, adapter_size=4
    )
    tanh = save_task_artifact(
        "electra",
        str(tmp_path / "tanh"),
        1,
        False,
        adapter_size=4,
        head_activation="tanh",
    )
    with pytest.raises(keras_adapters.ArtifactError) as info:
        keras_adapters.MultiTaskClassifier.from_artifacts(
            folder("electra"), {"gelu": gelu, "tanh": tanh}
        )
    assert str(info.value) == (
        "Task 'tanh': its head is classification_head/hidden_dense_0 (tanh), "
        "classification_head/logits (logits) on the first token, not "
        "classification_head/hidden_dense_0 (gelu), "
        "classification_head/logits (logits) on the first token as this "
        "model's; tasks served together need heads of one layout."
    )
