"""Data-path throughput: download + extract (MB/s), split and manifest (images/s), full-decode
validation and decode + resize into the training cache (images/s per core).

    python -m bench.data [--repeats 3]

It reads the real Kaggle photos of ../shared/data/dogs-vs-cats-mini.zip through the `local`
source when that file exists, else an archive of the embedded sample. Each stage runs its own
`run()` on a fresh directory, so every repeat is a cold run of that stage.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from bench.harness import REPO, describe, median_seconds, record, write
from tasks import download, split, validate
from tasks.contract import facts
from tasks.core.config import Params
from tasks.core.params_file import parse_params
from tasks.core.paths import Paths
from tasks.runtime.arrays import load_split
from tasks.sources.sample import write_sample_archive

MINI_ZIP = REPO.parent / "shared" / "data" / "dogs-vs-cats-mini.zip"
PER_CLASS = {"train": 100, "validation": 50, "test": 100}  # the mini zip holds 300 per class


def params_for(archive: Path) -> Params:
    """Local source on `archive`, the split that fits the mini zip, quarantine for its one
    cross-split duplicate."""
    return parse_params({"download": {"source": "local", "path": str(archive)}, "split": PER_CLASS,
                         "validate": {"on_failure": "quarantine"}}, "bench")


def prepare(scratch: Path) -> tuple[Params, Paths, Path, str]:
    """A validated project in `scratch`/base on the mini zip (else the sample): its params,
    paths, the archive it read, and what that archive holds."""
    archive, what = MINI_ZIP, "Kaggle photos (mini zip)"
    if not archive.exists():
        archive, what = write_sample_archive(scratch / "sample.zip", 300, seed=0), "synthetic sample"
    params, base = params_for(archive), Paths(scratch / "base")
    download.run(params, base)
    split.run(params, base)
    validate.run(params, base)
    return params, base, archive, what


def main(argv: list[str] | None = None) -> None:
    """Measure, print and write the data-path figures."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        params, base, archive, what = prepare(scratch)  # the inputs of the later stages, made once
        images = 2 * sum(PER_CLASS.values())

        def fresh(name: str, keep: tuple[str, ...]) -> Paths:
            paths = Paths(scratch / name)
            shutil.rmtree(paths.root, ignore_errors=True)
            for part in keep:
                shutil.copytree(base.root / part, paths.root / part, copy_function=os.link)
            return paths

        raw_images = sum(1 for _ in base.raw.iterdir())
        dl, _ = median_seconds(lambda: download.run(params, fresh("dl", ())), args.repeats)
        sp, _ = median_seconds(lambda: split.run(params, fresh("sp", ("data/raw",))), args.repeats)
        va, _ = median_seconds(lambda: validate.run(params, fresh("va", ("data/raw", "data/split"))), args.repeats)
        de, _ = median_seconds(lambda: facts.gather(base, params.validate.max_pixels), args.repeats)
        paths = fresh("ca", ("data/raw", "data/split", "data/validate"))

        def cache_all() -> None:
            shutil.rmtree(paths.array_cache, ignore_errors=True)
            for name in ("train", "validation", "test"):
                load_split(paths, name, 180)

        ca, _ = median_seconds(cache_all, args.repeats)
        accepted = sum(len(load_split(paths, n, 180)[1]) for n in ("train", "validation", "test"))
    mb = archive.stat().st_size / 1e6
    results = [
        record("download + extract (local archive)", mb / dl, "MB/s", data=what, images=raw_images),
        record("split + manifest", images / sp, "images/s", data=what),
        record("full-decode validation: the decode", images / de / cores, "images/s/core", target=">= 600",
               data=what),
        record("validate stage (decode + GX suite + Data Docs)", images / va, "images/s", data=what),
        record("decode + resize to the 180 px cache", accepted / ca / cores, "images/s/core", data=what),
    ]
    for r in results:
        print(f"{r['name']:40} {r['value']:>10.1f} {r['unit']:14} target {r['target'] or '-'}")
    print("written:", write(results, "cpu"))


if __name__ == "__main__":
    main()
