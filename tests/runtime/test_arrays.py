"""The array cache: decode and resize once, exactly like image_dataset_from_directory."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from tasks.core.errors import StageError
from tasks.core.paths import Paths
from tasks.runtime.arrays import load_split
from tasks.runtime.images import resize_bilinear


@pytest.mark.parametrize("shape, size", [((375, 500, 3), 180), ((150, 151, 3), 180), ((40, 90, 3), 32)])
def test_resize_matches_tf_image_resize_bilinear(shape, size):
    tf = pytest.importorskip("tensorflow")
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    ours = resize_bilinear(img, size).astype(np.float32)
    theirs = tf.image.resize(img, (size, size), method="bilinear", antialias=False).numpy()
    # Only the uint8 rounding (<= 0.5) and float32 summation order differ.
    assert np.abs(ours - theirs).max() <= 0.52
    assert np.abs(ours - theirs).mean() < 0.26


def test_split_is_decoded_once_then_read_from_cache(validated_project: Paths):
    x, y = load_split(validated_project, "train", 32)
    assert x.shape == (8, 32, 32, 3) and x.dtype == np.uint8 and sorted(y.tolist()) == [0] * 4 + [1] * 4
    cached = list(validated_project.array_cache.iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("train-32px-")
    (validated_project.split / "train" / "cat" / "cat.0.jpg").unlink()  # the cache must serve it
    x2, _ = load_split(validated_project, "train", 32)
    assert np.array_equal(x, x2)


def test_missing_accepted_manifest_is_named(paths: Paths):
    with pytest.raises(StageError, match="validate/manifest.csv: not found; run the validate stage"):
        load_split(paths, "train", 32)


def _flip_middle_byte(data: bytes) -> bytes:
    return data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x01]) + data[len(data) // 2 + 1:]


DAMAGE = {
    "flipped byte": _flip_middle_byte,
    "truncated": lambda data: data[:len(data) // 2],
    "end record cut": lambda data: data[:-10],
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_cache_is_named_deleted_and_rebuilt(validated_project: Paths, damage: str, caplog):
    x, _ = load_split(validated_project, "test", 32)
    [cache] = validated_project.array_cache.iterdir()
    cache.write_bytes(DAMAGE[damage](cache.read_bytes()))
    with caplog.at_level(logging.WARNING, "tasks.runtime.arrays"):
        x2, _ = load_split(validated_project, "test", 32)
    assert np.array_equal(x, x2)  # rebuilt from the images, not read from the damaged file
    assert f"damaged array cache {cache}" in caplog.text
    with np.load(cache) as stored:  # and stored again, whole
        assert np.array_equal(stored["x"], x)


def test_cache_with_the_wrong_count_is_rebuilt(validated_project: Paths, caplog):
    x, _ = load_split(validated_project, "test", 32)
    [cache] = validated_project.array_cache.iterdir()
    np.savez(cache, x=x[:-1])  # a valid archive, one image short
    with caplog.at_level(logging.WARNING, "tasks.runtime.arrays"):
        x2, _ = load_split(validated_project, "test", 32)
    assert np.array_equal(x, x2) and "expected uint8 (8, 32, 32, 3)" in caplog.text
