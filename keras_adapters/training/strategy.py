"""Choosing how to distribute training the way the original flags do: a
`tf.distribute` strategy on the TensorFlow backend, Keras' own
`keras.distribution` on the others."""

import json
import os

import keras
import tensorflow as tf

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training.keras_compat import patch_keras_multi_worker_fit


def strategy_from_flags(
    use_tpu=False, tpu_name=None, tpu_zone=None, gcp_project=None, master=None
):
    """Returns the distribution strategy for this process.

    - `use_tpu`: a `TPUClusterResolver` (from `tpu_name`, `tpu_zone`,
      `gcp_project`, or `master`; without them, `$TPU_NAME` or else the
      TPU VM's own chips, `"local"`, as on Colab) and a `TPUStrategy`.
    - `TF_CONFIG` naming more than one worker: `MultiWorkerMirroredStrategy`
      (with `keras_compat.patch_keras_multi_worker_fit` applied, without
      which Keras 3.15's `fit` fails under it).
    - several GPUs: `MirroredStrategy`.
    - otherwise the default strategy.

    Args:
        use_tpu: bool. The original `--use_tpu`.
        tpu_name: optional TPU name or grpc address (`--tpu_name`).
        tpu_zone: optional GCE zone (`--tpu_zone`).
        gcp_project: optional project (`--gcp_project`).
        master: optional TensorFlow master address (`--master`).

    On the JAX backend (and any other but TensorFlow) the same flags pick
    a `keras.distribution.DataParallel` over every local device, the TPU
    chips with `use_tpu`, set as Keras' global distribution.

    Returns:
        An object whose `scope()` the model is built and compiled under: a
        `tf.distribute.Strategy`, or the `keras.distribution.Distribution`.

    Raises:
        KerasAdaptersError: `use_tpu` where the backend sees no TPU.
    """
    if keras.config.backend() != "tensorflow":
        return _keras_distribution(use_tpu)
    if use_tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=tpu_name or master or _default_tpu(),
            zone=tpu_zone,
            project=gcp_project,
        )
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if num_workers() > 1:
        patch_keras_multi_worker_fit()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _keras_distribution(use_tpu):
    """Data parallelism over every device of every process (the TPU chips
    with `use_tpu`), as Keras' global distribution."""
    try:
        devices = keras.distribution.list_devices("tpu" if use_tpu else None)
    except RuntimeError:  # JAX has no TPU platform here.
        devices = []
    if use_tpu and not devices:
        raise KerasAdaptersError(
            f"`use_tpu` is set but the {keras.config.backend()} backend "
            "sees no TPU; run on a TPU host or drop `use_tpu`."
        )
    # Each process feeds its own rows of every batch (`training_dataset`'s
    # `shard`), cut to the width of the whole batch: Keras must not shard
    # the batches again.
    distribution = keras.distribution.DataParallel(
        devices=devices, auto_shard_dataset=False
    )
    keras.distribution.set_distribution(distribution)
    return distribution


def local_distribution():
    """Data parallelism over this process's own devices only, for work one
    process does alone (evaluation and export after a multi-process run).
    """
    distribution = keras.distribution.DataParallel(
        devices=[
            f"{device.platform}:{device.id}"
            for device in _jax().local_devices()
        ],
        # Every batch is this process's own.
        auto_shard_dataset=False,
    )
    keras.distribution.set_distribution(distribution)
    return distribution


# Where a multi-process run finds its processes: the flag, else Keras'
# variable, else JAX's.
_PROCESS_ENVIRONMENT = {
    "coordinator_address": (
        "KERAS_DISTRIBUTION_JOB_ADDRESSES",
        "JAX_COORDINATOR_ADDRESS",
    ),
    "num_processes": (
        "KERAS_DISTRIBUTION_NUM_PROCESSES",
        "JAX_NUM_PROCESSES",
    ),
    "process_id": ("KERAS_DISTRIBUTION_PROCESS_ID", "JAX_PROCESS_ID"),
}


