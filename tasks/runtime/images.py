"""Read one image file as the model's input: size x size RGB uint8.

One reader serves training (the array cache) and predict, so a model sees every photo the same
way in both. It reads regular files only, applies the EXIF orientation, scales 16-bit pixels to
8 bits, decodes JPEGs far larger than the target at reduced scale, and then resizes exactly as
image_dataset_from_directory does.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from tasks.core.errors import StageError

# A JPEG at least 2 * DRAFT_KEEP times the target on both sides is decoded at 1/2, 1/4 or 1/8
# scale (libjpeg's DCT scaling), never below DRAFT_KEEP times the target: a 13000 px photo then
# takes 8 MB instead of 500 MB, and every photo of the Kaggle data decodes in full, as in the book.
DRAFT_KEEP = 8
SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # "I": how older Pillow opens 16-bit PNGs


def _axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Half-pixel centres, clamped at the edges: tf.image.resize(method="bilinear",
    # antialias=False), which is what image_dataset_from_directory uses.
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(pos)
    lo = np.clip(base, 0, n_in - 1).astype(np.intp)
    hi = np.clip(base + 1, 0, n_in - 1).astype(np.intp)
    return lo, hi, (pos - base).astype(np.float32)


def resize_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an HxWxC uint8 array to size x size exactly as image_dataset_from_directory does,
    rounded back to uint8."""
    h, w, c = img.shape
    ylo, yhi, fy = _axis(h, size)
    xlo, xhi, fx = _axis(w, size)
    # Two separable passes on rows of W*C values: the `size` pairs of sampled rows blended
    # first (only they become float), then pairs of columns, each channel's its own. Gathers on
    # a 2-D array, in place where possible: twice the speed of gathering four corners in 3-D.
    flat = img.reshape(h, w * c)
    fy = fy[:, None]
    rows = flat[ylo].astype(np.float32)
    rows *= 1 - fy
    rows += flat[yhi] * fy
    channel = np.arange(c)
    fx = np.repeat(fx, c)
    out = np.take(rows, (xlo[:, None] * c + channel).ravel(), axis=1)
    out *= 1 - fx
    out += np.take(rows, (xhi[:, None] * c + channel).ravel(), axis=1) * fx
    np.rint(out, out=out)
    return np.clip(out, 0, 255, out=out).astype(np.uint8).reshape(size, size, c)


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for binary reading, or a StageError if it is not a regular file: reading a
    FIFO blocks until some writer comes, and a device file may never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO without it blocks already
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StageError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _oriented(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # unreadable EXIF: the pixels as stored, which is what tf.io.decode_jpeg gives
        img.load()
        return img


def to_rgb(img: Image.Image) -> np.ndarray:
    """HxWx3 uint8 pixels of a decoded image. 16-bit grey is scaled to 8 bits (Pillow's own
    conversion clips it, turning most of a photo white); every other mode converts as Pillow does."""
    if img.mode not in SIXTEEN_BIT:
        return np.asarray(img.convert("RGB"))
    wide = np.asarray(img).astype(np.int64)
    if wide.size and (wide.min() < 0 or wide.max() > 0xFFFF):
        raise StageError(f"mode {img.mode} with values outside 0..65535 (not a 16-bit image)")
    grey = ((wide * 255 + 0x7FFF) // 0xFFFF).astype(np.uint8)  # round(v * 255 / 65535)
    return np.repeat(grey[..., None], 3, axis=2)


def read_image(path: Path, size: int) -> np.ndarray:
    """Decode one file to (size, size, 3) uint8, or a StageError naming it."""
    try:
        with open_regular(path) as fh, Image.open(fh) as img:
            if img.format == "JPEG" and min(img.size) >= 2 * DRAFT_KEEP * size:
                img.draft("RGB", (DRAFT_KEEP * size, DRAFT_KEEP * size))
            return resize_bilinear(to_rgb(_oriented(img)), size)
    except StageError as err:
        if str(err).startswith(str(path)):
            raise
        raise StageError(f"{path}: {err}") from None
    except Exception as err:  # the validate stage should have caught it; name the file anyway
        raise StageError(f"{path}: cannot decode: {type(err).__name__}: {err}") from None
