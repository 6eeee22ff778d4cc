"""`python -m tests.helpers.virtual_devices N BACKEND [train args]`: `python -m tasks.train` on
N virtual CPU devices of BACKEND (jax or tensorflow), as a multi-device machine would train.

Both settings must come before the backend initializes, so they need a process of their own:
XLA_FLAGS for JAX, logical devices for TensorFlow (which keras imports on either backend)."""
from __future__ import annotations

import os
import sys


def setup(count: int, backend: str) -> None:
    """Make this process see `count` CPU devices on `backend`; call before keras is imported."""
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
    os.environ["KERAS_BACKEND"] = backend
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def main(argv: list[str]) -> int:
    setup(int(argv[0]), argv[1])
    from tasks.train import main as train

    return train(argv[2:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
