"""Broken inputs shared by the unit tests and the end-to-end reliability matrix: archives the
download stage must refuse and images the validate stage must fail. Image breakers take
(target, original bytes) and write the broken file at target."""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from PIL import Image


def zip_with(path: Path, info: zipfile.ZipInfo | str, data: bytes) -> Path:
    """A deflated zip holding one harmless labelled entry and then `info` with `data`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/cat.0.jpg", b"x")
        zf.writestr(info, data)
    return path


def symlink_entry(name: str) -> zipfile.ZipInfo:
    """An entry that unpacks as a symlink, as `zip --symlinks` stores it."""
    link = zipfile.ZipInfo(name)
    link.external_attr = 0o120777 << 16
    return link


def deflated(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def forge_sizes(path: Path, file_size: int, compress_size: int) -> Path:
    """Rewrite every central-directory entry of `path` to claim these sizes. The directory is
    all an unzipper sees before it inflates anything, so this is how a bomb's headers look
    without writing gigabytes (a real 9 GiB bomb at ratio 170 would still be 55 MB)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<II", data, at + 20, compress_size, file_size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return path


def image(mode: str, size: tuple[int, int], fmt: str = "JPEG"):
    """A breaker that replaces the file by a flat image of this mode, size and format."""
    return lambda t, d: Image.new(mode, size, 128).save(t, format=fmt)


def claims_size(side: int):
    """A breaker that keeps the JPEG but patches its frame header to claim side x side pixels:
    a decompression bomb as any decoder's size check sees it, in a few kilobytes."""
    def write(target: Path, data: bytes) -> None:
        patched = bytearray(data)
        sof = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
        struct.pack_into(">HH", patched, sof + 5, side, side)
        target.write_bytes(bytes(patched))
    return write


# case: (breaker, the failing expectation's description, validate.* overrides it needs)
BROKEN = {
    "truncated JPEG": (lambda t, d: t.write_bytes(d[: len(d) // 2]), "every file decodes fully", {}),
    "zero-byte file": (lambda t, d: t.write_bytes(b""), "every file decodes fully", {}),
    "text named .jpg": (lambda t, d: t.write_bytes(b"hello, I am text"), "the real format", {}),
    "PNG named .jpg": (image("RGB", (300, 200), "PNG"), "the real format", {}),
    "CMYK": (image("CMYK", (300, 200)), "the colour mode", {}),
    "grayscale where only RGB is allowed": (image("L", (300, 200)), "the colour mode",
                                            {"allowed_modes": ["RGB"]}),
    "tiny image": (image("RGB", (20, 200)), "the shortest side", {}),
    "over the pixel cap": (image("RGB", (400, 300)), "pixels (bomb cap)", {"max_pixels": 100_000}),
    "decompression bomb header": (claims_size(20_000), "pixels (bomb cap)", {}),
}
