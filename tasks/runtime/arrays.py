"""Decoded, resized image arrays per (split, image size), cached as uint8 under data/cache.

JPEG decoding dominates a small convnet's epoch on CPU, so each image is decoded and resized
once, in parallel, and every later epoch (and the evaluate stage) reads the array store
(tasks/runtime/store.py: memory-mapped, so a split need not fit in memory, and checked before
use). The cache key includes the content hashes of the accepted manifest, so it never goes stale.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tasks.core.errors import StageError
from tasks.core.io import sha256_file
from tasks.core.paths import LABELS, Paths
from tasks.runtime import images, store

log = logging.getLogger("tasks.runtime.arrays")
# This module, the store and the image reader: a changed decode, resize or format must not be
# served stale arrays.
CODE_HASH = "".join(sha256_file(Path(f)) for f in (__file__, store.__file__, images.__file__))


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
    """Images (N, size, size, 3) uint8, memory-mapped from the cache (read-only), and labels
    (N,) int (1 = dog) of one split. A damaged cache is named, deleted and rebuilt."""
    rows = split_rows(paths, split)
    # Keyed by content and by the decoding code, so neither new data nor a changed resize
    # can be served stale arrays.
    key = hashlib.sha256(CODE_HASH.encode())
    key.update("".join(f"{r['path']}:{r['sha256']};" for r in rows).encode())
    cache = paths.array_cache / f"{split}-{size}px-{key.hexdigest()[:16]}.npy"
    labels = np.array([LABELS.index(r["label"]) for r in rows], dtype=np.int32)
    shape = (len(rows), size, size, 3)
    if cache.is_file() or store.sidecar(cache).is_file():
        try:
            return store.open_checked(cache, shape), labels
        except store.Damaged as err:
            log.warning("damaged array cache %s (%s): deleted, rebuilding it from the images", cache, err)
            store.remove(cache)
    files = [paths.split / r["path"] for r in rows]
    started, cores = time.perf_counter(), len(os.sched_getaffinity(0))
    log.info("decoding %d %s images to %d px on %d cores", len(files), split, size, cores)
    # Every core decodes; this process only appends each image to the file as it comes, so its
    # memory holds a few images, not the split.
    with ProcessPoolExecutor(max_workers=cores) as pool, \
            store.Writer(cache, shape) as out:
        decoded = pool.map(images.read_image, files, [size] * len(files), chunksize=32)
        # A bar with ETA on a terminal only (disable=None): piped logs keep one line per event.
        for img in tqdm(decoded, total=len(files), desc=f"decode {split} to {size} px", unit="img",
                        mininterval=1.0, disable=None):
            out.append(img)
    seconds = time.perf_counter() - started
    log.info("cached %s: %d images at %d px in %s (%.0f s, %.0f img/s)", split, len(files), size,
             cache, seconds, len(files) / max(seconds, 1e-9))
    return np.load(cache, mmap_mode="r"), labels
