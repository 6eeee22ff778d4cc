"""Kaggle's submission CSV: `id,label` (1 = dog, 0 = cat) for test1/N.jpg files, sorted by id.

A file's id is its name without the suffix, in ASCII digits only: `١.jpg` and `².jpg` are digits
to Python's str.isdigit, and `x1.jpg` is no test photo, so each is refused, naming it. A leading
zero is allowed (`01.jpg` is id 1), so `01.jpg` beside `1.jpg` is a duplicate id, refused naming
both: Kaggle scores one row per id.

The target is checked before any work, and a file that is not an earlier submission is never
overwritten unless the caller forces it: `--submission params.yaml` is a slip of the tab key.
"""
from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from pathlib import Path

from tasks.core.errors import StageError
from tasks.core.io import atomic_write_bytes

HEADER = "id,label"
ID = re.compile(r"[0-9]+")  # not \d, which matches any Unicode digit


def is_submission(path: Path) -> bool:
    """Whether `path` is a regular file whose first line is exactly Kaggle's header."""
    if not path.is_file():  # before opening: a FIFO would block the open
        return False
    try:
        with open(path, "rb") as fh:
            return fh.readline(64).rstrip(b"\r\n") == HEADER.encode()
    except OSError:
        return False


def check_target(path: Path, force: bool = False) -> Path:
    """`path` if a submission may be written there, else a StageError naming it and why."""
    folder = path.parent
    if path.is_dir():
        raise StageError(f"{path}: is a folder; give the CSV file to write, e.g. {path / 'submission.csv'}")
    if not folder.is_dir():
        raise StageError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StageError(f"{path}: folder {folder} is not writable")
    if path.exists() and not force and not is_submission(path):
        raise StageError(f"{path}: exists and is not an earlier submission (its first line is not "
                         f"{HEADER!r}); refusing to overwrite it (--force to replace it)")
    return path


def ids(files: Iterable[Path]) -> dict[Path, int]:
    """Each file's Kaggle id (see above), or a StageError naming a file that has none, or both
    files that share one."""
    owner: dict[int, Path] = {}
    for path in files:
        if not ID.fullmatch(path.stem):
            raise StageError(f"{path}: not a Kaggle test id: a submission's photos must be named "
                             "by their id in ASCII digits, as test1/123.jpg")
        n = int(path.stem)
        if n in owner:
            also = "the same file, given twice" if owner[n] == path else f"also {owner[n]}"
            raise StageError(f"{path}: id {n} again ({also}); a submission has one row per id")
        owner[n] = path
    return {path: n for n, path in owner.items()}


def write(labels: Iterable[tuple[Path, str]], out: Path) -> Path:
    """Write the rows for the (file, label) pairs, sorted by id, atomically; refused (nothing
    written) unless `ids` accepts the files."""
    pairs = list(labels)
    by_id = ids(path for path, _ in pairs)
    rows = sorted((by_id[path], int(label == "dog")) for path, label in pairs)
    text = io.StringIO(newline="")
    csv.writer(text).writerows([HEADER.split(","), *rows])
    return atomic_write_bytes(out, text.getvalue().encode())
