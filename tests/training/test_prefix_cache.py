"""The cached frozen prefix: exact states, memory budget, invalidation, and
`--cache_frozen_prefix` runs (bucketing, resume after a kill, errors)."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import safetensors.numpy
from keras_hub.models import BertBackbone
from keras_hub.models import BertTokenizer

from keras_adapters.data.encoding import EncodedExamples
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models import AdapterBertBackbone
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.training.callbacks import read_step_log
from keras_adapters.training.checkpoints import WEIGHTS
from keras_adapters.training.classifier_run import ClassifierRun
from keras_adapters.training.pipeline import plan_batches
from keras_adapters.training.pipeline import training_dataset
from keras_adapters.training.prefix_cache import HIDDEN_STATES
from keras_adapters.training.prefix_cache import KEY
from keras_adapters.training.prefix_cache import PrefixNotFrozenError
from keras_adapters.training.prefix_cache import load_or_build_prefix_cache
from keras_adapters.training.prefix_cache import split_frozen_prefix
from tests.conftest import TINY_CONFIG
from tests.conftest import TINY_VOCAB
from tests.training.test_run_classifier import make_cola
from tests.training.test_run_classifier import run_script
from tests.training.test_run_failures import checkpoint_folders
from tests.training.test_run_failures import make_config
from tests.training.test_run_failures import run_files
from tests.training.test_run_failures import run_until_killed

WIDTH = 16


def make_classifier(
    tuning_mode="top_k",
    top_k=1,
    seed=0,
    adapter_layers=None,
    freeze_below_adapters=False,
):
    backbone = AdapterBertBackbone(
        **TINY_CONFIG, adapter_size=4, adapter_layers=adapter_layers
    )
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        variable.assign(rng.normal(scale=0.2, size=variable.shape))
    return AdapterBertTextClassifier(
        backbone,
        num_classes=2,
        tuning_mode=tuning_mode,
        top_k=top_k,
        freeze_below_adapters=freeze_below_adapters,
    )


def make_encoded(count=37, width=WIDTH, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, width + 1, count).astype(np.int32)
    token_ids = np.zeros((count, width), np.int32)
    segment_ids = np.zeros((count, width), np.int32)
    for i, length in enumerate(lengths):
        token_ids[i, :length] = rng.integers(
            5, TINY_CONFIG["vocabulary_size"], length
        )
        segment_ids[i, length // 2 : length] = 1
    return EncodedExamples(
        token_ids, segment_ids, lengths, rng.integers(0, 2, count)
    )


def build(directory, model, encoded, budget=2**30):
    block, split = split_frozen_prefix(model)
    cache = load_or_build_prefix_cache(
        str(directory), split.prefix, block, encoded, budget, batch_size=8
    )
    return cache, split


def test_cached_batches_give_the_models_outputs_in_inference_mode(tmp_path):
    model = make_classifier()
    encoded = make_encoded()
    cache, split = build(tmp_path / "cache", model, encoded)
    # Each example's states are stored at its own length, nothing more.
    assert cache.states.shape == (encoded.lengths.sum(), 16)
    plan = plan_batches(encoded.lengths, 8, num_steps=4, seed=0)
    batches = training_dataset(encoded, plan, prefix_cache=cache)
    for (features, labels, _), row in zip(batches, plan):
        width = features["hidden_states"].shape[1]
        full = model.predict_on_batch(
            {
                "token_ids": encoded.token_ids[row, :width],
                "segment_ids": encoded.segment_ids[row, :width],
                "padding_mask": features["padding_mask"].numpy(),
            }
        )
        np.testing.assert_allclose(
            split.top.predict_on_batch(
                {k: v.numpy() for k, v in features.items()}
            ),
            full,
            atol=1e-6,
            rtol=0,
        )
        np.testing.assert_array_equal(labels.numpy(), encoded.labels[row])


def test_states_beyond_the_memory_budget_are_read_from_disk(tmp_path, capsys):
    model = make_classifier()
    encoded = make_encoded()
    whole, _ = build(tmp_path / "cache", model, encoded)
    assert whole.memory_bytes == whole.nbytes
    indices = np.arange(len(encoded))
    budget = whole.nbytes // 3
    part, _ = build(tmp_path / "cache", model, encoded, budget=budget)
    assert 0 < part.memory_bytes <= budget < part.nbytes
    none, _ = build(tmp_path / "cache", model, encoded, budget=0)
    assert none.memory_bytes == 0
    printed = capsys.readouterr().out
    assert "; all of it in host memory (budget 1,024 MB)." in printed
    assert (
        "; 0.0 MB of it in host memory, the rest read from disk (budget 0 MB)."
        in printed
    )
    for cache in (part, none):
        np.testing.assert_array_equal(
            cache.gather(indices, WIDTH), whole.gather(indices, WIDTH)
        )


def test_a_matching_cache_is_reused(tmp_path, capsys):
    model = make_classifier()
    encoded = make_encoded()
    build(tmp_path / "cache", model, encoded)
    first = capsys.readouterr().out
    assert "Built the prefix cache (embeddings and blocks below 1" in first
    mtime = os.path.getmtime(tmp_path / "cache" / HIDDEN_STATES)
    build(tmp_path / "cache", make_classifier(), encoded)  # Same weights.
    printed = capsys.readouterr().out
    assert f"Reusing the prefix cache in {tmp_path / 'cache'} (key and" in (
        printed
    )
    assert "Built" not in printed
    assert os.path.getmtime(tmp_path / "cache" / HIDDEN_STATES) == mtime
    size = encoded.lengths.sum() * 16 * 4 / 2**20
    assert (
        f"Prefix cache: 37 examples, {encoded.lengths.sum():,} tokens x 16 "
        f"float32 = {size:,.1f} MB in {tmp_path / 'cache' / HIDDEN_STATES}"
    ) in printed


def _with_one_token_changed(encoded):
    token_ids = encoded.token_ids.copy()
    token_ids[3, 1] = token_ids[3, 1] % 30 + 6
    return dataclasses.replace(encoded, token_ids=token_ids)


def _padded_to(encoded, width):
    def pad(array):
        return np.pad(array, [(0, 0), (0, width - array.shape[1])])

    return dataclasses.replace(
        encoded,
        token_ids=pad(encoded.token_ids),
        segment_ids=pad(encoded.segment_ids),
    )


def _with_other_base_weights(model):
    embeddings = model.backbone.token_embedding.embeddings
    embeddings.assign(embeddings.numpy() + 1e-3)
    return model


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            lambda model, encoded: (_with_other_base_weights(model), encoded),
            "the base weights changed",
        ),
        (
            lambda model, encoded: (model, _padded_to(encoded, WIDTH + 8)),
            "the sequence length changed (16 there, 24 now)",
        ),
        (
            lambda model, encoded: (model, _with_one_token_changed(encoded)),
            "the tokenization changed",
        ),
        (
            lambda model, encoded: (make_classifier(top_k=2), encoded),
            "the first trained block changed (1 there, 0 now)",
        ),
    ],
)
def test_a_cache_of_other_inputs_is_rebuilt_saying_why(
    tmp_path, capsys, change, reason
):
    directory = tmp_path / "cache"
    build(directory, make_classifier(), make_encoded())
    model, encoded = change(make_classifier(), make_encoded())
    capsys.readouterr()
    cache, split = build(directory, model, encoded)
    printed = capsys.readouterr().out
    assert f"Rebuilding the prefix cache in {directory}: {reason}." in printed
    # The rebuilt states are those of the new inputs.
    fresh, _ = build(tmp_path / "fresh", model, encoded)
    indices = np.arange(len(encoded))
    width = encoded.token_ids.shape[1]
    np.testing.assert_array_equal(
        cache.gather(indices, width), fresh.gather(indices, width)
    )


def _truncate(path):
    with open(path, "r+b") as handle:
        handle.truncate(100)


def _overwrite_states_in_place(path):
    """Random bytes over the states, same size, the .npy header kept."""
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.seek(128)
        handle.write(np.random.default_rng(0).bytes(size - 128))


@pytest.mark.parametrize(
    "damaged, damage, reason",
    [
        (KEY, _truncate, f"its {KEY} is unreadable"),
        (
            HIDDEN_STATES,
            _truncate,
            f"its {HIDDEN_STATES} does not match the checksum it was written "
            "with (damaged or changed since)",
        ),
        (
            HIDDEN_STATES,
            _overwrite_states_in_place,
            f"its {HIDDEN_STATES} does not match the checksum",
        ),
    ],
)
def test_a_damaged_cache_is_rebuilt_saying_why(
    tmp_path, capsys, damaged, damage, reason
):
    directory = tmp_path / "cache"
    model, encoded = make_classifier(), make_encoded()
    fresh, _ = build(directory, model, encoded)
    indices = np.arange(len(encoded))
    expected = fresh.gather(indices, WIDTH)
    del fresh
    damage(directory / damaged)
    capsys.readouterr()
    cache, _ = build(directory, model, encoded)
    printed = capsys.readouterr().out
    assert f"Rebuilding the prefix cache in {directory}: {reason}" in printed
    np.testing.assert_array_equal(cache.gather(indices, WIDTH), expected)


def test_a_prefix_that_trains_is_refused_in_one_line():
    with pytest.raises(PrefixNotFrozenError) as info:
        split_frozen_prefix(make_classifier(tuning_mode="adapters", top_k=None))
    assert str(info.value) == (
        "`cache_frozen_prefix` needs the embeddings and the blocks below the "
        "lowest trained one frozen, but embeddings_layer_norm/gamma trains "
        "(tuning mode adapters). Freeze them: `adapter_layers` with "
        "`freeze_below_adapters` (AdapterDrop), or `tuning`=top_k."
    )
    block, split = split_frozen_prefix(make_classifier(top_k=1))
    assert block == 1 and not split.prefix.trainable_weights
    dropped = make_classifier(
        tuning_mode="adapters",
        top_k=None,
        adapter_layers=1,
        freeze_below_adapters=True,
    )
    block, split = split_frozen_prefix(dropped)
    assert block == 1 and not split.prefix.trainable_weights


# --- run_classifier.py with --cache_frozen_prefix ---


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return run_files(tmp_path_factory.mktemp("prefix_cache_run"), 1, 7)


def cached_config(output_dir, files, **overrides):
    fields = dict(
        tuning="top_k",
        top_k_layers=1,
        cache_frozen_prefix=True,
        do_eval=False,
    )
    fields.update(overrides)
    return make_config(output_dir, files["preset"], files["data"], **fields)


def trained_arrays(output_dir):
    newest = checkpoint_folders(output_dir)[-1]
    return safetensors.numpy.load_file(os.path.join(newest, WEIGHTS))


def test_a_cached_run_trains_the_real_model_and_resumes_after_a_kill(
    tmp_path, files, capsys
):
    straight = tmp_path / "straight"
    run = ClassifierRun(cached_config(straight, files))
    run.run()
    printed = capsys.readouterr().out
    assert "Built the prefix cache (embeddings and blocks below 1" in printed
    assert os.path.isfile(straight / "prefix_cache" / HIDDEN_STATES)
    assert int(run.model.optimizer.iterations.numpy()) == 8
    # The normal outputs of the task model.
    assert os.path.isfile(straight / "export" / "saved_model.pb")
    assert os.path.isfile(straight / "adapters" / "adapter_config.json")
    arrays = trained_arrays(straight)
    trained = {k[len("trained/") :] for k in arrays if k.startswith("trained/")}
    assert trained == {v.path for v in run.model.trainable_weights}

    resumed = tmp_path / "resumed"
    run_until_killed(
        cached_config(resumed, files, do_export=False), after_checkpoint=3
    )
    capsys.readouterr()
    ClassifierRun(cached_config(resumed, files, do_export=False)).run()
    printed = capsys.readouterr().out
    assert f"Reusing the prefix cache in {resumed / 'prefix_cache'} (" in (
        printed
    )
    assert "Resuming at step 3 of 8." in printed
    steps, _ = read_step_log(resumed / "train_log.tsv")
    assert steps == list(range(1, 9))
    # The resumed run ends where the uninterrupted one does.
    resumed_arrays = trained_arrays(resumed)
    for key, value in arrays.items():
        np.testing.assert_allclose(resumed_arrays[key], value, atol=1e-6)


def test_without_dropout_cached_training_is_uncached_training(tmp_path):
    """With dropout off, inference mode is training mode: caching the prefix
    changes nothing but the time."""
    preset = str(tmp_path / "preset")
    keras.utils.set_random_seed(1)
    BertBackbone(**TINY_CONFIG, dropout=0.0).save_to_preset(preset)
    BertTokenizer(vocabulary=TINY_VOCAB).save_to_preset(preset)
    files = {"preset": preset, "data": str(tmp_path / "CoLA")}
    make_cola(files["data"], np.random.default_rng(3), train=32)
    losses, arrays = {}, {}
    for cached in (True, False):
        out = tmp_path / str(cached)
        ClassifierRun(
            cached_config(
                out, files, cache_frozen_prefix=cached, do_export=False
            )
        ).run()
        losses[cached] = read_step_log(out / "train_log.tsv")[1]
        arrays[cached] = trained_arrays(out)
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    trained = [key for key in arrays[True] if key.startswith("trained/")]
    assert trained
    for key in trained:
        np.testing.assert_allclose(
            arrays[True][key], arrays[False][key], atol=1e-6, err_msg=key
        )


def test_a_negative_memory_budget_is_one_line(tmp_path, files):
    with pytest.raises(
        KerasAdaptersError,
        match=r"`prefix_cache_memory_mb` must be >= 0 \(0 keeps the whole "
        r"cache on disk\), got -1\.",
    ):
        cached_config(tmp_path, files, prefix_cache_memory_mb=-1)


def test_multi_worker_training_is_refused_in_one_line(
    tmp_path, files, monkeypatch
):
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"index": 0}})
    )
    with pytest.raises(
        KerasAdaptersError,
        match="`cache_frozen_prefix` trains on one host; TF_CONFIG names 2 "
        "workers",
    ):
        cached_config(tmp_path, files)


def test_the_flag_in_adapters_mode_is_one_line(tmp_path, files, capsys):
    argv = [
        "--task=cola",
        "--do_train",
        f"--data_dir={files['data']}",
        f"--preset={files['preset']}",
        f"--output_dir={tmp_path / 'out'}",
        "--max_seq_length=16",
        "--adapter_size=4",
        "--cache_frozen_prefix",
    ]
    code, err = run_script(argv, capsys)
    assert code == 2
    assert err.splitlines() == [
        "run_classifier.py: error: --cache_frozen_prefix needs the "
        "embeddings and the blocks below the lowest trained one frozen, but "
        "embeddings_layer_norm/gamma trains (tuning mode adapters). Freeze "
        "them: --adapter_layers with --freeze_below_adapters (AdapterDrop), "
        "or --tuning=top_k."
    ]
    assert not os.path.exists(tmp_path / "out" / "prefix_cache")
