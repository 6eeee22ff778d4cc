"""Data-parallel training over `train.devices`: Keras' DataParallel on JAX, TensorFlow's
MirroredStrategy on TensorFlow. The global batch is `train.batch_size`, split evenly.

Imports keras: import it only after `backend.activate` (tasks.runtime.trainer does).
Why the choices below (uneven batches, batch norm), with the figures: docs/training.md, "Training:
resume, backends, bf16 and XLA".
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from tasks.core.errors import StageError
from tasks.runtime.backend import Knobs
from tasks.runtime.feed import batches


def present(backend: str) -> list[str]:
    """The devices data parallelism can use here: the accelerators, else the CPU devices (one,
    unless virtual ones were configured)."""
    if backend == "jax":
        return keras.distribution.list_devices()  # accelerators first, as "gpu:0"
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices("GPU") or
            tf.config.list_logical_devices("CPU")]


@dataclass(frozen=True)
class Placement:
    """The devices a run trains on; `distribution` (a keras DataParallel on JAX, a
    MirroredStrategy on TensorFlow) is None on one device, where nothing changes."""

    backend: str
    names: tuple[str, ...]
    distribution: Any = None

    @property
    def count(self) -> int:
        return len(self.names)

    def scope(self) -> contextlib.AbstractContextManager:
        """Where the trainer is built and compiled. A TensorFlow model keeps the strategy it was
        built under. JAX's fit, evaluate and predict read the distribution at each call, so it
        is set for the process, until the next keras.backend.clear_session (the next assemble)."""
        if self.backend == "jax" and self.distribution is not None:
            keras.distribution.set_distribution(self.distribution)
        return self.distribution.scope() if self.backend == "tensorflow" and self.distribution \
            else contextlib.nullcontext()

    def for_training(self, network: keras.Model, saved: keras.Model, build) -> keras.Model:
        """The network to train. On TensorFlow over several devices: its batch norms use the
        global batch's statistics (`synchronized`), as one device does and as JAX's global
        arrays do by themselves; and each replica draws its own random numbers (augmentation,
        dropout), where MirroredStrategy would give every replica the same draws. A network that
        is also the `saved` one is first replaced by a twin from `build()` with its initial
        state, so the saved config stays portable (`synchronized` is refused on JAX)."""
        if self.backend != "tensorflow" or self.distribution is None:
            return network
        if network is saved and (_norms(network) or _seed_generators(network)):
            network = build()
            for mine, theirs in zip(network.variables, saved.variables, strict=True):
                mine.assign(theirs)
        for layer in _norms(network):
            layer.synchronized = True
        for generator in _seed_generators(network):
            generator.__class__ = _ReplicaSeeds
        return network

    def trim(self, order: np.ndarray, batch_size: int) -> np.ndarray:
        """An epoch's order without the last batch's remainder that does not split over the
        devices (fewer than `count` images; the next epoch's shuffle drops others), so that
        every step's loss and batch statistics are over the whole global batch."""
        return order[:len(order) - len(order) % batch_size % self.count]

    def validation(self, x, y, batch_size: int):
        """The validation feed, every image scored. Over several devices a last batch that does
        not split is padded with zero-weight images, and the real ones weigh (n + padding) / n,
        because Keras averages the loss over every row, padding included. JAX refuses such a
        batch; TensorFlow would hand some replicas an empty one, which its oneDNN convolution
        rejects on AVX-512 CPUs ("input depth must be evenly divisible by filter depth")."""
        pad = -(len(x) % batch_size) % self.count
        return _Padded(x, y, batch_size, pad) if pad else batches(x, y, batch_size)

    def describe(self) -> str:
        """For the trainer's log line."""
        how = {"jax": "keras.distribution.DataParallel",
               "tensorflow": "tf.distribute.MirroredStrategy"}[self.backend]
        return f"{self.count} device(s), " + (f"data-parallel ({how}): " if self.distribution
                                               else "") + ", ".join(self.names)


def place(knobs: Knobs, batch_size: int) -> Placement:
    """The first `knobs.devices` devices, refused (naming the key) if there are fewer or the
    batch does not split evenly over them."""
    names = present(knobs.backend)
    if batch_size % knobs.devices:
        raise StageError(f"train.batch_size {batch_size} does not split evenly over "
                         f"{knobs.devices} devices (train.devices): use a multiple of {knobs.devices}")
    if knobs.devices > len(names):
        raise StageError(f"train.devices {knobs.devices}: {knobs.backend} sees {len(names)} "
                         f"device(s) here ({', '.join(names)})")
    names = names[:knobs.devices]
    if len(names) == 1:
        return Placement(knobs.backend, tuple(names))
    if knobs.backend == "jax":
        return Placement("jax", tuple(names), keras.distribution.DataParallel(devices=names))
    import tensorflow as tf

    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # an INFO line per all-reduce
    return Placement("tensorflow", tuple(names), tf.distribute.MirroredStrategy(names))


def _norms(model: keras.Layer) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization in `model`, nested models included."""
    found = []
    for layer in getattr(model, "layers", ()):
        found += [layer] if isinstance(layer, keras.layers.BatchNormalization) else _norms(layer)
    return found


def _seed_generators(model: keras.Layer) -> list[keras.random.SeedGenerator]:
    """Every SeedGenerator of `model`'s layers, nested ones included."""
    return [g for layer in model._flatten_layers() for g in layer._seed_generators]  # noqa: SLF001


class _ReplicaSeeds(keras.random.SeedGenerator):
    """A SeedGenerator whose seeds differ by TensorFlow replica. Every replica of a
    MirroredStrategy step reads the same generator state, so each would repeat the others'
    draws for the same position in its slice; the replica's id moves the first seed word (the
    second counts the draws, so moving it would replay another step's draws)."""

    def next(self, ordered: bool = True):
        import tensorflow as tf

        seed, context = super().next(ordered), tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        shift = tf.cast(context.replica_id_in_sync_group, seed.dtype) * 1_000_003
        return seed + tf.stack([shift, tf.zeros_like(shift)])


class _Padded(keras.utils.PyDataset):
    """(x, y, sample weight) batches, the last one padded with `pad` zero-weight rows."""

    def __init__(self, x, y, batch_size: int, pad: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.pad = x, y, batch_size, pad
        self.weight = np.float32((len(x) + pad) / len(x))

    def __len__(self) -> int:
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def __getitem__(self, i: int):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        x, y = self.x[part], self.y[part]
        w = np.full(len(x), self.weight, np.float32)
        if i == len(self) - 1:
            x = np.concatenate([x, np.zeros((self.pad, *x.shape[1:]), x.dtype)])
            y = np.concatenate([y, np.zeros(self.pad, y.dtype)])
            w = np.concatenate([w, np.zeros(self.pad, np.float32)])
        return x, y, w
