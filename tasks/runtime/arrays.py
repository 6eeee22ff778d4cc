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
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from tasks.core.errors import StageError, writing
from tasks.core.io import sha256_file
from tasks.core.paths import LABELS, Paths
from tasks.runtime import images

log = logging.getLogger("tasks.runtime.arrays")
# This module and the image reader: a changed decode or resize must not be served stale arrays.
CODE_HASH = sha256_file(Path(__file__)) + sha256_file(Path(images.__file__))


def _cached(cache: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The arrays stored in `cache`, or None when the file is damaged (a flipped byte fails the
    zip's CRC-32, a cut one its directory; a wrong shape or type is refused too): it is then
    deleted, with a warning naming it, so the caller rebuilds it from the images."""
    try:
        with np.load(cache) as stored:
            x = stored["x"]  # reads the whole member, so zipfile checks its CRC-32
        if x.shape == shape and x.dtype == np.uint8:
            return x
        problem = f"holds {x.dtype} {x.shape}, expected uint8 {shape}"
    except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, EOFError, OSError) as err:
        problem = f"{type(err).__name__}: {err}"
    log.warning("damaged array cache %s (%s): deleted, rebuilding it from the images", cache, problem)
    cache.unlink(missing_ok=True)
    return None


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
    # Keyed by content and by the decoding code, so neither new data nor a changed resize
    # can be served stale arrays.
    key = hashlib.sha256(CODE_HASH.encode())
    key.update("".join(f"{r['path']}:{r['sha256']};" for r in rows).encode())
    cache = paths.array_cache / f"{split}-{size}px-{key.hexdigest()[:16]}.npz"
    labels = np.array([LABELS.index(r["label"]) for r in rows], dtype=np.int32)
    if cache.is_file() and (x := _cached(cache, (len(rows), size, size, 3))) is not None:
        return x, labels
    files = [paths.split / r["path"] for r in rows]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        x = np.stack(list(pool.map(images.read_image, files, [size] * len(files), chunksize=32)))
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
