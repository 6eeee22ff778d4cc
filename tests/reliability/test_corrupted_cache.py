"""A damaged array cache (data/cache/<split>-<size>px-<key>.npy: one byte flipped, or cut short)
is named, deleted and rebuilt from the images; it is never evaluated on, and it does not block
the next run."""
from __future__ import annotations

import numpy as np
import pytest

from .harness import Project

pytestmark = pytest.mark.reliability("a corrupted cache or resume state")


def _flip_middle_byte(data: bytes) -> bytes:
    return data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x01]) + data[len(data) // 2 + 1:]


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_damaged_array_cache_is_named_and_rebuilt(project: Project, reference: Project, damage: str):
    [cache] = project.paths.array_cache.glob("test-*px-*.npy")
    data = cache.read_bytes()
    cache.write_bytes(_flip_middle_byte(data) if damage == "flipped byte" else data[:len(data) // 2])
    done = project.stage("evaluate")
    said = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in said, said[-3000:]
    assert f"damaged array cache {cache.relative_to(project.root)}" in said, said[-3000:]
    assert "rebuilding it from the images" in said
    good = np.load(reference.root / cache.relative_to(project.root))
    assert np.array_equal(np.load(cache), good)  # rebuilt whole
    for out in ("data/metrics/evaluate.json", "data/metrics/gate.json"):
        assert project.digest(out) == reference.digest(out)  # never evaluated on the damaged one
    assert project.status() == {} and not project.leftovers()