def _jax():
    import jax

    return jax


def process_settings(
    coordinator_address=None, num_processes=None, process_id=None
):
    """The coordinator address, process count and process id of this run.

    Each comes from its argument, else `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
    `KERAS_DISTRIBUTION_NUM_PROCESSES`, `KERAS_DISTRIBUTION_PROCESS_ID`
    (Keras' variables), else `JAX_COORDINATOR_ADDRESS`,
    `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID` (JAX's).

    Returns:
        `(coordinator_address, num_processes, process_id)`; the count is 1
        and the id 0 when nothing names them.

    Raises:
        KerasAdaptersError: a count or id that is not an integer, an id
            outside `[0, num_processes)`, or several processes without a
            coordinator address.
    """
    given = dict(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
    for name, variables in _PROCESS_ENVIRONMENT.items():
        for variable in variables:
            value = os.environ.get(variable)
            if given[name] is not None or not value:
                continue
            if name == "coordinator_address":
                given[name] = value
            elif value.isdigit():
                given[name] = int(value)
            else:
                raise KerasAdaptersError(
                    f"${variable}={value!r} is not a whole number."
                )
    count = given["num_processes"] or 1
    index = given["process_id"] or 0
    if count > 1 and not given["coordinator_address"]:
        raise KerasAdaptersError(
            f"{count} processes need `coordinator_address` (host:port of "
            "process 0), or $KERAS_DISTRIBUTION_JOB_ADDRESSES."
        )
    if not 0 <= index < count:
        raise KerasAdaptersError(
            f"`process_id`={index} is not in [0, {count}) for "
            f"`num_processes`={count}."
        )
    return given["coordinator_address"], count, index


def start_processes(
    coordinator_address=None, num_processes=None, process_id=None
):
    """Joins the other processes of a multi-process JAX run.

    With more than one process (see `process_settings`), calls
    `keras.distribution.initialize` once per process, before any
    computation; `strategy_from_flags` then spreads training over the
    devices of every process.

    Returns:
        `(process_id, num_processes)`: `(0, 1)` for a single process.

    Raises:
        KerasAdaptersError: bad settings, or several processes on a backend
            other than JAX (TensorFlow has `TF_CONFIG` for that).
    """
    address, count, index = process_settings(
        coordinator_address, num_processes, process_id
    )
    if count == 1:
        return 0, 1
    if keras.config.backend() != "jax":
        raise KerasAdaptersError(
            f"`num_processes`={count} needs the JAX backend "
            "(KERAS_BACKEND=jax); on TensorFlow, several workers are set by "
            "TF_CONFIG."
        )
    jax = _jax()
    if not jax.distributed.is_initialized():  # Once per process.
        keras.distribution.initialize(address, count, index)
    return jax.process_index(), jax.process_count()


def describe(distribution):
    """One line for the run log: the backend and how training is spread."""
    backend = keras.config.backend()
    if isinstance(distribution, keras.distribution.DataParallel):
        devices = distribution.device_mesh.devices.flatten()
        where = f"DataParallel over {len(devices)} device(s): " + ", ".join(
            map(str, devices)
        )
    else:
        where = (
            f"{type(distribution).__name__.lstrip('_')} over "
            f"{distribution.num_replicas_in_sync} replica(s)"
        )
    return f"Keras backend {backend}, {where}."


def _default_tpu():
    return "" if os.environ.get("TPU_NAME") else "local"


def num_workers():
    """The number of workers `TF_CONFIG` names (0 without a cluster)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    return len(config.get("cluster", {}).get("worker", []))


def is_chief():
    """Whether this process writes outputs (TensorFlow's worker 0, or no
    cluster; `TaskRun` also asks for JAX's process 0)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    return task.get("type", "worker") in ("chief", "worker") and (
        task.get("index", 0) == 0
    )
