"""Micro-benchmark: training throughput (img/s) with the book's augmentation as Keras' three
layers (RandomFlip, RandomRotation, RandomZoom) versus the fused layer (tasks/networks/augment.py).

Each variant trains a trivial head (global average pooling, Dense(1)) on random images, so the
augmentation dominates the step. XLA: "auto" is Keras' own choice (off on a TensorFlow CPU, on
with JAX unless a layer forbids it, as the Keras rotation and zoom layers do). train.py uses
the fused layer with the affine_transform sampler without XLA and the gather one with XLA.
Every backend runs in its own process, since Keras fixes its backend at import.

    .venv/bin/python bench/augment.py [--size 180] [--batch 32] [--steps 8] [--repeats 3]
                                      [--backends tensorflow jax]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# (augmentation, jit_compile): Keras' layers, then the fused layer with each sampler.
VARIANTS = (("keras_layers", "auto"), ("fused_affine_transform", "auto"), ("fused_gather", True))


def measure(variant: str, size: int, batch: int, steps: int, jit: bool | str,
            repeats: int) -> dict[str, object]:
    """Images per second of a training epoch of `steps` batches after a compiling warm-up: the
    best of `repeats` epochs, since other load on the machine only ever slows an epoch down."""
    import keras
    import numpy as np

    from tasks.networks.augment import BookAugmentation
    from tasks.runtime.feed import batches
    from tasks.runtime.trainer import compile_for_training

    if variant == "keras_layers":  # what augmentation() returned before the fused layer
        aug = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=1),
                                keras.layers.RandomRotation(0.1, seed=1),
                                keras.layers.RandomZoom(0.2, seed=1)])
    else:
        aug = BookAugmentation(seed=1, sampler=variant.removeprefix("fused_"))
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(aug(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    compile_for_training(model, 1e-3, jit)  # as tasks.train compiles the book recipe
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch * steps, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, batch * steps)
    model.fit(batches(images[:2 * batch], labels[:2 * batch], batch), verbose=0)  # compile
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.fit(batches(images, labels, batch), verbose=0)
        seconds.append(time.perf_counter() - started)
    return {"backend": keras.backend.backend(), "variant": variant,
            "img_per_s": round(len(images) / min(seconds), 1), "jit_compile": bool(model.jit_compile)}


def main() -> None:
    # Its first paragraph on one line (tasks.core.cli.describe; this file also runs as a script).
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--size", type=int, default=180)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one backend here
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        for variant, jit in VARIANTS:
            print(json.dumps(measure(variant, args.size, args.batch, args.steps, jit, args.repeats)),
                  flush=True)
        return
    print(f"{'backend':<11} {'augmentation':<23} {'XLA':<4} {'img/s':>8}   "
          f"({args.size} px, batch {args.batch}, {os.cpu_count()} CPU cores)")
    for name in args.backends:
        env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "2"}
        done = subprocess.run([sys.executable, __file__, "--child", name, "--size", str(args.size),
                               "--batch", str(args.batch), "--steps", str(args.steps),
                               "--repeats", str(args.repeats)],
                              env=env, capture_output=True, text=True, check=True)
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                print(f"{r['backend']:<11} {r['variant']:<23} {'on' if r['jit_compile'] else 'off':<4} "
                      f"{r['img_per_s']:>8.1f}")


if __name__ == "__main__":
    main()
