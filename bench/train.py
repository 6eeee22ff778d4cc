"""Training throughput: steady-state images/s of each model at its default size, per backend,
precision and augmentation setting, built and compiled exactly as tasks/train.py does.

    python -m bench.train [--backends tensorflow jax] [--models ...] [--precisions fp32 bf16]
                          [--batch 16] [--steps 3]

For each setting, one epoch of `steps` batches compiles and warms up (reported apart, as
"compile + warm-up"), then one more epoch is timed. Every backend runs in a child process,
because Keras fixes its backend at import.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench.harness import record, write

MODELS = ("simple", "residual", "xception_mini", "resnet18", "resnet34", "resnet50")


def measure(model_name: str, precision: str, augment: bool, batch: int, steps: int) -> dict:
    """Build and compile like tasks.train, then time a warm-up epoch and a steady epoch."""
    import keras
    import numpy as np

    from tasks import backend, models
    from tasks.config import Train

    size = models.DEFAULT_SIZE[model_name]
    cfg = Train(model=model_name, image_size=size, batch_size=batch, augment=augment,
                mixed_precision="on" if precision == "bf16" else "off", backend=keras.backend.backend())
    knobs = backend.resolve_knobs(cfg, keras.backend.backend(), backend.gpu_names())
    keras.backend.clear_session()
    with backend.dtype_policy("mixed_bfloat16" if knobs.mixed_precision else "float32"):
        model = trainer = models.build(cfg)
        if augment:
            inputs = keras.Input(shape=model.input_shape[1:])
            trainer = keras.Model(inputs, model(models.augmentation(0, xla=knobs.jit_compile)(inputs)))
    trainer.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="binary_crossentropy",
                    metrics=["accuracy"], jit_compile=knobs.jit_compile)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * steps, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, 2, batch * steps).astype("float32")
    started = time.perf_counter()
    trainer.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    trainer.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    steady = time.perf_counter() - started
    return {"model": model_name, "size": size, "precision": precision, "augment": augment,
            "img_per_s": len(x) / steady, "warmup_s": warmup, "jit": bool(trainer.jit_compile),
            "device": knobs.device, "backend": keras.backend.backend()}


def child(args: argparse.Namespace) -> None:
    """Measure every setting on this process's backend; print one JSON line each."""
    for name in args.models:
        for precision in args.precisions:
            for augment in (True, False):
                print(json.dumps(measure(name, precision, augment, args.batch, args.steps)), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run one child per backend, then print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tag", default="cpu", help="results file prefix (cpu, h100, ...)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    results = []
    for name in args.backends:
        cmd = [sys.executable, "-m", "bench.train", "--child", "--models", *args.models, "--precisions",
               *args.precisions, "--batch", str(args.batch), "--steps", str(args.steps)]
        done = subprocess.run(cmd, env={**os.environ, "KERAS_BACKEND": name}, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"bench.train on {name} failed:\n{done.stderr[-3000:]}")
        for line in done.stdout.splitlines():
            if not line.startswith("{"):
                continue
            m = json.loads(line)
            aug = "on" if m["augment"] else "off"
            label = f"train {m['backend']} {m['model']} {m['size']}px {m['precision']} aug {aug}"
            common = {"backend": m["backend"], "device": m["device"], "batch": args.batch, "xla": m["jit"]}
            results += [record(f"{label}: steady img/s", m["img_per_s"], "img/s", **common),
                        record(f"{label}: compile + warm-up", m["warmup_s"], "s", **common)]
            print(f"{m['backend']:10} {label:48} {m['img_per_s']:8.1f} img/s  warm-up {m['warmup_s']:6.1f} s")
    print("written:", write(results, args.tag))


if __name__ == "__main__":
    main()
