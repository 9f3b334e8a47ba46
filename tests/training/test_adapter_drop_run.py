"""`--adapter_layers` and `--freeze_below_adapters` through the scripts."""

import json
import os

import numpy as np
import pytest
from keras_hub.models import BertBackbone

from keras_adapters import lowest_trained_block
from keras_adapters.training.checkpoints import CheckpointError
from keras_adapters.training.classifier_run import ClassifierRun
from keras_adapters.training.run_settings import RunSettingsError
from keras_adapters.training.squad_run import SquadRunConfig
from keras_adapters.training.squad_run import build_question_answerer
from tests.training.test_run_classifier import run_script
from tests.training.test_run_failures import data_dir  # noqa: F401
from tests.training.test_run_failures import make_config
from tests.training.test_run_failures import tiny_preset  # noqa: F401
from tests.training.test_run_squad import run_script as run_squad_script


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--adapter_layers=3"],
            "--adapter_layers must be between 1 and the model's 2 blocks (or "
            "unset for all), got 3.",
        ),
        (
            ["--adapter_layers=0"],
            "--adapter_layers must be between 1 and the model's 2 blocks (or "
            "unset for all), got 0.",
        ),
        (
            ["--adapter_layers=1", "--adapter_size=0", "--tuning=full"],
            "--adapter_layers=1 needs adapters, but --adapter_size=0. Drop "
            "--adapter_layers or give --adapter_size > 0.",
        ),
        (
            ["--freeze_below_adapters", "--tuning=full"],
            "--freeze_below_adapters only applies to tuning mode 'adapters', "
            "not 'full'.",
        ),
    ],
)
def test_wrong_combinations_exit_2_with_one_line(
    tmp_path,
    tiny_preset,  # noqa: F811
    data_dir,  # noqa: F811
    capsys,
    flags,
    message,
):
    argv = [
        "--task=cola",
        "--do_train",
        f"--data_dir={data_dir}",
        f"--preset={tiny_preset}",
        f"--output_dir={tmp_path / 'out'}",
        "--max_seq_length=16",
        "--mixed_precision=fp32",
    ] + flags
    code, err = run_script(argv, capsys)
    assert code == 2
    assert err == f"run_classifier.py: error: {message}", err


def test_run_squad_refuses_freeze_below_adapters_without_adapters_mode():
    code, lines = run_squad_script(
        "--preset=unused",
        "--do_predict",
        "--predict_file=x.json",
        "--tuning=layer_norm",
        "--freeze_below_adapters",
    )
    assert code == 2
    assert lines == [
        "run_squad.py: error: --freeze_below_adapters only applies to tuning "
        "mode 'adapters', not 'layer_norm'."
    ]


def test_run_squad_builds_the_adapterdrop_model(tiny_preset):  # noqa: F811
    config = SquadRunConfig(
        preset=tiny_preset,
        do_predict=True,
        predict_file="unused.json",
        max_seq_length=16,
        doc_stride=4,
        max_query_length=4,
        adapter_size=4,
        adapter_layers=1,
        freeze_below_adapters=True,
    )
    model = build_question_answerer(config)
    blocks = model.backbone.transformer_layers
    assert [len(block.adapters) for block in blocks] == [0, 2]
    assert model.tuning.freeze_below_adapters
    assert lowest_trained_block(model) == 1


def test_training_never_changes_what_lies_below_the_lowest_adapter(
    tmp_path,
    tiny_preset,  # noqa: F811
    data_dir,  # noqa: F811
    capsys,
):
    out = tmp_path / "out"
    run = ClassifierRun(
        make_config(
            out,
            tiny_preset,
            data_dir,
            num_train_epochs=1,
            adapter_layers=1,
            freeze_below_adapters=True,
            verbose=1,
        )
    )
    run.run()
    log = capsys.readouterr().out
    assert "Tuning mode: adapters, frozen below the lowest adapters" in log
    # Block 0's two LayerNorms and the embedding LayerNorm (16 + 16 each)
    # are left out of the 5 LayerNorms' 160 parameters.
    assert f"{'layer_norms':<12}{64:>14,}{160:>14,}" in log
    pretrained = {
        v.path: v.numpy() for v in BertBackbone.from_preset(tiny_preset).weights
    }
    changed = {
        v.path
        for v in run.model.backbone.weights
        if v.path in pretrained
        and not np.array_equal(v.numpy(), pretrained[v.path])
    }
    assert changed == {
        f"transformer_layer_1/{norm}_layer_norm/{weight}"
        for norm in ("self_attention", "feedforward")
        for weight in ("gamma", "beta")
    }
    with open(out / "adapters" / "adapter_config.json") as handle:
        artifact = json.load(handle)
    assert artifact["adapter"]["adapter_layers"] == 1
    assert artifact["tuning"]["freeze_below_adapters"] is True
    assert os.path.isdir(out / "export")
    with pytest.raises(
        RunSettingsError,
        match="`adapter_layers`=1 there, None now; `freeze_below_adapters`="
        "True there, False now",
    ):
        ClassifierRun(
            make_config(
                out,
                tiny_preset,
                data_dir,
                num_train_epochs=2,
            )
        ).run()
    # Without the run's settings file, its checkpoints still refuse.
    os.remove(out / "run_settings.json")
    with pytest.raises(
        CheckpointError,
        match="adapter_layers=1 there, None now; freeze_below_adapters=True "
        "there, None now",
    ):
        ClassifierRun(
            make_config(
                out,
                tiny_preset,
                data_dir,
                num_train_epochs=2,
            )
        ).run()


def test_checkpoints_name_adapterdrop_settings_only_when_used(
    tmp_path,
    tiny_preset,  # noqa: F811
    data_dir,  # noqa: F811
):
    # The settings of checkpoints written before AdapterDrop existed.
    default = make_config(tmp_path, tiny_preset, data_dir)
    assert set(default.checkpoint_settings()) == {
        "adapter_size",
        "tuning",
        "top_k_layers",
        "train_pooler",
        "task",
    }
    dropped = make_config(
        tmp_path,
        tiny_preset,
        data_dir,
        adapter_layers=1,
        freeze_below_adapters=True,
    )
    assert dropped.checkpoint_settings() == dict(
        default.checkpoint_settings(),
        adapter_layers=1,
        freeze_below_adapters=True,
    )
