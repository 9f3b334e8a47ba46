"""`--mixed_precision`: what `auto` picks on each kind of hardware."""

import pytest

from keras_adapters.training import precision
from keras_adapters.training.classifier_run import ClassifierRun
from keras_adapters.training.precision import Hardware
from keras_adapters.training.precision import choose_dtype_policy
from keras_adapters.training.precision import read_cpu_flags
from tests.training.test_run_classifier import run_classifier
from tests.training.test_run_failures import data_dir  # noqa: F401
from tests.training.test_run_failures import make_config
from tests.training.test_run_failures import tiny_preset  # noqa: F401

ZEN3 = frozenset({"avx2", "fma", "avx"})
ZEN4 = ZEN3 | {"avx512f", "avx512_bf16"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_bf16", "amx_tile"}


@pytest.mark.parametrize(
    "hardware, policy, reason",
    [
        (Hardware(cpu_flags=ZEN3), "float32", "no AVX512_BF16 or AMX"),
        (
            Hardware(cpu_flags=ZEN4),
            "mixed_bfloat16",
            "this CPU has AVX512_BF16",
        ),
        (
            Hardware(cpu_flags=SAPPHIRE_RAPIDS),
            "mixed_bfloat16",
            "this CPU has AVX512_BF16 and AMX",
        ),
        (
            Hardware(cpu_flags=frozenset({"amx_bf16"})),
            "mixed_bfloat16",
            "this CPU has AMX",
        ),
        (
            Hardware(on_tpu=True, cpu_flags=ZEN3),
            "mixed_bfloat16",
            "TPUs compute bfloat16",
        ),
        (
            Hardware(gpu_compute_capabilities=((9, 0),), cpu_flags=ZEN3),
            "mixed_bfloat16",
            "compute capability 9.0) has native bfloat16",
        ),
        (
            Hardware(gpu_compute_capabilities=((8, 0), (8, 6))),
            "mixed_bfloat16",
            "compute capability 8.0",
        ),
        # A GPU decides, whatever the CPU has; the oldest GPU decides.
        (
            Hardware(gpu_compute_capabilities=((7, 5),), cpu_flags=ZEN4),
            "float32",
            "compute capability 7.5) has no native bfloat16",
        ),
        (
            Hardware(gpu_compute_capabilities=((8, 0), (7, 0))),
            "float32",
            "compute capability 7.0",
        ),
    ],
)
def test_auto_picks_bfloat16_only_where_it_is_native(hardware, policy, reason):
    chosen, why = choose_dtype_policy("auto", hardware=hardware)
    assert chosen == policy
    assert why.startswith("auto: ") and reason in why


@pytest.mark.parametrize(
    "value, policy",
    [
        ("fp32", "float32"),
        ("bf16", "mixed_bfloat16"),
        ("fp16", "mixed_float16"),
    ],
)
def test_explicit_values_are_taken_whatever_the_hardware(value, policy):
    for hardware in (Hardware(cpu_flags=ZEN3), Hardware(cpu_flags=ZEN4)):
        chosen, reason = choose_dtype_policy(value, hardware=hardware)
        assert chosen == policy and reason.startswith("as asked")


def test_bf16_without_native_bfloat16_says_it_will_be_slow():
    _, reason = choose_dtype_policy("bf16", hardware=Hardware(cpu_flags=ZEN3))
    assert reason == (
        "as asked; but this CPU has no AVX512_BF16 or AMX, so bfloat16 is "
        "emulated and trains slower than float32 here; auto would pick "
        "float32"
    )
    old_gpu = Hardware(gpu_compute_capabilities=((7, 5),), cpu_flags=ZEN4)
    assert (
        "compute capability 7.5) has no native bfloat16"
        in (choose_dtype_policy("bf16", hardware=old_gpu)[1])
    )
    for native in (Hardware(cpu_flags=ZEN4), Hardware(on_tpu=True)):
        assert choose_dtype_policy("bf16", hardware=native)[1] == "as asked"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC\n"
        "flags\t\t: fpu AVX2 avx512f avx512_bf16\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"
    )
    assert read_cpu_flags(str(cpuinfo)) == {
        "fpu",
        "avx2",
        "avx512f",
        "avx512_bf16",
    }
    assert read_cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_the_shared_flag_defaults_to_auto():
    assert run_classifier.FLAGS["mixed_precision"].default == "auto"
    assert set(run_classifier.FLAGS["mixed_precision"].parser.enum_values) == {
        "auto",
        "fp32",
        "bf16",
        "fp16",
    }


@pytest.mark.parametrize(
    "cpu_flags, value, policy, line",
    [
        (
            ZEN4,
            "auto",
            "mixed_bfloat16",
            "Mixed precision: bfloat16 (auto: this CPU has AVX512_BF16).",
        ),
        (
            ZEN3,
            "auto",
            "float32",
            "Mixed precision: float32 (auto: this CPU has no AVX512_BF16 or "
            "AMX).",
        ),
        (ZEN4, "fp32", "float32", "Mixed precision: float32 (as asked)."),
    ],
)
def test_the_run_log_says_which_policy_and_why(
    tmp_path,
    tiny_preset,  # noqa: F811
    data_dir,  # noqa: F811
    monkeypatch,
    capsys,
    cpu_flags,
    value,
    policy,
    line,
):
    monkeypatch.setattr(
        precision,
        "detect_hardware",
        lambda use_tpu=False: Hardware(cpu_flags=cpu_flags),
    )
    run = ClassifierRun(
        make_config(
            tmp_path,
            tiny_preset,
            data_dir,
            do_train=False,
            verbose=1,
            mixed_precision=value,
        )
    )
    run.setup()
    assert line in capsys.readouterr().out.splitlines()
    assert run.model.backbone.dtype_policy.name == policy
