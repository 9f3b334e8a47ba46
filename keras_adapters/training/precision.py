"""The dtype policy of a run: `--mixed_precision`, and what `auto` picks.

`auto` trains in `mixed_bfloat16` where the hardware computes bfloat16
natively (TPUs, GPUs of compute capability 8.0 and later, CPUs with
AVX512_BF16 or AMX) and in float32 elsewhere, where emulated bfloat16
would only cost time. The decision is `choose_dtype_policy`, a pure
function of the `Hardware` facts, so every branch is testable anywhere.
"""

import dataclasses

import keras

# --mixed_precision -> the Keras dtype policy (`auto` decides per device).
MIXED_PRECISION_POLICIES = {
    "auto": None,
    "fp32": "float32",
    "bf16": "mixed_bfloat16",
    "fp16": "mixed_float16",
}
# /proc/cpuinfo flags of native bfloat16 arithmetic, with their usual names.
BF16_CPU_FLAGS = {"avx512_bf16": "AVX512_BF16", "amx_bf16": "AMX"}
# Ampere, the first GPUs with bfloat16 tensor cores.
BF16_GPU_COMPUTE_CAPABILITY = (8, 0)
_COMPUTE_DTYPE_NAMES = {
    "float32": "float32",
    "mixed_bfloat16": "bfloat16",
    "mixed_float16": "float16",
}


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What a run trains on, as far as the dtype policy cares.

    Args:
        on_tpu: bool. Training runs on a TPU.
        gpu_compute_capabilities: tuple of `(major, minor)` pairs, one per
            visible GPU (empty for none).
        cpu_flags: frozenset of the CPU's feature flags, as `/proc/cpuinfo`
            names them (`"avx512_bf16"`, `"amx_bf16"`, ...).
    """

    on_tpu: bool = False
    gpu_compute_capabilities: tuple = ()
    cpu_flags: frozenset = frozenset()


def read_cpu_flags(path="/proc/cpuinfo"):
    """The feature flags of the first CPU in `path` (empty if unreadable).

    Args:
        path: a `/proc/cpuinfo`-format file.

    Returns:
        A frozenset of lower-case flag names.
    """
    try:
        with open(path) as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.lower().split())
    except OSError:
        pass
    return frozenset()


def _gpu_compute_capabilities():
    """The `(major, minor)` compute capability of each visible GPU."""
    if keras.config.backend() == "jax":
        import jax

        return tuple(
            tuple(int(part) for part in device.compute_capability.split("."))
            for device in jax.devices()
            if device.platform == "gpu"
        )
    import tensorflow as tf

    return tuple(
        tuple(
            tf.config.experimental.get_device_details(device).get(
                "compute_capability", (0, 0)
            )
        )
        for device in tf.config.list_physical_devices("GPU")
    )


def detect_hardware(use_tpu=False):
    """The `Hardware` of this process.

    Args:
        use_tpu: bool. Whether the run trains on a TPU (`use_tpu`).

    Returns:
        A `Hardware`.
    """
    return Hardware(
        on_tpu=bool(use_tpu),
        gpu_compute_capabilities=() if use_tpu else _gpu_compute_capabilities(),
        cpu_flags=read_cpu_flags(),
    )


def _auto_policy(hardware):
    """`(policy, reason)` of `auto` on `hardware`."""
    if hardware.on_tpu:
        return "mixed_bfloat16", "auto: TPUs compute bfloat16 natively"
    capabilities = hardware.gpu_compute_capabilities
    if capabilities:
        oldest = min(tuple(capability) for capability in capabilities)
        version = ".".join(map(str, oldest))
        if oldest >= BF16_GPU_COMPUTE_CAPABILITY:
            return (
                "mixed_bfloat16",
                f"auto: this GPU (compute capability {version}) has native "
                "bfloat16",
            )
        return (
            "float32",
            f"auto: this GPU (compute capability {version}) has no native "
            "bfloat16",
        )
    native = [
        name
        for flag, name in BF16_CPU_FLAGS.items()
        if flag in hardware.cpu_flags
    ]
    if native:
        return "mixed_bfloat16", f"auto: this CPU has {' and '.join(native)}"
    return "float32", "auto: this CPU has no AVX512_BF16 or AMX"


def choose_dtype_policy(mixed_precision="auto", use_tpu=False, hardware=None):
    """The Keras dtype policy of a run, and why.

    Args:
        mixed_precision: one of `MIXED_PRECISION_POLICIES`: `"auto"`,
            `"fp32"`, `"bf16"` or `"fp16"`. Defaults to `"auto"`.
        use_tpu: bool. Whether the run trains on a TPU (read by `auto`
            when `hardware` is not given).
        hardware: the `Hardware` `auto` decides on. Defaults to
            `detect_hardware(use_tpu)`.

    Returns:
        `(policy, reason)`: a Keras dtype policy name (`"float32"`,
        `"mixed_bfloat16"` or `"mixed_float16"`) and a short reason for the
        run log.

    Example:

    ```python
    choose_dtype_policy("auto", hardware=Hardware(cpu_flags={"avx512_bf16"}))
    # ("mixed_bfloat16", "auto: this CPU has AVX512_BF16")
    ```
    """
    if mixed_precision == "auto":
        return _auto_policy(hardware or detect_hardware(use_tpu))
    policy = MIXED_PRECISION_POLICIES[mixed_precision]
    if policy == "mixed_bfloat16":
        native, reason = _auto_policy(hardware or detect_hardware(use_tpu))
        if native != policy:
            # e.g. "auto: this CPU has no AVX512_BF16 or AMX"
            lacking = reason.removeprefix("auto: ")
            return policy, (
                f"as asked; but {lacking}, so bfloat16 is emulated and "
                "trains slower than float32 here; auto would pick float32"
            )
    return policy, "as asked"


def describe_policy(policy, reason):
    """One log line: `Mixed precision: bfloat16 (auto: this CPU has ...)`."""
    return f"Mixed precision: {_COMPUTE_DTYPE_NAMES[policy]} ({reason})."
