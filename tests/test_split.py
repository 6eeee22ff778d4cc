"""Split: the book's make_subset in index order, hard links, and a full manifest."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from tasks import split
from tasks.core.errors import StageError
from tasks.core.paths import Paths

from .conftest import tiny_params


def _manifest(paths: Paths) -> list[dict[str, str]]:
    with open(paths.manifest, newline="") as fh:
        return list(csv.DictReader(fh))


def test_index_order_split_counts_links_and_manifest(split_project: Paths):
    paths = split_project
    for name, n in (("train", 4), ("validation", 2), ("test", 4)):
        for label in ("cat", "dog"):
            assert len(list((paths.split / name / label).iterdir())) == n
    # The book's make_subset: indices 0-3 train, 4-5 validation, 6-9 test.
    validation_dogs = sorted(p.name for p in (paths.split / "validation" / "dog").iterdir())
    assert validation_dogs == ["dog.4.jpg", "dog.5.jpg"]
    linked = paths.split / "train" / "cat" / "cat.0.jpg"
    assert linked.stat().st_ino == (paths.raw / "cat.0.jpg").stat().st_ino  # no disk doubled
    rows = _manifest(paths)
    assert len(rows) == 20
    row = next(r for r in rows if r["path"] == "train/cat/cat.0.jpg")
    assert row["sha256"] == hashlib.sha256(linked.read_bytes()).hexdigest()
    assert row["format"] == "JPEG" and int(row["width"]) >= 150 and row["mode"] in ("RGB", "L")
    assert int(row["bytes"]) == linked.stat().st_size


def test_index_order_is_numeric_and_survives_gaps(paths: Paths):
    paths.raw.mkdir(parents=True)
    for i in (2, 10, 11, 100, 7, 30):
        for label in ("cat", "dog"):
            (paths.raw / f"{label}.{i}.jpg").write_bytes(b"not decoded here")
    params = tiny_params(split={"train": 3, "validation": 1, "test": 2})
    split.run(params, paths)
    def names(s):
        return sorted(int(p.name.split(".")[1]) for p in (paths.split / s / "cat").iterdir())
    assert (names("train"), names("validation"), names("test")) == ([2, 7, 10], [11], [30, 100])


def test_random_strategy_is_seeded(split_project: Paths, tmp_path: Path):
    params = tiny_params(split={"strategy": "random"})
    split.run(params, split_project)
    first = sorted(p.name for p in (split_project.split / "train" / "cat").iterdir())
    split.run(params, split_project)
    assert first == sorted(p.name for p in (split_project.split / "train" / "cat").iterdir())
    assert first != ["cat.0.jpg", "cat.1.jpg", "cat.2.jpg", "cat.3.jpg"]


def test_too_few_images_names_the_counts(split_project: Paths):
    params = tiny_params(split={"train": 10, "validation": 2, "test": 4})
    before = sorted(p.name for p in split_project.split.rglob("*"))
    with pytest.raises(StageError, match=r"has 12 cat images, but the split needs 16 per class"):
        split.run(params, split_project)
    assert sorted(p.name for p in split_project.split.rglob("*")) == before


def test_missing_raw_says_what_to_run(paths: Paths):
    with pytest.raises(StageError, match="run the download stage first"):
        split.run(tiny_params(), paths)
