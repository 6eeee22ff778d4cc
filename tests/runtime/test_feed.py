"""The feed: lazily gathered batches equal to those of the fancy-indexed copy, in order."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.runtime.feed import batches, epoch_order


def _collect(data):
    if hasattr(data, "as_numpy_iterator"):
        return list(data.as_numpy_iterator())
    return [data[i] for i in range(len(data))]


@pytest.fixture
def mapped(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    return np.load(tmp_path / "x.npy", mmap_mode="r"), np.arange(10, dtype=np.int32) % 2


def test_ordered_batches_equal_the_copy_in_the_same_order(mapped):
    x, y = mapped
    order = epoch_order(7, 3, len(x))
    got = _collect(batches(x, y, 4, order))
    assert [len(b[0]) for b in got] == [4, 4, 2]  # the last batch is short, as before
    assert np.array_equal(np.concatenate([b[0] for b in got]), x[order])
    assert np.array_equal(np.concatenate([b[1] for b in got]), y[order])


def test_unordered_batches_are_index_order_without_labels(mapped):
    x, _ = mapped
    got = _collect(batches(x, batch_size=3))
    assert np.array_equal(np.concatenate(got), x) and len(got) == 4


def test_an_order_outside_the_images_is_refused(mapped):
    x, y = mapped
    with pytest.raises(ValueError, match=r"indices into the 10 images, got shape \(2,\) in \[0, 10\]"):
        batches(x, y, 4, np.array([0, 10]))
