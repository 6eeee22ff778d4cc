"""The feed: arrays to Keras batches, in the order the caller gives."""
from __future__ import annotations


def batches(x, y=None, batch_size: int = 32):
    """`x` (and labels `y`) in order, in batches, as the input of Keras' fit, evaluate or predict
    (the caller shuffles: tasks.train draws each epoch's order from the seed).

    On TensorFlow: a tf.data pipeline with autotuning off, since AUTOTUNE's tuning thread holds
    each fit() open up to 10 s (README, "Profiled: Keras' tf.data teardown"). On JAX: a PyDataset.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return _py_batches(x, y, batch_size)
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    return data.batch(batch_size).prefetch(1).with_options(options)


def _py_batches(x, y, batch_size: int):
    """The same batches as a keras.utils.PyDataset (no TensorFlow needed)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return -(-len(x) // batch_size)

        def __getitem__(self, i: int):
            part = slice(i * batch_size, (i + 1) * batch_size)
            return x[part] if y is None else (x[part], y[part])

    return Batches()


def epoch_order(seed: int, epoch: int, n: int):
    """The shuffle of one epoch, a function of (seed, epoch) only: a resumed run draws exactly
    the order the uninterrupted run would have (fit(shuffle=True) uses a global RNG)."""
    import numpy as np

    return np.random.default_rng([seed, epoch]).permutation(n)
