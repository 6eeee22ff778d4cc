"""Odd but legitimate inputs for predict, shared by the unit tests and the reliability suite:
16-bit PNGs, photos stored sideways with an EXIF orientation, huge JPEGs, a FIFO named .jpg.
Each maker writes the file at `path` and returns it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

ORIENTATION = 0x0112  # the EXIF tag; 6 = "rotate 90 clockwise to view", as phones store portraits


def sixteen_bit_png(path: Path, grey: np.ndarray) -> Path:
    """A 16-bit greyscale PNG (Pillow opens it as mode I;16) of an 8-bit array: value v -> v*257,
    so a correct reader gets `grey` back exactly."""
    Image.fromarray(grey.astype(np.uint16) * 257).save(path)
    return path


def blocky(rgb: np.ndarray, block: int = 16) -> np.ndarray:
    """`rgb` (H, W multiples of `block`) made of flat block x block squares: JPEG stores those
    almost exactly (quality 100, no chroma subsampling), so a rotated copy decodes to the same
    pixels rotated, within a level or two."""
    h, w = rgb.shape[0] // block, rgb.shape[1] // block
    small = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
    return small.repeat(block, axis=0).repeat(block, axis=1)


def jpeg(path: Path, rgb: np.ndarray, orientation: int | None = None) -> Path:
    """`rgb` as a near-lossless JPEG, with an EXIF orientation tag if given."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    Image.fromarray(rgb).save(path, quality=100, subsampling=0, exif=exif.tobytes())
    return path


def sideways_jpeg(path: Path, upright: np.ndarray) -> Path:
    """The photo a phone held upright stores: pixels turned 90 degrees counter-clockwise and
    Orientation=6, which tells viewers to turn them back clockwise."""
    return jpeg(path, np.ascontiguousarray(np.rot90(upright, 1)), orientation=6)


def huge_jpeg(path: Path, side: int, seed: int = 0) -> Path:
    """A side x side photo-like JPEG (smooth shapes and gradients, as a photo is at this scale):
    a handful of random discs over a gradient, blurred by upscaling a small drawing."""
    rng = np.random.default_rng(seed)
    small = 96
    yy, xx = np.mgrid[0:small, 0:small]
    img = np.stack([xx * 2.5, yy * 2.5, (xx + yy) * 1.2], axis=-1)
    for _ in range(12):
        cy, cx, r = rng.integers(0, small, 2).tolist() + [int(rng.integers(5, 25))]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    drawing = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    drawing.resize((side, side), Image.BICUBIC).save(path, quality=90)
    return path


def fifo(path: Path) -> Path:
    """A named pipe: opening it for reading blocks until a writer comes, which none will."""
    os.mkfifo(path)
    return path
