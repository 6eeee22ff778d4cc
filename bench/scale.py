"""Scale: the data path, and train's private memory, at 25,000 and 100,000 images at 180 px.

    python -m bench.scale [--sizes 25000 100000] [--steps 30] [--batch 32] [--repeats 3]

At each size, on every core this process may use: the full decode of validate (per core), the
validate stage (per core), the array cache build (decode + resize of every split, its time and
per-core rate), and the peak RssAnon (private memory; file pages the kernel can drop do not
count) of a child process that runs train's data path (load_split, then batches(..., order)
into fit) for `steps` train steps of xception_mini: the highest of `repeats` such runs. The
first size is drawn by the sample source through the download stage; a larger one replicates
those files, each copy given a JPEG comment (the same pixels, another sha256, so validate's
duplicate rules do not fire), to keep the whole bench within 30 minutes on 2 cores (13 min on an
AVX-512 EPYC).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import REPO, describe, record, write

SIZE, SEED = 180, 0
SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}  # of each class


def with_comment(jpeg: bytes, text: str) -> bytes:
    """`jpeg` with a COM segment after its SOI marker: the same pixels, other bytes."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    body = text.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body + jpeg[2:]


def replicate(src: Path, dest: Path, per_class: int) -> None:
    """Fill `dest` with cat.N.jpg and dog.N.jpg, N < per_class, as distinct copies of `src`'s."""
    dest.mkdir(parents=True, exist_ok=True)
    for label in ("cat", "dog"):
        base = sorted(src.glob(f"{label}.*.jpg"), key=lambda p: int(p.name.split(".")[1]))
        for n in range(per_class):
            data = base[n % len(base)].read_bytes()
            copy = n // len(base)
            (dest / f"{label}.{n}.jpg").write_bytes(with_comment(data, f"copy {copy}") if copy else data)


def params_for(images: int, drawn: bool = True):
    """The params at `images`; the sample source draws them only if `drawn` (it caps its draw)."""
    from tasks.core.params_file import parse_params

    per_class = images // 2
    split = {name: int(per_class * share) for name, share in SHARES.items()}
    download = {"sample_per_class": per_class} if drawn else {}
    return parse_params({"base": {"seed": SEED}, "download": download, "split": split,
                         "train": {"image_size": SIZE}}, "bench.scale")


def rss_anon_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no RssAnon")


def peak_rss_anon_mb(cmd: list[str], every: float = 0.05) -> float:
    """Run `cmd` to its end, sampling its RssAnon; the peak in MB (it must exit 0)."""
    proc, peak = subprocess.Popen(cmd, cwd=REPO), 0
    while proc.poll() is None:
        try:
            peak = max(peak, rss_anon_kb(proc.pid))
        except (OSError, RuntimeError):  # it ended between poll() and the read
            pass
        time.sleep(every)
    if proc.returncode:
        raise RuntimeError(f"{cmd} exited {proc.returncode}")
    return peak / 1024


def train_child(root: Path, steps: int, batch: int) -> None:
    """Train's data path on the project at `root` for `steps` steps (run in its own process)."""
    from tasks.core.config import Train
    from tasks.core.paths import Paths
    from tasks.runtime import backend
    from tasks.runtime.arrays import load_split

    backend.activate("tensorflow")
    paths = Paths(root)
    x, y = load_split(paths, "train", SIZE)
    xv, yv = load_split(paths, "validation", SIZE)
    from tasks.runtime.feed import batches, epoch_order
    from tasks.runtime.trainer import assemble

    fit = assemble(Train(model="xception_mini", image_size=SIZE, batch_size=batch), SEED).fit_model
    fit.fit(batches(x, y, batch, epoch_order(SEED, 0, len(x))), validation_data=batches(xv, yv, batch),
            steps_per_epoch=steps, validation_steps=2, epochs=1, verbose=0)


def measure(images: int, root: Path, base_raw: Path | None, steps: int, batch: int,
            repeats: int) -> list[dict]:
    """Every figure at one size, in the project at `root`."""
    from tasks import download, split, validate
    from tasks.contract import facts
    from tasks.core.paths import Paths
    from tasks.runtime.arrays import load_split

    params, paths = params_for(images, drawn=base_raw is None), Paths(root)
    cores = len(os.sched_getaffinity(0))
    what = f"{images:,} synthetic images"
    out, tick = [], time.perf_counter()
    if base_raw is None:
        download.run(params, paths)
        out.append(record(f"scale {images:,}: sample source through download", images / (time.perf_counter() - tick),
                          "img/s", data=what, cores=cores))
    else:
        replicate(base_raw, paths.raw, images // 2)
        what += f" ({len(list(base_raw.glob('*.jpg')))} drawn, the rest distinct copies)"
    split.run(params, paths)
    tick = time.perf_counter()
    facts.gather(paths, params.validate.max_pixels)
    out.append(record(f"scale {images:,}: full decode", images / (time.perf_counter() - tick) / cores,
                      "img/s/core", target=">= 600", data=what))
    tick = time.perf_counter()
    validate.run(params, paths)
    out.append(record(f"scale {images:,}: validate stage", images / (time.perf_counter() - tick) / cores,
                      "img/s/core", data=what))
    tick = time.perf_counter()
    for name in SHARES:
        load_split(paths, name, SIZE)
    built = time.perf_counter() - tick
    out.append(record(f"scale {images:,}: decode + resize into the 180 px cache", images / built / cores,
                      "img/s/core", target=">= 400", data=what, build_s=round(built, 1)))
    out.append(record(f"scale {images:,}: cache build time", built, "s", data=what))
    # One run's peak lands on one of two levels about 400 MB apart at any size (TensorFlow's
    # threads allocate in another order each time), so the highest of `repeats` runs is compared.
    peaks = [round(peak_rss_anon_mb([sys.executable, "-m", "bench.scale", "--train-child", str(root),
                                     "--steps", str(steps), "--batch", str(batch)]), 1)
             for _ in range(repeats)]
    out.append(record(f"scale {images:,}: train peak RssAnon, {steps} steps", max(peaks), "MB",
                      backend="tensorflow", data=what, batch=batch, runs=peaks))
    return out


def show(results: list[dict]) -> list[dict]:
    """Print `results` now (a size takes many minutes), and return them."""
    for r in results:
        print(f"{r['name']:60} {r['value']:>10.2f} {r['unit']:11} target {r['target'] or '-'}", flush=True)
    return results


def main(argv: list[str] | None = None) -> list[dict]:
    """Measure every size, print and write the figures (with the memory ratio, last to first)."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="train runs per size (the highest counts)")
    parser.add_argument("--train-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only (for tests)")
    args = parser.parse_args(argv)
    if args.train_child:
        train_child(args.train_child, args.steps, args.batch)
        return []
    results, base_raw = [], None
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        for images in args.sizes:
            root = Path(scratch) / f"p{images}"
            results += show(measure(images, root, base_raw, args.steps, args.batch, args.repeats))
            base_raw = base_raw or root / "data" / "raw"
    mem = [r for r in results if "RssAnon" in r["name"]]
    if len(mem) > 1:
        results += show([record(f"scale: train peak RssAnon, {args.sizes[-1]:,} / {args.sizes[0]:,} images",
                                mem[-1]["value"] / mem[0]["value"], "x", target="<= 1.20")])
    if not args.no_write:
        print("written:", write(results, "cpu"))
    return results


if __name__ == "__main__":
    main()
