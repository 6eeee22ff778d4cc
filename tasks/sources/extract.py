"""Safe extraction of labelled photos from an archive or a folder into one flat raw layout.

Output names are built from the parsed label and index (`cat.12.jpg`), never from an archive's
paths, so nothing can be written outside the output folder; unsafe entries are still refused by
name, because an archive holding them is not one to trust.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from tasks.core.errors import StageError

# Kaggle names (train/cat.12.jpg) first, then class folders (cats/12.jpg, PetImages/Dog/12.jpg).
KAGGLE_NAME = re.compile(r"^(cat|dog)\.(\d+)\.jpe?g$", re.IGNORECASE)
CLASS_FOLDER = {"cat": "cat", "cats": "cat", "dog": "dog", "dogs": "dog"}
NUMBERED = re.compile(r"^(\d+)\.jpe?g$", re.IGNORECASE)
MAX_TOTAL_BYTES = 8 << 30  # Kaggle's train.zip unpacks to ~0.6 GB; 8 GB means a zip bomb.
MAX_RATIO = 200  # JPEGs barely compress; a member inflating 200x is not a photo.
Seen = dict[tuple[str, int], str]


class CorruptArchive(StageError):
    """The archive itself is damaged (truncated, bad CRC, not a zip): a fresh copy may do."""


def classify(member: str) -> tuple[str, int] | None:
    """Map an archive path to (label, index), or None for files that carry no label."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts:
        return None
    if m := KAGGLE_NAME.match(parts[-1]):
        return m.group(1).lower(), int(m.group(2))
    if len(parts) >= 2 and (label := CLASS_FOLDER.get(parts[-2].lower())):
        if m := NUMBERED.match(parts[-1]):
            return label, int(m.group(1))
    return None


def _check_member(info: zipfile.ZipInfo, archive: str) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in PurePosixPath(
            name.replace("\\", "/")).parts:
        raise StageError(f"{archive}: refusing unsafe entry {name!r} (it points outside the archive)")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise StageError(f"{archive}: refusing symlink entry {name!r}")
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        raise StageError(f"{archive}: refusing entry {name!r}: compression ratio "
                         f"{info.file_size / info.compress_size:.0f} exceeds {MAX_RATIO} (zip bomb?)")


def extract_zip(archive: Path, out: Path, seen: Seen, label: str) -> None:
    """Copy every labelled image in `archive` (recursing into nested zips) to `out`."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(info, label)
            if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
                raise StageError(f"{label}: refusing archive: it unpacks to more than "
                                 f"{MAX_TOTAL_BYTES / 2**30:g} GiB (zip bomb?)")
            for info in tqdm(infos, desc=f"extract {Path(label).name}", unit="file", leave=False):
                if info.is_dir():
                    continue
                if info.filename.lower().endswith(".zip"):
                    fd, nested = tempfile.mkstemp(prefix=".nested-", suffix=".zip", dir=out)
                    with zf.open(info) as src, os.fdopen(fd, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    extract_zip(Path(nested), out, seen, f"{label}!{info.filename}")
                    os.unlink(nested)
                elif key := classify(info.filename):
                    _claim(seen, key, f"{label}!{info.filename}")
                    with zf.open(info) as src, open(out / f"{key[0]}.{key[1]}.jpg", "wb") as dst:
                        shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error,
            NotImplementedError, RuntimeError) as err:  # corrupt, unsupported or encrypted
        raise CorruptArchive(f"{label}: corrupt or truncated archive: {err}") from None


def _claim(seen: Seen, key: tuple[str, int], origin: str) -> None:
    if key in seen:
        raise StageError(f"{origin} and {seen[key]} both map to {key[0]}.{key[1]}.jpg")
    seen[key] = origin


def copy_folder(folder: Path, out: Path, seen: Seen) -> None:
    """Copy every labelled image under `folder` to `out`, refusing symlinks."""
    for src in tqdm(sorted(folder.rglob("*")), desc=f"copy {folder.name}", unit="file", leave=False):
        if src.is_symlink():
            raise StageError(f"{src}: refusing a symlink in the source folder")
        if src.is_file() and (key := classify(src.relative_to(folder).as_posix())):
            _claim(seen, key, str(src))
            shutil.copyfile(src, out / f"{key[0]}.{key[1]}.jpg")
