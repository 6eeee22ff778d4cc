"""Atomic writes, hashing and linking: every stage output appears whole or not at all."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tasks.core.errors import StageError, writing


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large archives never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sweep(final: Path) -> None:
    """Remove temp and old siblings that a killed run left behind (they hold full copies)."""
    for stale in final.parent.glob(f".{final.name}.*-*"):
        if stale.name.startswith((f".{final.name}.tmp-", f".{final.name}.old-")):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty sibling temp dir that replaces `final` only if the block succeeds.

    Until the swap, `final` is untouched; an exception or a kill leaves it as it was (or absent)
    and never half-written. The swap is two renames (old aside, new in); if the second fails the
    old output is put back. Leftovers of a killed run are swept on the next call.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    _sweep(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would make outputs private
    try:
        with writing(final):  # every write of the block lands in this output
            yield tmp
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / final.name)
        try:
            os.replace(tmp, final)
        except BaseException:
            if old is not None:
                os.replace(old / final.name, final)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temp file and a rename: readers see all or nothing.
    A temp file that a killed run left beside `path` is swept first: some of these folders
    (data/metrics) are committed, where it would show up as an untracked file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private
        with writing(path), os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: Path, stage: str) -> dict:
    """A JSON output of `stage`, or a StageError naming the file and the stage to run."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path}: not found; run the {stage} stage first") from None
    except json.JSONDecodeError as err:
        raise StageError(f"{path}: not valid JSON ({err}); rerun the {stage} stage") from None


def write_json(path: Path, obj: object) -> Path:
    """Atomically write `obj` as pretty, key-sorted JSON (stable diffs in git)."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def link_or_copy(src: Path, dst: Path) -> None:
    """Put `src` at `dst` as a hard link (no disk doubled, the source untouched), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
