"""Small helpers every stage shares: the stage error, atomic writes, hashing."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

LABELS = ("cat", "dog")
SPLITS = ("train", "validation", "test")
# The one raw layout every source is normalised to: data/raw/cat.12.jpg, data/raw/dog.7.jpg.
RAW_NAME = re.compile(r"^(cat|dog)\.(\d+)\.jpg$")


class StageError(RuntimeError):
    """A stage refused its input. The message names the file or key and says why."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large archives never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty sibling temp dir; on success it replaces `final` in one rename.

    A crash or an exception leaves `final` as it was (or absent) and removes the temp dir, so a
    half-written output is never mistaken for a finished one.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temp file and a rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, obj: object) -> Path:
    """Atomically write `obj` as pretty, key-sorted JSON (stable diffs in git)."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
