"""The feed: arrays to Keras batches, in the order the caller gives."""
from __future__ import annotations

import numpy as np


def batches(x, y=None, batch_size: int = 32, order: np.ndarray | None = None):
    """`x` (and labels `y`) in batches, as the input of Keras' fit, evaluate or predict: in index
    order, or in `order` (the caller shuffles: tasks.train draws each epoch's order from the seed).

    Each batch is gathered from `x` only when it is due, so a memory-mapped split (the array
    cache) stays on disk: the batches are exactly those of `x[order]`, without that copy.

    On TensorFlow: a tf.data pipeline with autotuning off, since AUTOTUNE's tuning thread holds
    each fit() open up to 10 s (docs/performance.md, "Profiled: Keras' tf.data teardown"). On JAX: a PyDataset.
    """
    import keras

    if order is not None:
        order = np.asarray(order)
        if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= len(x))):
            raise ValueError(f"order must be indices into the {len(x)} images, got shape "
                             f"{order.shape} in [{order.min(initial=0)}, {order.max(initial=0)}]")
    steps = -(-(len(x) if order is None else len(order)) // batch_size)

    def take(i: int):
        part = slice(i * batch_size, (i + 1) * batch_size)
        idx = part if order is None else order[part]
        return np.asarray(x[idx]) if y is None else (np.asarray(x[idx]), np.asarray(y[idx]))

    if keras.backend.backend() != "tensorflow":
        return _py_batches(take, steps)
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    specs = [tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))]
    if y is not None:
        specs.append(tf.TensorSpec((None, *np.shape(y)[1:]), tf.as_dtype(np.asarray(y).dtype)))

    def load(i):
        got = tf.numpy_function(lambda j: take(int(j)), [i], [s.dtype for s in specs], stateful=False)
        got = [tf.ensure_shape(t, s.shape) for t, s in zip(got, specs, strict=True)]
        return tuple(got) if y is not None else got[0]

    # A range mapped through numpy_function, not from_generator: Keras' train step traced on a
    # generator's (or a PyDataset's) input ran xception_fast at half the speed on 2 CPU cores
    # (35 against 70 img/s at 96 px, same process); this one matches in-memory slices.
    return tf.data.Dataset.range(steps).map(load).prefetch(1).with_options(options)


def _py_batches(take, steps: int):
    """The same batches as a keras.utils.PyDataset (no TensorFlow needed)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return steps

        def __getitem__(self, i: int):
            return take(i)

    return Batches()


def epoch_order(seed: int, epoch: int, n: int):
    """The shuffle of one epoch, a function of (seed, epoch) only: a resumed run draws exactly
    the order the uninterrupted run would have (fit(shuffle=True) uses a global RNG)."""
    return np.random.default_rng([seed, epoch]).permutation(n)
