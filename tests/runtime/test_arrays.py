"""The array cache: decode and resize once, exactly like image_dataset_from_directory."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from tasks.core.errors import StageError
from tasks.core.paths import Paths
from tasks.runtime.arrays import load_split
from tasks.runtime.images import resize_bilinear
from tasks.runtime.store import Writer


@pytest.mark.parametrize("shape, size", [((375, 500, 3), 180), ((150, 151, 3), 180), ((40, 90, 3), 32)])
def test_resize_matches_tf_image_resize_bilinear(shape, size):
    tf = pytest.importorskip("tensorflow")
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    ours = resize_bilinear(img, size).astype(np.float32)
    theirs = tf.image.resize(img, (size, size), method="bilinear", antialias=False).numpy()
    # Only the uint8 rounding (<= 0.5) and float32 summation order differ.
    assert np.abs(ours - theirs).max() <= 0.52
    assert np.abs(ours - theirs).mean() < 0.26


def test_split_is_decoded_once_then_read_from_the_mapped_cache(validated_project: Paths):
    x, y = load_split(validated_project, "train", 32)
    assert x.shape == (8, 32, 32, 3) and x.dtype == np.uint8 and sorted(y.tolist()) == [0] * 4 + [1] * 4
    assert isinstance(x, np.memmap) and not x.flags.writeable  # streamed from disk, not loaded
    cached = sorted(p.name for p in validated_project.array_cache.iterdir())
    assert len(cached) == 2 and cached[0].startswith("train-32px-") and cached[0].endswith(".json")
    assert cached[1] == cached[0].replace(".json", ".npy")
    (validated_project.split / "train" / "cat" / "cat.0.jpg").unlink()  # the cache must serve it
    x2, _ = load_split(validated_project, "train", 32)
    assert np.array_equal(x, x2)


def test_missing_accepted_manifest_is_named(paths: Paths):
    with pytest.raises(StageError, match="validate/manifest.csv: not found; run the validate stage"):
        load_split(paths, "train", 32)


def _flip_middle_byte(data: bytes) -> bytes:
    return data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x01]) + data[len(data) // 2 + 1:]


DAMAGE = {
    "flipped byte": (".npy", _flip_middle_byte),
    "flipped header byte": (".npy", lambda data: data[:20] + bytes([data[20] ^ 0x01]) + data[21:]),
    "truncated": (".npy", lambda data: data[:len(data) // 2]),
    "empty": (".npy", lambda data: b""),
    "sidecar cut": (".json", lambda data: data[:-10]),
    "sidecar empty": (".json", lambda data: b""),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_cache_is_named_deleted_and_rebuilt(validated_project: Paths, damage: str, caplog):
    x = np.array(load_split(validated_project, "test", 32)[0])  # a copy: the damage is done in place
    suffix, harm = DAMAGE[damage]
    [cache] = validated_project.array_cache.glob("*.npy")
    hit = cache.with_suffix(suffix)
    hit.write_bytes(harm(hit.read_bytes()))
    with caplog.at_level(logging.WARNING, "tasks.runtime.arrays"):
        x2, _ = load_split(validated_project, "test", 32)
    assert np.array_equal(x, x2)  # rebuilt from the images, not read from the damaged file
    assert f"damaged array cache {cache}" in caplog.text
    assert np.array_equal(np.load(cache), x)  # and stored again, whole
    caplog.clear()
    load_split(validated_project, "test", 32)
    assert "damaged" not in caplog.text  # the rebuilt one passes its checks


@pytest.mark.parametrize("lost", [".json", ".npy"])
def test_cache_missing_half_of_its_pair_is_rebuilt(validated_project: Paths, lost: str, caplog):
    x, _ = load_split(validated_project, "test", 32)
    [cache] = validated_project.array_cache.glob("*.npy")
    cache.with_suffix(lost).unlink()
    with caplog.at_level(logging.WARNING, "tasks.runtime.arrays"):
        x2, _ = load_split(validated_project, "test", 32)
    assert np.array_equal(x, x2) and f"damaged array cache {cache}" in caplog.text


def test_cache_with_the_wrong_count_is_rebuilt(validated_project: Paths, caplog):
    x, _ = load_split(validated_project, "test", 32)
    [cache] = validated_project.array_cache.glob("*.npy")
    with Writer(cache, (7, 32, 32, 3)) as out:  # a valid store, one image short
        for img in x[:-1]:
            out.append(img)
    with caplog.at_level(logging.WARNING, "tasks.runtime.arrays"):
        x2, _ = load_split(validated_project, "test", 32)
    assert np.array_equal(x, x2) and "expected uint8 (8, 32, 32, 3)" in caplog.text
