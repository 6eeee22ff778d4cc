"""The image reader shared by training and predict: regular files only, EXIF orientation,
16-bit depth, and huge JPEGs decoded at reduced scale."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.errors import StageError
from tasks.runtime.images import DRAFT_KEEP, read_image, resize_bilinear

from ..conftest import REPO
from ..helpers.oddimages import fifo, huge_jpeg, jpeg, sideways_jpeg, sixteen_bit_png

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """An asymmetric 128x96 RGB picture of flat 16 px blocks (near-lossless as JPEG)."""
    return RNG.integers(0, 256, (8, 6, 3), dtype=np.uint8).repeat(16, axis=0).repeat(16, axis=1)


def test_sixteen_bit_grey_png_is_scaled_not_clipped(tmp_path: Path):
    grey = RNG.integers(0, 256, (40, 50), dtype=np.uint8)
    with Image.open(sixteen_bit_png(tmp_path / "deep.png", grey)) as img:
        assert img.mode == "I;16"
    Image.fromarray(grey).save(tmp_path / "eight.png")
    deep, eight = read_image(tmp_path / "deep.png", 32), read_image(tmp_path / "eight.png", 32)
    assert np.array_equal(deep, eight) and deep.mean() < 200  # Pillow's convert made it ~all white


def test_mode_i_is_read_as_sixteen_bit_and_out_of_range_values_are_refused(tmp_path: Path):
    grey = RNG.integers(0, 256, (40, 50), dtype=np.uint8)
    Image.fromarray(grey.astype(np.int32) * 257, "I").save(tmp_path / "wide.tif")
    Image.fromarray(grey).save(tmp_path / "eight.png")
    assert np.array_equal(read_image(tmp_path / "wide.tif", 32), read_image(tmp_path / "eight.png", 32))
    Image.fromarray(np.full((8, 8), 1 << 20, np.int32), "I").save(tmp_path / "deep.tif")
    with pytest.raises(StageError, match=r"deep.tif: mode I with values outside 0..65535"):
        read_image(tmp_path / "deep.tif", 32)


def test_exif_orientation_is_applied(tmp_path: Path, photo: np.ndarray):
    upright = read_image(jpeg(tmp_path / "upright.jpg", photo), 64)
    sideways = read_image(sideways_jpeg(tmp_path / "sideways.jpg", photo), 64)
    as_stored = resize_bilinear(np.rot90(photo, 1), 64)
    assert np.abs(sideways.astype(int) - upright).max() <= 2  # JPEG rounding only
    assert np.abs(sideways.astype(int) - as_stored).mean() > 30  # not the pixels as stored


def test_a_fifo_is_refused_at_once_not_read(tmp_path: Path):
    with pytest.raises(StageError, match=r"pipe.jpg: not a regular file"):
        read_image(fifo(tmp_path / "pipe.jpg"), 32)  # before the fix: blocked forever


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> Path:
    return huge_jpeg(tmp_path_factory.mktemp("huge") / "huge.jpg", 6000)


def test_huge_jpeg_is_decoded_at_reduced_scale_close_to_the_full_decode(huge: Path):
    size = 180
    with Image.open(huge) as img:
        assert img.draft("RGB", (DRAFT_KEEP * size,) * 2) and img.size == (1500, 1500)  # 1/4 scale
    with Image.open(huge) as img:
        full = resize_bilinear(np.asarray(img.convert("RGB")), size).astype(int)
    diff = np.abs(read_image(huge, size) - full)
    # Measured on this image: max 4, mean 0.09 levels (of 255); on a real photo scaled up to
    # 6000 px, max 9, mean 0.4. The DCT-scaled decode averages where the full one samples pixels.
    assert diff.max() <= 8 and diff.mean() < 0.5


def test_huge_jpeg_decode_memory_is_bounded(huge: Path):
    """Peak memory of reading the 6000 x 6000 JPEG, above the reader's own import: a full
    decode holds 108 MB of pixels (and the old reader 500 MB with its float copy)."""
    code = ("import resource, sys; from pathlib import Path; from tasks.runtime.images import read_image; "
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; read_image(Path(sys.argv[1]), 180); "
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)")
    done = subprocess.run([sys.executable, "-c", code, str(huge)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 40, f"peak RSS grew {done.stdout.strip()} MB"
