"""The embedded sample: Kaggle's exact layout, deterministic, photo-like sizes, not trivial."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.sources.sample import render_image, write_sample_archive


def test_archive_has_kaggles_nested_layout(tiny_archive: Path):
    with zipfile.ZipFile(tiny_archive) as outer:
        assert sorted(outer.namelist()) == ["sampleSubmission.csv", "test1.zip", "train.zip"]
        with zipfile.ZipFile(io.BytesIO(outer.read("train.zip"))) as train:
            names = set(train.namelist())
        with zipfile.ZipFile(io.BytesIO(outer.read("test1.zip"))) as test1:
            assert sorted(test1.namelist()) == [f"test1/{i}.jpg" for i in range(1, 5)]
        assert outer.read("sampleSubmission.csv").decode().startswith("id,label\n1,")
    assert names == {f"train/{label}.{i}.jpg" for label in ("cat", "dog") for i in range(12)}


def test_archive_is_byte_identical_for_the_same_seed(tmp_path: Path, tiny_archive: Path):
    again = write_sample_archive(tmp_path / "again.zip", 12, 42, 4)
    assert again.read_bytes() == tiny_archive.read_bytes()
    other = write_sample_archive(tmp_path / "other.zip", 12, 43, 4)
    assert other.read_bytes() != tiny_archive.read_bytes()


def test_images_vary_like_photos():
    images = [render_image(label, i, 7) for label in ("cat", "dog") for i in range(40)]
    sides = [s for img in images for s in img.size]
    assert 150 <= min(sides) and max(sides) <= 500
    assert len({img.size for img in images}) > 60  # sizes and aspects vary
    modes = {img.mode for img in images}
    assert modes == {"RGB", "L"}  # some grayscale, as in the real set


def test_colour_statistics_do_not_separate_the_classes():
    # Learnable but not trivial: the classes differ in shape, not in overall colour.
    means = {label: np.array([np.asarray(render_image(label, i, 3).convert("RGB"), float).mean()
                              for i in range(60)]) for label in ("cat", "dog")}
    gap = abs(means["cat"].mean() - means["dog"].mean())
    spread = np.concatenate(list(means.values())).std()
    assert gap < 0.35 * spread, (gap, spread)


def test_jpegs_decode(tiny_archive: Path):
    with zipfile.ZipFile(tiny_archive) as outer, \
            zipfile.ZipFile(io.BytesIO(outer.read("train.zip"))) as train:
        for name in list(train.namelist())[:6]:
            img = Image.open(io.BytesIO(train.read(name)))
            img.load()
            assert img.format == "JPEG"
