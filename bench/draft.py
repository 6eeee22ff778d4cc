"""Pillow's draft (libjpeg's DCT scaling at 1/2, 1/4 or 1/8) against a full decode, each followed
by the same resize (tasks.runtime.images.resize_bilinear), on the real photos of the mini zip:
decode + resize time per image and core, and the pixel difference between the two.

    python -m bench.draft [--size 180] [--limit 600]

Only photos larger than the target on both sides count (a draft of a smaller one is the full
decode). The train path drafts only JPEGs 16 times the target or more (images.DRAFT_KEEP);
this measures what drafting every photo down to the target would give instead.
"""
from __future__ import annotations

import argparse
import io
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.harness import REPO, describe, record, write
from tasks.runtime.images import resize_bilinear

MINI_ZIP = REPO.parent / "shared" / "data" / "dogs-vs-cats-mini.zip"


def photos(archive: Path, limit: int) -> list[bytes]:
    """The JPEG bytes of up to `limit` labelled photos of Kaggle's nested zip."""
    with zipfile.ZipFile(archive) as outer, zipfile.ZipFile(io.BytesIO(outer.read("train.zip"))) as train:
        names = sorted(n for n in train.namelist() if n.endswith(".jpg"))[:limit]
        return [train.read(n) for n in names]


def decode(jpeg: bytes, size: int, draft: bool) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as img:
        if draft:
            img.draft("RGB", (size, size))  # the smallest DCT scale that keeps both sides >= size
        return resize_bilinear(np.asarray(img.convert("RGB")), size)


def compare(jpegs: list[bytes], size: int) -> dict[str, float]:
    """Per-image seconds of each path, and the max and mean |difference| of their pixels."""
    big = []
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as img:
            if min(img.size) > size:
                big.append(data)
    if not big:
        raise ValueError(f"no photo larger than {size} px on both sides")
    seconds = {}
    for draft in (False, True):
        tick = time.perf_counter()
        out = [decode(data, size, draft) for data in big]
        seconds[draft] = (time.perf_counter() - tick) / len(big)
        if not draft:
            full = out
    diffs = [np.abs(a.astype(np.int16) - b) for a, b in zip(full, out, strict=True)]
    return {"photos": len(big), "full_s": seconds[False], "draft_s": seconds[True],
            "max_diff": float(max(d.max() for d in diffs)), "mean_diff": float(np.mean([d.mean() for d in diffs])),
            "p99_diff": float(np.percentile(np.concatenate([d.ravel() for d in diffs]), 99))}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure, print and write the two paths' rates and their difference."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--size", type=int, default=180)
    parser.add_argument("--limit", type=int, default=600)
    args = parser.parse_args(argv)
    if not MINI_ZIP.is_file():
        raise SystemExit(f"{MINI_ZIP}: absent; this bench needs the real photos")
    got = compare(photos(MINI_ZIP, args.limit), args.size)
    what = f"Kaggle photos (mini zip), {got['photos']} larger than {args.size} px"
    diff = {k: round(got[k], 3) for k in ("max_diff", "mean_diff", "p99_diff")}
    results = [record(f"full decode + resize to {args.size} px", 1 / got["full_s"], "img/s/core", data=what),
               record(f"draft decode + resize to {args.size} px", 1 / got["draft_s"], "img/s/core", data=what,
                      **diff)]
    for r in results:
        print(f"{r['name']:40} {r['value']:8.1f} {r['unit']}")
    print(f"draft vs full, 0-255 levels: max {got['max_diff']:.0f}, p99 {got['p99_diff']:.0f}, "
          f"mean {got['mean_diff']:.2f}")
    print("written:", write(results, "cpu"))
    return got


if __name__ == "__main__":
    main()
