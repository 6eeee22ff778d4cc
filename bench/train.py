"""Training throughput: steady-state images/s of each model at its default size, per backend,
precision and augmentation setting, built, compiled and fed exactly as tasks/train.py does.

    python -m bench.train [--backends tensorflow jax] [--models ...] [--precisions fp32 bf16]
                          [--batch 16] [--steps 3] [--repeats 3]

For each setting, one epoch of `steps` batches compiles and warms up (reported apart, as
"compile + warm-up"), then `repeats` more epochs are timed and their median is the figure.
Each figure also gives the training arithmetic it sustained (3x the forward FLOPs per image,
bench/utilisation.py) against the device's peak, and on an NVIDIA GPU the driver's busy
percentage over the timed epochs. Every backend runs in a child process, because Keras fixes
its backend at import.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.harness import describe, record, write
from bench.utilisation import forward_flops, gpu_busy, peak_tflops, step_only_img_per_s

# The targets on the lent H100 (model, precision, augmentation): img/s.
GPU_TARGETS = {("xception_mini", "fp32", True): ">= 10,000", ("xception_mini", "bf16", True): ">= 10,000",
               ("resnet50", "bf16", True): ">= 3,000", ("resnet50", "bf16", False): ">= 3,000"}
MODELS = ("simple", "residual", "xception_mini", "resnet18", "resnet34", "resnet50")


def measure(model_name: str, precision: str, augment: bool, batch: int, steps: int,
            repeats: int) -> dict:
    """Build, compile and feed like tasks.train; time a warm-up epoch, then `repeats` epochs."""
    import keras
    import numpy as np

    from tasks.core.config import Train
    from tasks.networks import zoo
    from tasks.runtime.feed import batches
    from tasks.runtime.trainer import assemble

    size = zoo.DEFAULT_SIZE[model_name]
    cfg = Train(model=model_name, image_size=size, batch_size=batch, augment=augment,
                mixed_precision="on" if precision == "bf16" else "off", backend=keras.backend.backend())
    built = assemble(cfg, seed=0)  # exactly what tasks.train fits
    knobs, model, trainer = built.knobs, built.network, built.fit_model
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * steps, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, 2, batch * steps).astype("float32")

    data = batches(x, y, batch)

    def epoch() -> float:
        started = time.perf_counter()
        trainer.fit(data, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - started

    warmup = epoch()
    with gpu_busy() as busy:
        times = [epoch() for _ in range(repeats)]
    img_per_s = len(x) / statistics.median(times)
    # Last, since it spends the model's state: the step alone, where JAX can run it so.
    step_only = step_only_img_per_s(trainer, x, y, batch, steps) if keras.backend.backend() == "jax" else None
    tflops = img_per_s * 3 * forward_flops(model) / 1e12
    peak = peak_tflops(knobs.device, precision)
    return {"model": model_name, "size": size, "precision": precision, "augment": augment,
            "img_per_s": img_per_s, "warmup_s": warmup, "epoch_s": [round(t, 3) for t in times],
            "jit": bool(trainer.jit_compile), "device": knobs.device, "backend": keras.backend.backend(),
            "train_tflops": round(tflops, 4), "peak_tflops": peak and peak[0], "peak_source": peak and peak[1],
            "of_peak": peak and round(tflops / peak[0], 4),
            "gpu_busy_pct": round(statistics.mean(busy), 1) if busy else None,
            "step_only_img_per_s": step_only and round(step_only, 1)}


def child(args: argparse.Namespace) -> None:
    """Measure every setting on this process's backend; print one JSON line each."""
    for name in args.models:
        for precision in args.precisions:
            for augment in (True, False):
                print(json.dumps(measure(name, precision, augment, args.batch, args.steps, args.repeats)),
                      flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run one child per backend, then print and write the figures."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs; the median is the figure")
    parser.add_argument("--tag", default="cpu", help="results file prefix (cpu, h100, ...)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    results: list[dict] = []
    for name in args.backends:
        cmd = [sys.executable, "-m", "bench.train", "--child", "--models", *args.models, "--precisions",
               *args.precisions, "--batch", str(args.batch), "--steps", str(args.steps),
               "--repeats", str(args.repeats)]
        # Figures stream out and are written as they come: a run cut off by a time limit (the
        # GPU machine's 10 min a call) still leaves every setting it finished.
        with tempfile.TemporaryFile("w+") as errors, subprocess.Popen(
                cmd, env={**os.environ, "KERAS_BACKEND": name}, stdout=subprocess.PIPE,
                stderr=errors, text=True) as child_run:
            for line in child_run.stdout:
                if line.startswith("{"):
                    results += report(json.loads(line), args.batch)
                    write(results, args.tag)
            if child_run.wait() != 0:
                errors.seek(0)
                sys.exit(f"bench.train on {name} failed:\n{errors.read()[-3000:]}")
    print("written:", write(results, args.tag))


def report(m: dict, batch: int) -> list[dict]:
    """Print one setting's figures and return its two records."""
    label = f"train {m['backend']} {m['model']} {m['size']}px {m['precision']} aug {'on' if m['augment'] else 'off'}"
    util = {k: m[k] for k in ("train_tflops", "peak_tflops", "peak_source", "of_peak", "gpu_busy_pct",
                              "step_only_img_per_s")}
    common = {"backend": m["backend"], "device": m["device"], "batch": batch, "xla": m["jit"]}
    on_gpu = not m["device"].startswith("CPU")
    target = GPU_TARGETS.get((m["model"], m["precision"], m["augment"])) if on_gpu else None
    share = f"  {m['of_peak']:.1%} of peak" if m["of_peak"] else ""
    busy = f"  GPU busy {m['gpu_busy_pct']:.0f}%" if m["gpu_busy_pct"] is not None else ""
    busy += f"  step alone {m['step_only_img_per_s']:.1f} img/s" if m["step_only_img_per_s"] else ""
    print(f"{label:48} {m['img_per_s']:8.1f} img/s  warm-up {m['warmup_s']:6.1f} s  "
          f"{m['train_tflops']:.3f} TFLOP/s{share}{busy}", flush=True)
    return [record(f"{label}: steady img/s", m["img_per_s"], "img/s", target=target, epoch_s=m["epoch_s"],
                   **common, **util),
            record(f"{label}: compile + warm-up", m["warmup_s"], "s", **common)]

if __name__ == "__main__":
    main()
