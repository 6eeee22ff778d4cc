"""Decoded, resized image arrays per (split, image size), cached as uint8 under data/cache.

JPEG decoding dominates a small convnet's epoch on CPU, so each image is decoded and resized
once, in parallel, and every later epoch (and the evaluate stage) reads the array store. The
cache key includes the content hashes of the accepted manifest, so it can never go stale.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.core.errors import StageError, writing
from tasks.core.io import sha256_file
from tasks.core.paths import LABELS, Paths

log = logging.getLogger("tasks.runtime.arrays")
CODE_HASH = sha256_file(Path(__file__))


def _axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Half-pixel centres, clamped at the edges: tf.image.resize(method="bilinear",
    # antialias=False), which is what image_dataset_from_directory uses.
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(pos)
    lo = np.clip(base, 0, n_in - 1).astype(np.intp)
    hi = np.clip(base + 1, 0, n_in - 1).astype(np.intp)
    return lo, hi, (pos - base).astype(np.float32)


def resize_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an HxWxC uint8 array to size x size exactly as image_dataset_from_directory does,
    rounded back to uint8."""
    ylo, yhi, fy = _axis(img.shape[0], size)
    xlo, xhi, fx = _axis(img.shape[1], size)
    pix = img.astype(np.float32)
    fx = fx[None, :, None]
    top = pix[ylo][:, xlo] * (1 - fx) + pix[ylo][:, xhi] * fx
    bottom = pix[yhi][:, xlo] * (1 - fx) + pix[yhi][:, xhi] * fx
    out = top * (1 - fy[:, None, None]) + bottom * fy[:, None, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def load_image(job: tuple[Path, int]) -> np.ndarray:
    """Decode one file to RGB (grayscale and CMYK are converted) and resize it."""
    path, size = job
    try:
        with Image.open(path) as img:
            return resize_bilinear(np.asarray(img.convert("RGB")), size)
    except Exception as err:  # the validate stage should have caught it; name the file anyway
        raise StageError(f"{path}: cannot decode: {type(err).__name__}: {err}") from None


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of an accepted manifest, or a StageError naming the file."""
    if not path.is_file():
        raise StageError(f"{path}: not found; run the validate stage first")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def split_rows(paths: Paths, split: str) -> list[dict[str, str]]:
    """The accepted manifest's rows of one split, in the order load_split returns them."""
    rows = [r for r in read_manifest(paths.accepted_manifest) if r["split"] == split]
    if not rows:
        raise StageError(f"{paths.accepted_manifest}: no images in split {split!r}")
    return rows


def load_split(paths: Paths, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, size, size, 3) uint8 and labels (N,) int (1 = dog) of one split."""
    rows = split_rows(paths, split)
    # Keyed by content and by this module's code, so neither new data nor a changed resize
    # can be served stale arrays.
    key = hashlib.sha256(CODE_HASH.encode())
    key.update("".join(f"{r['path']}:{r['sha256']};" for r in rows).encode())
    cache = paths.array_cache / f"{split}-{size}px-{key.hexdigest()[:16]}.npz"
    labels = np.array([LABELS.index(r["label"]) for r in rows], dtype=np.int32)
    if cache.is_file():
        with np.load(cache) as stored:
            return stored["x"], labels
    jobs = [(paths.split / r["path"], size) for r in rows]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        x = np.stack(list(pool.map(load_image, jobs, chunksize=32)))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.npz")
    try:
        with writing(cache):
            np.savez(tmp, x=x)
        os.replace(tmp, cache)  # a killed run leaves no half-written cache entry
    finally:
        tmp.unlink(missing_ok=True)  # a failed one leaves no partial file either
    log.info("cached %s: %d images at %d px in %s", split, len(x), size, cache)
    return x, labels
