"""Say what a file given as an archive really is, by its first bytes, and what to do instead."""
from __future__ import annotations

from pathlib import Path

from tasks.core.errors import StageError

# What a file that is not a zip is, by its first bytes, and what to do instead.
NOT_ZIP = ((b"\x1f\x8b", "a gzip file (.tar.gz?): tar.gz is not supported, unpack it and point "
                        "download.path at the folder"),
           (b"BZh", "a bzip2 file (.tar.bz2?): unpack it and point download.path at the folder"),
           (b"\xfd7zXZ", "an xz file (.tar.xz?): unpack it and point download.path at the folder"),
           (b"7z\xbc\xaf", "a 7-Zip archive: unpack it and point download.path at the folder"),
           (b"Rar!", "a RAR archive: unpack it and point download.path at the folder"),
           (b"\xff\xd8\xff", "a JPEG photo: point download.path at the zip, or at the folder "
                             "holding the photos"),
           (b"\x89PNG", "a PNG image: point download.path at the zip, or at the folder holding "
                        "the photos"))


def not_a_zip(archive: Path, label: str) -> None:
    """Refuse a file that is no zip at all, saying what it is; a damaged zip is CorruptArchive."""
    with open(archive, "rb") as fh:
        head = fh.read(512)
    for magic, what in NOT_ZIP:
        if head.startswith(magic):
            raise StageError(f"{label}: not a zip archive: it is {what}")
    if len(head) > 262 and head[257:262] == b"ustar":
        raise StageError(f"{label}: not a zip archive: it is a tar file: unpack it and point "
                         "download.path at the folder")
