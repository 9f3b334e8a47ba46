"""The benchmark scripts: the accuracy sweep's run names, its report's
selection by dev, and the training-step profile."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")
)
import _common  # noqa: E402
import accuracy_report  # noqa: E402
import glue_accuracy  # noqa: E402


def run_benchmark(script, *flags):
    """Runs `benchmarks/<script>` with `flags` in a fresh interpreter."""
    path = os.path.join(os.path.dirname(accuracy_report.__file__), script)
    return subprocess.run(
        [sys.executable, path, *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )


def fake_run(mode, rate, seed, scores, trained=1000):
    return {
        "task": "CoLA",
        "mode": mode,
        "learning_rate": rate,
        "seed": seed,
        "epochs": len(scores),
        "primary_metric": "mcc",
        "trained_parameters": trained,
        "total_parameters": 100_000,
        "train_examples": 8551,
        "majority_class": {"label": "1", "dev": {"mcc": 0.0}},
        "per_epoch": [
            {"epoch": i + 1, "eval_mcc": s, "train_seconds": 60.0 * (i + 1)}
            for i, s in enumerate(scores)
        ],
    }


def test_rate_is_chosen_by_the_mean_over_seeds_of_each_best_epoch():
    runs = [
        # lr 1e-3: best epochs 0.40 and 0.30 -> 0.35; its final mean 0.30.
        fake_run("adapters-64", 1e-3, 1, [0.1, 0.4, 0.3]),
        fake_run("adapters-64", 1e-3, 2, [0.2, 0.25, 0.3]),
        # lr 3e-3: one lucky seed (0.45) but a mean of 0.30.
        fake_run("adapters-64", 3e-3, 1, [0.45, 0.1, 0.1]),
        fake_run("adapters-64", 3e-3, 2, [0.15, 0.1, 0.1]),
        fake_run("full", 5e-5, 1, [0.5, 0.2], trained=90_000),
        # Another epoch budget at the same rate is another run, not a seed.
        fake_run("full", 5e-5, 1, [0.1, 0.2, 0.3], trained=90_000),
        # Another optimizer epsilon is another mode, not another seed.
        dict(fake_run("adapters-64", 1e-3, 1, [0.6]), adam_epsilon=1e-8),
        dict(fake_run("adapters-64", 1e-3, 1, [0.7]), optimizer="keras_adamw"),
    ]
    best = accuracy_report.summarize(runs)
    adapters = best[("CoLA", "adapters-64")]
    assert adapters["learning_rate"] == 1e-3
    assert adapters["score"] == pytest.approx(0.35)
    assert adapters["seed_scores"] == [0.4, 0.3]
    assert adapters["best_epochs"] == [2, 3]
    assert adapters["final"] == pytest.approx(0.3)
    assert adapters["tried"] == [(1e-3, 3), (3e-3, 3)]
    assert best[("CoLA", "full")]["best_epochs"] == [1]
    assert best[("CoLA", "full")]["seed_scores"] == [0.5]
    assert best[("CoLA", "full")]["tried"] == [(5e-5, 2), (5e-5, 3)]
    assert best[("CoLA", "adapters-64, eps 1e-08")]["seed_scores"] == [0.6]
    assert best[("CoLA", "adapters-64, keras_adamw")]["seed_scores"] == [0.7]
    table = accuracy_report.markdown_table(best)
    rows = [line for line in table.splitlines() if line.startswith("| CoLA")]
    assert (
        "| adapters-64 | 1,000 (1.00 %) | **35.0** (0.001, ep 2/3 of 3)"
        in rows[0]
    )
    assert "| adapters-64, eps 1e-08 |" in rows[1]
    assert "| adapters-64, keras_adamw |" in rows[2]
    assert "| full |" in rows[3] and "majority class ('1')" in rows[4]


def test_f1_tasks_show_the_accuracy_of_the_chosen_epoch():
    run = dict(
        fake_run("adapters-64", 3e-4, 1, [0.0] * 3),
        task="MRPC",
        primary_metric="f1",
        majority_class={"label": "1", "dev": {"f1": 0.812, "accuracy": 0.684}},
    )
    run["per_epoch"] = [
        {
            "epoch": 1,
            "eval_f1": 0.82,
            "eval_accuracy": 0.71,
            "train_seconds": 60.0,
        },
        {
            "epoch": 2,
            "eval_f1": 0.86,
            "eval_accuracy": 0.80,
            "train_seconds": 120.0,
        },
        {
            "epoch": 3,
            "eval_f1": 0.85,
            "eval_accuracy": 0.81,
            "train_seconds": 180.0,
        },
    ]
    table = accuracy_report.markdown_table(accuracy_report.summarize([run]))
    assert "**86.0** (acc 80.0; 0.0003, ep 2 of 3)" in table
    assert "| MRPC | majority class ('1') | 0 | 81.2 (acc 68.4) |" in table
    # Where accuracy is the primary metric it is not repeated.
    cola = accuracy_report.markdown_table(
        accuracy_report.summarize([fake_run("full", 5e-5, 1, [0.3])])
    )
    assert "acc" not in cola.split("\n", 2)[2]


def test_report_reads_the_sweep_folder_and_draws(tmp_path):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "accuracy" / "CoLA"
    folder.mkdir(parents=True)
    for i, run in enumerate(
        [
            fake_run("adapters-64", 1e-3, 1, [0.3]),
            fake_run("full", 5e-5, 1, [0.4], trained=90_000),
        ]
    ):
        (folder / f"{i}.json").write_text(json.dumps(run))
    sys_argv = sys.argv
    sys.argv = [
        "accuracy_report.py",
        f"--in_dir={tmp_path / 'accuracy'}",
        f"--out_dir={tmp_path}",
    ]
    try:
        accuracy_report.main()
    finally:
        sys.argv = sys_argv
    assert "**40.0**" in (tmp_path / "accuracy.md").read_text()
    assert (tmp_path / "params_vs_score.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "text, flags",
    [
        (
            "adapters-64:1e-3",
            {"tuning": "adapters", "adapter_size": 64, "train_pooler": False},
        ),
        (
            "adapters-8+pooler:3e-3",
            {"tuning": "adapters", "adapter_size": 8, "train_pooler": True},
        ),
        (
            "full:5e-5",
            {"tuning": "full", "adapter_size": 0, "train_pooler": False},
        ),
        (
            "top_k-2:1e-4",
            {
                "tuning": "top_k",
                "top_k_layers": 2,
                "adapter_size": 0,
                "train_pooler": False,
            },
        ),
    ],
)
def test_run_names(text, flags):
    spec = glue_accuracy.RunSpec.parse(text)
    assert spec.tuning_flags() == flags
    assert spec.file_name(1, 3.0).endswith("_seed1_ep3")
    assert spec.file_name(1, 3.0, adam_epsilon=1e-8).endswith(
        "_seed1_ep3_eps1e-08"
    )
    assert spec.file_name(1, 3.0, optimizer="keras_adamw").endswith(
        "_ep3_keras_adamw"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("adapters-64", "write MODE:LR"),
        ("adapters-64:fast", "write MODE:LR"),
        ("adapters:1e-3", "unknown mode 'adapters'"),
        ("full+head:1e-3", "unknown option '+head'"),
    ],
)
def test_bad_run_names_exit_with_one_line(text, message, capsys):
    with pytest.raises(SystemExit) as info:
        glue_accuracy.RunSpec.parse(text)
    assert message in str(info.value.code)


def test_serving_speed_rejects_an_unknown_variant_in_one_line():
    result = run_benchmark("serving_speed.py", "--variants", "savedmodel,bogus")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "serving_speed: unknown --variants bogus; choose from savedmodel, "
        "adapterhub, predict_tokens, predict_strings."
    )


def test_profile_summary_splits_op_time_by_category():
    seconds = {
        "MatMul": 4.0,
        "BatchMatMulV2": 2.0,
        "Mul": 1.0,
        "aten::_scaled_dot_product_flash_attention_for_cpu": 0.5,
    }
    calls = {
        "MatMul": 20,
        "BatchMatMulV2": 10,
        "Mul": 100,
        "aten::_scaled_dot_product_flash_attention_for_cpu": 2,
    }
    summary = _common.profile_summary(
        seconds, calls, steps=2, wall_seconds=8.0, top=2
    )
    assert summary["wall_seconds_per_step"] == 4.0
    assert summary["op_seconds_per_step"] == 3.75
    assert summary["op_calls_per_step"] == 66.0
    assert summary["by_category"] == {
        "fused attention": 0.25,
        "matrix products": 3.0,
        "other": 0.5,
    }
    assert summary["top_ops"] == [
        ["MatMul", 2.0, 10.0],
        ["BatchMatMulV2", 1.0, 5.0],
    ]


def profile_of_a_real_training_step(minilm_path, *flags):
    result = run_benchmark(
        "ours_keras.py",
        "--measure=profile",
        "--seq=8",
        "--batch=2",
        "--steps=1",
        "--warmup=1",
        "--threads=1",
        f"--preset={minilm_path}",
        *flags,
    )
    (line,) = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


@pytest.mark.integration
def test_profile_of_a_real_training_step_finds_its_matrix_products(minilm_path):
    profile = profile_of_a_real_training_step(minilm_path)
    ops = {_common.graph_op_type(op) for op, _, _ in profile["top_ops"]}
    # The attention products and the dense layers, under whatever name
    # oneDNN gives them on this CPU.
    assert {"BatchMatMulV2", "MatMul"} <= ops
    assert (
        0
        < profile["by_category"]["matrix products"]
        < profile["op_seconds_per_step"]
    )


@pytest.mark.parametrize(
    "op, expected",
    [
        ("BatchMatMulV2", "BatchMatMulV2"),
        ("_MklBatchMatMulV2", "BatchMatMulV2"),
        ("_MklNativeBatchMatMulV2", "BatchMatMulV2"),
        ("_MklMatMul", "MatMul"),
        ("_MklFusedMatMul", "_FusedMatMul"),
        ("_MklNativeFusedMatMul", "_FusedMatMul"),
        ("_FusedMatMul", "_FusedMatMul"),
        ("Mul", "Mul"),
    ],
)
def test_onednn_op_names_count_as_the_ops_they_replace(op, expected):
    assert _common.graph_op_type(op) == expected
    assert (_common.op_category(op) == "matrix products") == (expected != "Mul")


@pytest.mark.integration
def test_profile_under_xla_reads_its_dots_and_fusions(minilm_path):
    profile = profile_of_a_real_training_step(minilm_path, "--jit_compile")
    ops = {op for op, _, _ in profile["top_ops"]}
    assert "BatchMatMulV2" not in ops  # one XLA cluster, no graph ops
    assert any(op.endswith("_fusion") for op in ops)
    assert (
        0
        < profile["by_category"]["matrix products"]
        < profile["op_seconds_per_step"]
    )


def test_squad_short_training_rejects_top_k_without_its_layer_count():
    result = run_benchmark("squad_short_training.py", "--tuning", "top_k")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "error: Tuning mode 'top_k' needs `top_k` (how many top blocks "
            "train) and no "
            "other mode takes it; got mode 'top_k' with `top_k`=None."
        )
    )


@pytest.mark.integration
def test_gpu_compare_quick_trains_ours_on_jax_without_tensorflow(
    minilm_path, tmp_path
):
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        pytest.skip("pip install 'jax[cpu]' for the JAX side")
    result = run_benchmark(
        "gpu_compare.py",
        "--quick",
        "--sides=ours",
        "--dtypes=float32",
        f"--preset={minilm_path}",
        f"--out_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_compare.json").read_text())
    (run,) = report["runs"]
    assert "error" not in run, run
    # The child blocks TensorFlow, as on the GPU machine that lacks it.
    assert run["tensorflow_imported"] is False
    assert run["jit_compile"] is True
    assert run["trained_parameters"] == 605_954
    assert run["step_seconds_median"] > 0
    (row,) = report["summary"]
    assert row["seq"] == 32 and row["ours"]["rounds"] == 1
    assert "| 32 | float32 |" in (tmp_path / "gpu_compare.md").read_text()


def test_gpu_compare_carries_float16_weights_and_restores_float32(tmp_path):
    import gpu_compare
    import numpy as np

    weights = {
        "a.weight": np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4),
        "position_ids": np.arange(5, dtype=np.int64),
    }
    source = tmp_path / "model.safetensors"
    gpu_compare.write_safetensors(
        source,
        [
            (
                name,
                "F32" if value.dtype == np.float32 else "I64",
                list(value.shape),
                value.tobytes(),
            )
            for name, value in weights.items()
        ],
        {"format": "pt"},
    )
    gpu_compare.pack_weights(source, tmp_path)
    gpu_compare.unpack_weights(tmp_path, tmp_path / "restored.safetensors")
    header, data = gpu_compare.read_safetensors(
        tmp_path / "restored.safetensors"
    )
    assert header["__metadata__"] == {"format": "pt"}
    begin, end = header["a.weight"]["data_offsets"]
    restored = np.frombuffer(data[begin:end], np.float32).reshape(3, 4)
    np.testing.assert_allclose(restored, weights["a.weight"], rtol=1e-3)
    begin, end = header["position_ids"]["data_offsets"]
    assert np.frombuffer(data[begin:end], np.int64).tolist() == [0, 1, 2, 3, 4]


def variant_row(side, config, precision, dev, to_last_step, rss, seeds=2):
    """A `train_variants.summarize` row of CoLA."""
    return {
        "side": side,
        "task": "CoLA",
        "config": config,
        "precision": precision,
        "seeds": list(range(seeds)),
        "dev_mean": dev,
        "whole_seconds": to_last_step + 20.0,
        "train_seconds": to_last_step - 10.0,
        "after_training_seconds": 20.0,
        "to_last_step_seconds": to_last_step,
        "peak_rss_mb": rss,
    }


def test_train_variants_picks_the_fastest_variant_within_a_point():
    import train_variants

    rows = [
        variant_row("adapterhub", "adapterhub", "fp32", 10.0, 200.0, 600.0),
        variant_row("adapterhub", "adapterhub", "bf16", 10.0, 150.0, 650.0),
        variant_row("ours", "all", "bf16", 20.0, 120.0, 1400.0),
        # Fastest, but 1.5 points below all-block adapters.
        variant_row("ours", "top3_cache", "bf16", 18.5, 60.0, 1300.0),
        variant_row("ours", "top4_cache", "bf16", 19.2, 70.0, 700.0),
        # Within a point, but one seed only.
        variant_row("ours", "top3", "bf16", 19.9, 65.0, 700.0, seeds=1),
    ]
    result = train_variants.targets(rows)
    assert result["adapterhub_best"]["precision"] == "bf16"
    chosen = result["chosen"]
    assert (chosen["config"], chosen["precision"]) == ("top4_cache", "bf16")
    assert chosen["speedup_over_adapterhub_best"] == round(150 / 70, 2)
    assert chosen["dev_delta_vs_all_same_precision"] == -0.8
    assert chosen["speed_met"] and chosen["accuracy_met"]
    assert chosen["rss_over_adapterhub_best"] == round(700 / 650, 2)
    assert chosen["memory_met"]
