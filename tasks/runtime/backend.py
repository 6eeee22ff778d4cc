"""The Keras backend and the hardware knobs of a training run, decided before Keras is imported.

Keras reads KERAS_BACKEND once, at its first import, so `activate` must run before any module
that imports keras (tasks.networks.zoo, tasks.networks.augment): tasks.train imports those only after it.
This module itself imports keras lazily for the same reason.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from tasks.core.config import Train
from tasks.core.errors import StageError

BACKENDS = ("tensorflow", "jax")


def resolve(choice: str) -> str:
    """`train.backend` to a backend name: auto means $KERAS_BACKEND, else tensorflow."""
    name = os.environ.get("KERAS_BACKEND", "tensorflow") if choice == "auto" else choice
    if name not in BACKENDS:
        raise StageError(f"KERAS_BACKEND={name!r}: train supports {', '.join(BACKENDS)}")
    return name


def activate(choice: str) -> str:
    """Make `choice` the Keras backend of this process and return its name.

    Before Keras' first import this sets KERAS_BACKEND (overriding ~/.keras/keras.json). Once
    Keras is loaded its backend cannot change, so a different request is a StageError rather
    than a silent run on the wrong backend.
    """
    name = resolve(choice)
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise StageError(f"train.backend {name!r}: this process already runs Keras on "
                             f"{keras.backend.backend()!r}; run `python -m tasks.train` instead")
    else:
        os.environ["KERAS_BACKEND"] = name
    return name


def gpu_names() -> list[str]:
    """Names of the accelerators the active backend sees (empty on a CPU-only machine)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
            for d in tf.config.list_physical_devices("GPU")]


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one) and its core count."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as fh:
            name = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")),
                        name)
    return f"CPU {name} ({os.cpu_count()} cores)"


@dataclass(frozen=True)
class Knobs:
    """What a run resolved its knobs to; part of the resume key, and logged."""

    backend: str
    device: str  # logged only: not part of the resume key
    gpu: bool
    mixed_precision: bool
    jit_compile: bool
    devices: int = 1  # data-parallel over this many (tasks/runtime/devices.py)


def resolve_knobs(cfg: Train, backend: str, gpus: list[str]) -> Knobs:
    """auto/on/off to booleans. mixed_precision auto: on with a GPU (bfloat16 only pays there).
    jit_compile auto: on with a GPU, off on CPU (Keras' own default on TensorFlow), but always on
    with JAX, where every op is XLA anyway and "off" means slow op-by-op dispatch.
    devices auto: every GPU, else one device."""
    gpu = bool(gpus)
    mixed = cfg.mixed_precision == "on" or (cfg.mixed_precision == "auto" and gpu)
    jit = cfg.jit_compile == "on" or (cfg.jit_compile == "auto" and (gpu or backend == "jax"))
    devices = (len(gpus) or 1) if cfg.devices == "auto" else cfg.devices
    return Knobs(backend, ", ".join(gpus) or cpu_name(), gpu, mixed, jit, devices)


def make_deterministic(knobs: Knobs, jit_compile: bool) -> bool:
    """Same seed, same numbers; returns whether TensorFlow's op determinism was switched on.

    JAX, and TensorFlow's CPU kernels, are deterministic as they are (tests/test_train.py checks
    it; op determinism would cost ~7% on CPU). On a GPU TensorFlow needs op determinism, which
    Keras cannot combine with XLA: call this after compile, with the model's effective
    `jit_compile`, so an XLA train step keeps XLA.
    """
    if knobs.backend != "tensorflow" or not knobs.gpu or jit_compile:
        return False
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    return True


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy `name` (e.g. mixed_bfloat16: bfloat16 compute,
    float32 variables); the global policy is restored after the block, so only the models built
    inside it change."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
