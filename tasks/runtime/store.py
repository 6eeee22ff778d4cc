"""One uint8 array on disk that need not fit in memory: a raw .npy, memory-mapped to read, and a
JSON sidecar (<name>.json) with its shape, its size and a sha256 per 64 MiB chunk.

Written with plain file writes, one row at a time (a full disk is then an ENOSPC that names the
file, where writing through a memory map would kill the process with SIGBUS), hashed as it is
written, then published by renames: the .npy first, the sidecar last, so a killed run leaves
either no sidecar or one that fails the checks below, and never a cache that is used.

Every open checks it before use: its size, header and shape against the sidecar, and the sha256
of every chunk, read in 8 MiB pieces into one reused buffer. So a byte flipped in place (which a
size or mtime record would miss) or a cut file is caught before training reads it, at the cost of
one streaming read (~1.5 GB/s of sha256 on one core); the pages read are file pages that the
kernel may drop, not the process's private memory, and they warm the cache train reads next.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Self

import numpy as np

from tasks.core.errors import writing

CHUNK = 64 << 20  # bytes per checksum
PIECE = 8 << 20  # bytes per read while checking


class Damaged(Exception):
    """The stored array fails a check; the message says which."""


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def remove(path: Path) -> None:
    """Delete the array and its sidecar (the sidecar first: a half-removed pair is never used)."""
    sidecar(path).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


class _Chunks:
    """sha256 per CHUNK bytes of a stream, fed in pieces of any size."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.hash, self.fill = hashlib.sha256(), 0

    def update(self, data: memoryview) -> None:
        while len(data):
            take = min(len(data), CHUNK - self.fill)
            self.hash.update(data[:take])
            data, self.fill = data[take:], self.fill + take
            if self.fill == CHUNK:
                self.done.append(self.hash.hexdigest())
                self.hash, self.fill = hashlib.sha256(), 0

    def digests(self) -> list[str]:
        return self.done + ([self.hash.hexdigest()] if self.fill else [])


class Writer:
    """`with Writer(path, shape) as w: w.append(row)` for each of shape[0] rows, in order."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.path, self.shape, self.rows = path, shape, 0
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.side_tmp = path.with_name(f".{sidecar(path).name}.tmp-{os.getpid()}")
        self.chunks = _Chunks()

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for name in (self.path.name, sidecar(self.path).name):  # a killed run's copies
            for stale in self.path.parent.glob(f".{name}.tmp-*"):
                stale.unlink(missing_ok=True)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                      "shape": self.shape})
        with writing(self.path):
            self.fh = open(self.tmp, "wb")
            self.fh.write(header.getbuffer())
        self.chunks.update(header.getbuffer())
        return self

    def append(self, row: np.ndarray) -> None:
        if row.shape != self.shape[1:] or row.dtype != np.uint8:
            raise ValueError(f"{self.path}: row {self.rows} is {row.dtype} {row.shape}, "
                             f"expected uint8 {self.shape[1:]}")
        data = memoryview(np.ascontiguousarray(row)).cast("B")
        with writing(self.path):
            self.fh.write(data)
        self.chunks.update(data)
        self.rows += 1

    def __exit__(self, kind, err, tb) -> None:
        try:
            with writing(self.path):
                self.fh.close()
                if kind is not None:
                    return
                if self.rows != self.shape[0]:
                    raise ValueError(f"{self.path}: {self.rows} rows written, expected {self.shape[0]}")
                meta = {"shape": list(self.shape), "dtype": "uint8", "bytes": self.tmp.stat().st_size,
                        "chunk_bytes": CHUNK, "sha256": self.chunks.digests()}
                sidecar(self.path).unlink(missing_ok=True)
                os.replace(self.tmp, self.path)
                self.side_tmp.write_text(json.dumps(meta) + "\n")
                os.replace(self.side_tmp, sidecar(self.path))
        finally:
            self.tmp.unlink(missing_ok=True)
            self.side_tmp.unlink(missing_ok=True)


def _check_chunks(path: Path, expected: list[str]) -> None:
    buf = memoryview(bytearray(PIECE))
    chunks, checked = _Chunks(), 0
    with open(path, "rb") as fh:
        while n := fh.readinto(buf):
            chunks.update(buf[:n])
            for i in range(checked, len(chunks.done)):  # stop at the first bad chunk
                if i >= len(expected) or chunks.done[i] != expected[i]:
                    raise Damaged(f"chunk {i} (bytes {i * CHUNK}..) fails its sha256")
            checked = len(chunks.done)
    if chunks.digests() != expected:
        raise Damaged(f"chunk {len(chunks.done)} fails its sha256")


def open_checked(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The stored array, memory-mapped read-only, after every check; or Damaged saying why."""
    try:
        meta = json.loads(sidecar(path).read_text())
        stored = tuple(meta["shape"])
        if stored != shape or meta["dtype"] != "uint8":
            raise Damaged(f"holds {meta['dtype']} {stored}, expected uint8 {shape}")
        if (size := path.stat().st_size) != meta["bytes"]:
            raise Damaged(f"{size} bytes, expected {meta['bytes']} (cut short or grown)")
        if meta["chunk_bytes"] != CHUNK:
            raise Damaged(f"chunks of {meta['chunk_bytes']} bytes, expected {CHUNK}")
        _check_chunks(path, list(meta["sha256"]))
        x = np.load(path, mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise Damaged(f"{type(err).__name__}: {err}") from None
    if x.shape != shape or x.dtype != np.uint8:
        raise Damaged(f"header says {x.dtype} {x.shape}, expected uint8 {shape}")
    return x
