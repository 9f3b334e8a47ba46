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
    """Data parallelism over the local devices (the TPU chips with
    `use_tpu`), as Keras' global distribution."""
    try:
        devices = keras.distribution.list_devices("tpu" if use_tpu else None)
    except RuntimeError:  # JAX has no TPU platform here.
        devices = []
    if use_tpu and not devices:
        raise KerasAdaptersError(
            f"`use_tpu` is set but the {keras.config.backend()} backend "
            "sees no TPU; run on a TPU host or drop `use_tpu`."
        )
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    return distribution


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
    """Whether this process writes outputs (worker 0, or no cluster)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    return task.get("type", "worker") in ("chief", "worker") and (
        task.get("index", 0) == 0
    )
