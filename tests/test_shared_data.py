"""Real Kaggle photos (../shared/data/dogs-vs-cats-mini.zip, 300 per class with index gaps):
download and the book-exact split. Skipped where the file is absent (a user's clone)."""
from __future__ import annotations

import csv
import hashlib

import pytest

from tasks import download, split
from tasks.core.io import sha256_file
from tasks.core.paths import Paths

from .conftest import SHARED_ZIP, tiny_params

pytestmark = pytest.mark.skipif(not SHARED_ZIP.is_file(), reason=f"{SHARED_ZIP} is absent")
MINI_SHA256 = "4e97cb60a5d71a611f8b060b8da95b0a8ad3de695184edd61e1e9361df306c2f"


def test_local_kaggle_zip_splits_100_50_100_with_a_correct_manifest(paths: Paths):
    params = tiny_params(download={"source": "local", "path": str(SHARED_ZIP), "sha256": MINI_SHA256},
                         split={"train": 100, "validation": 50, "test": 100})
    fetched = download.run(params, paths)
    assert fetched.counts == {"cat": 300, "dog": 300} and fetched.sha256 == sha256_file(SHARED_ZIP)
    result = split.run(params, paths)
    assert result.counts == {s: {"cat": n, "dog": n}
                             for s, n in (("train", 100), ("validation", 50), ("test", 100))}
    with open(paths.manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 500
    for row in rows:
        data = (paths.split / row["path"]).read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest() and int(row["bytes"]) == len(data)
        assert row["format"] == "JPEG" and int(row["width"]) > 0
    # Index order with gaps: each split takes the next indices in numeric order.
    for label in ("cat", "dog"):
        indices = {s: sorted(int(p.name.split(".")[1]) for p in (paths.split / s / label).iterdir())
                   for s in ("train", "validation", "test")}
        assert max(indices["train"]) < min(indices["validation"])
        assert max(indices["validation"]) < min(indices["test"])
