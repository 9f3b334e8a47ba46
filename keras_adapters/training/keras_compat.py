"""Compatibility fixes for Keras bugs the training runtime would hit.

Each fix is narrow, checks that the Keras internals it replaces exist, and
is applied only where the bug bites (see its docstring).
"""


def patch_keras_multi_worker_fit():
    """Works around two Keras 3 bugs of `fit` under multi-worker strategies.

    Under `MultiWorkerMirroredStrategy` with two workers, Keras 3.15's
    TensorFlow trainer fails before and after the first step:

    1. `TensorFlowTrainer._maybe_symbolic_build` calls
       `strategy.reduce("MEAN", batch, axis=None)` on the whole nested
       `(x, y, sample_weight)` batch; the collective cross-device ops only
       take one tensor, so any dataset fails with "Attempt to convert a
       value (...PerReplica...) with an unsupported type" (keras-team/keras
       #20329). The batch is only needed for shapes, so the local replica's
       value is used instead.
    2. `reduce_per_replica(..., "auto")` reduces the scalar step logs with
       `strategy.reduce("MEAN", v, axis=0)`: "Invalid reduction dimension 0
       for input with 0 dimensions" (tensorflow/tensorflow#72388). The
       scalars are averaged over replicas with `axis=None` instead.

    Returns:
        Whether the patch was applied (the Keras internals were found).
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if not (
        hasattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build")
        and hasattr(trainer, "reduce_per_replica")
        and hasattr(trainer, "_collective_all_reduce_multi_worker")
    ):
        return False
    if getattr(trainer.reduce_per_replica, "keras_adapters_patch", False):
        return True
    symbolic_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    reduce_per_replica = trainer.reduce_per_replica

    def local_value(strategy, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, batches in iterator:
                batch = next(batches)
                break
            data_batch = tree.map_structure(
                lambda v: local_value(self.distribute_strategy, v), batch
            )
        return symbolic_build(self, data_batch=data_batch)

    def patched_reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and (
            trainer._collective_all_reduce_multi_worker(strategy)
        ):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None), values
            )
        return reduce_per_replica(values, strategy, reduction)

    patched_reduce_per_replica.keras_adapters_patch = True
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = patched_reduce_per_replica
    return True
