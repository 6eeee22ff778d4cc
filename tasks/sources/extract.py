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
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from tasks.core.config import MAX_ARCHIVE_BYTES
from tasks.core.errors import StageError
from tasks.sources.sniff import not_a_zip

# Kaggle names (train/cat.12.jpg) first, then class folders (cats/12.jpg, PetImages/Dog/12.jpg).
# ASCII digits only: str.isdigit() and \\d also take "١٢٣", which int() reads as 123.
KAGGLE_NAME = re.compile(r"^(cat|dog)\.([0-9]+)\.jpe?g$", re.IGNORECASE | re.ASCII)
CLASS_FOLDER = {"cat": "cat", "cats": "cat", "dog": "dog", "dogs": "dog"}
NUMBERED = re.compile(r"^([0-9]+)\.jpe?g$", re.IGNORECASE | re.ASCII)
MAX_INDEX_DIGITS = 9  # Kaggle's indices have 5; a longer one is no photo's (and int() caps at 4300)
MAX_TOTAL_BYTES = MAX_ARCHIVE_BYTES  # Kaggle's train.zip unpacks to ~0.6 GB: more is a zip bomb
MAX_RATIO = 200  # JPEGs barely compress; a member inflating 200x is not a photo.
Seen = dict[tuple[str, int], str]  # (label, index) -> where it came from


class CorruptArchive(StageError):
    """The archive itself is damaged (truncated, bad CRC, not a zip): a fresh copy may do."""


@dataclass
class Found:
    """What extraction has found so far, across nested zips and sources: each labelled image's
    origin, the entries skipped for want of a label, and the bytes still allowed to unpack
    (one budget for every level, so nesting cannot multiply the cap)."""
    images: Seen = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    budget: int = field(default_factory=lambda: MAX_TOTAL_BYTES)


def _index(digits: str, member: str, where: str) -> int:
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_INDEX_DIGITS:
        shown = member if len(member) <= 120 else f"{member[:60]}...{member[-20:]}"
        raise StageError(f"{where}: refusing entry {shown!r}: its index has {len(significant)} "
                         f"digits (at most {MAX_INDEX_DIGITS})")
    return int(significant)


def classify(member: str, where: str = "") -> tuple[str, int] | None:
    """Map an archive path to (label, index), or None for files that carry no label. `where`
    (the archive or folder) names the source in a refusal of an index too long to be one."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts:
        return None
    if m := KAGGLE_NAME.match(parts[-1]):
        return m.group(1).lower(), _index(m.group(2), member, where)
    if len(parts) >= 2 and (label := CLASS_FOLDER.get(parts[-2].lower())):
        if m := NUMBERED.match(parts[-1]):
            return label, _index(m.group(1), member, where)
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
    classify(name, archive)  # an index too long to be one is refused here, before any write


def _reserve(infos: list[zipfile.ZipInfo], found: Found, label: str) -> None:
    """Take this level's declared size from the one budget of every level. zipfile never
    inflates an entry past its declared size, so the budget bounds what is written."""
    declared = sum(i.file_size for i in infos)
    if declared > found.budget:
        around = "" if "!" not in label else ", counting what the archives around it hold"
        raise StageError(f"{label}: refusing archive: it unpacks to more than "
                         f"{MAX_TOTAL_BYTES / 2**30:g} GiB{around} (zip bomb?)")
    found.budget -= declared


def extract_zip(archive: Path, out: Path, found: Found, label: str) -> None:
    """Copy every labelled image in `archive` (recursing into nested zips) to `out`."""
    if not zipfile.is_zipfile(archive):
        not_a_zip(archive, label)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(info, label)
            _reserve(infos, found, label)
            for info in tqdm(infos, desc=f"extract {Path(label).name}", unit="file", leave=False):
                if info.is_dir():
                    continue
                if info.filename.lower().endswith(".zip"):
                    fd, nested = tempfile.mkstemp(prefix=".nested-", suffix=".zip", dir=out)
                    with zf.open(info) as src, os.fdopen(fd, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    extract_zip(Path(nested), out, found, f"{label}!{info.filename}")
                    os.unlink(nested)
                elif key := classify(info.filename, label):
                    _claim(found, key, f"{label}!{info.filename}")
                    with zf.open(info) as src, open(out / f"{key[0]}.{key[1]}.jpg", "wb") as dst:
                        shutil.copyfileobj(src, dst)
                else:
                    found.skipped.append(f"{label}!{info.filename}")
    except StageError:
        raise  # a refusal of what the archive holds (StageError is a RuntimeError, caught below)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error,
            NotImplementedError, RuntimeError) as err:  # corrupt, unsupported or encrypted
        raise CorruptArchive(f"{label}: corrupt or truncated archive: {err}") from None


def _claim(found: Found, key: tuple[str, int], origin: str) -> None:
    if key in found.images:
        raise StageError(f"{origin} and {found.images[key]} both map to {key[0]}.{key[1]}.jpg "
                         "(one label and index, two files)")
    found.images[key] = origin


def copy_folder(folder: Path, out: Path, found: Found) -> None:
    """Copy every labelled image under `folder` to `out`, refusing symlinks."""
    for src in tqdm(sorted(folder.rglob("*")), desc=f"copy {folder.name}", unit="file", leave=False):
        if src.is_symlink():
            raise StageError(f"{src}: refusing a symlink in the source folder")
        if not src.is_file():
            continue
        if key := classify(src.relative_to(folder).as_posix(), str(folder)):
            _claim(found, key, str(src))
            shutil.copyfile(src, out / f"{key[0]}.{key[1]}.jpg")
        else:
            found.skipped.append(str(src))
