"""Kaggle's submission CSV: `id,label` (1 = dog, 0 = cat) for test1/N.jpg files, sorted by id.

The target is checked before any work, and a file that is not an earlier submission is never
overwritten unless the caller forces it: `--submission params.yaml` is a slip of the tab key.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from tasks.core.errors import StageError
from tasks.core.io import atomic_write_bytes

HEADER = "id,label"


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


def write(labels: Iterable[tuple[Path, str]], out: Path) -> Path:
    """Write the rows for the (file, label) pairs whose name is a number, atomically."""
    rows = sorted((int(path.stem), int(label == "dog")) for path, label in labels if path.stem.isdigit())
    text = io.StringIO(newline="")
    csv.writer(text).writerows([HEADER.split(","), *rows])
    return atomic_write_bytes(out, text.getvalue().encode())
