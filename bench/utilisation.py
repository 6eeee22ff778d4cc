"""How much of the device a training step uses: the model's arithmetic per image, the device's
peak, and (on an NVIDIA GPU) the utilisation the driver reports while the step runs.

FLOPs are counted per layer from the built model's shapes: convolutions (plain, depthwise,
separable) and dense layers, 2 FLOPs per multiply-add. Batch norm, activations, pooling and
adds are left out: they move memory rather than do arithmetic. A training step costs about
3x the forward pass (backward is ~2x forward), the usual approximation.
"""
from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from pathlib import Path

# Dense peak TFLOP/s from the vendor's data sheets, matched on the device name. fp32 runs on
# the tensor cores as TF32 under XLA's default precision on these GPUs.
GPU_PEAKS = {  # name fragment: {precision: TFLOP/s}
    "H100 PCIe": {"bf16": 756.0, "fp32": 378.0},
    "H100": {"bf16": 989.4, "fp32": 494.7},  # SXM5 (nvidia-smi: "NVIDIA H100 80GB HBM3")
    "H200": {"bf16": 989.4, "fp32": 494.7},
    "A100": {"bf16": 312.0, "fp32": 156.0},
}


def forward_flops(model) -> int:
    """FLOPs of one image's forward pass through `model` (nested models included)."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):
            total += forward_flops(layer)
            continue
        kind = type(layer).__name__
        if kind not in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
            continue
        out = math.prod(d for d in layer.output.shape[1:-1])  # output positions per image
        cin = layer.input.shape[-1]
        if kind == "Dense":
            total += 2 * cin * layer.units
        elif kind == "Conv2D":
            total += 2 * out * math.prod(layer.kernel_size) * cin // layer.groups * layer.filters
        else:  # the depthwise part, then (separable) the 1x1 pointwise part
            depth = cin * layer.depth_multiplier
            total += 2 * out * math.prod(layer.kernel_size) * depth
            if kind == "SeparableConv2D":
                total += 2 * out * depth * layer.filters
    return total


def peak_tflops(device: str, precision: str) -> tuple[float, str] | None:
    """The device's peak dense TFLOP/s for `precision`, and where the figure comes from."""
    for fragment, peaks in GPU_PEAKS.items():
        if fragment in device:
            return peaks[precision], f"{fragment} data sheet, dense {precision}"
    if device.startswith("CPU"):
        return _cpu_peak()
    return None


def _cpu_peak() -> tuple[float, str] | None:
    """Cores x clock x FLOPs per cycle: 32 fp32 FLOPs/cycle/core with AVX2 and two FMA units,
    64 with AVX-512. bf16 has no faster path on such CPUs, so one figure serves both."""
    with contextlib.suppress(OSError):
        info = Path("/proc/cpuinfo").read_text()
        mhz = [float(ln.split(":")[1]) for ln in info.splitlines() if ln.startswith("cpu MHz")]
        per_cycle = 64 if " avx512f" in info else 32 if " fma" in info else 8
        if mhz:
            return len(mhz) * max(mhz) * 1e6 * per_cycle / 1e12, \
                f"{len(mhz)} cores x {max(mhz):.0f} MHz x {per_cycle} FLOP/cycle (/proc/cpuinfo)"
    return None


@contextlib.contextmanager
def gpu_busy(every: float = 0.1) -> Iterator[list[float]]:
    """Sample the driver's GPU utilisation (% of time a kernel ran) while the block runs; the
    list it yields fills with the samples. Empty where NVML (nvidia-ml-py) is not there."""
    samples: list[float] = []
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # no NVML, no driver, no GPU: nothing to read
        yield samples
        return
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            samples.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
        pynvml.nvmlShutdown()


def step_only_img_per_s(trainer, x, y, batch: int, steps: int) -> float:
    """JAX: images/s of the compiled train step alone, on one batch already on the device.

    Against fit()'s figure this splits the step's own time from what the input feed and
    Keras' Python loop add: a measured decomposition, not a guess at the bound. It donates
    (and so spends) the model's state: call it last, on a model that is then thrown away.
    """
    import time

    import jax

    data = (jax.device_put(x[:batch]), jax.device_put(y[:batch]))
    trainer.make_train_function()
    state = trainer._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                   optimizer_variables=True, metrics_variables=True)

    def run(n: int) -> float:
        nonlocal state
        started = time.perf_counter()
        for _ in range(n):
            _, state = trainer.train_function(state, iter([data]))
        jax.block_until_ready(state)
        return time.perf_counter() - started

    run(1)  # device-resident inputs may compile once more
    return batch * steps / run(steps)


def main(argv: list[str] | None = None) -> None:
    """Print the peak a device's figures are a share of (this machine's CPU by default)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.utilisation",
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog="Measures nothing: it prints the peak TFLOP/s the training figures are a share of.")
    parser.add_argument("--device", default="CPU", help='a GPU name such as "NVIDIA H100 80GB HBM3" '
                        "(default: CPU, this machine's, from /proc/cpuinfo)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args(argv)
    peak = peak_tflops(args.device, args.precision)
    figure = f"{peak[0]:.1f} TFLOP/s ({peak[1]})" if peak else "no known peak"
    print(f"{args.device} {args.precision}: {figure}")


if __name__ == "__main__":
    main()
