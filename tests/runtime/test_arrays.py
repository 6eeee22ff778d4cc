"""The array cache: decode and resize once, exactly like image_dataset_from_directory."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.core.errors import StageError
from tasks.core.paths import Paths
from tasks.runtime.arrays import load_split, resize_bilinear


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
