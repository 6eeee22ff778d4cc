"""Validate: the GX contract passes clean splits and names the offending file otherwise."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
from PIL import Image

from tasks import split, validate
from tasks.common import StageError
from tasks.paths import Paths

from .conftest import tiny_params


def test_clean_split_passes_and_writes_report_metrics_and_docs(split_project: Paths):
    result = validate.run(tiny_params(), split_project)
    assert result.failed == 0 and result.evaluated == result.passed >= 8
    metrics = json.loads((split_project.metrics / "validate.json").read_text())
    assert metrics == {"images": 20, "expectations": result.evaluated, "passed": result.passed,
                       "failed": 0}
    assert split_project.accepted_manifest.read_bytes() == split_project.manifest.read_bytes()
    assert (split_project.data_docs / "index.html").is_file()


def _rewrite_manifest(paths: Paths, keep=lambda row: True) -> None:
    """Rebuild the manifest as the split stage would, so it describes the files as they are."""
    with open(paths.manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if keep(r)]
    for row in rows:
        row.update(split.describe(paths.split / row["path"]))
    with open(paths.manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=split.MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _break(paths: Paths, rel: str, how) -> None:
    """Replace one split file by a broken copy (a new inode, so data/raw is untouched)."""
    target = paths.split / rel
    data = target.read_bytes()
    target.unlink()
    how(target, data)
    _rewrite_manifest(paths)


@pytest.mark.parametrize("how, check", [
    (lambda t, d: t.write_bytes(d[: len(d) // 2]), "every file decodes fully"),
    (lambda t, d: t.write_bytes(b"hello, I am text"), "the real format"),
    (lambda t, d: Image.new("RGB", (300, 200)).save(t, format="PNG"), "the real format"),
    (lambda t, d: Image.new("RGB", (20, 200)).save(t, format="JPEG"), "the shortest side"),
])
def test_broken_file_fails_its_expectation_by_name(split_project: Paths, how, check):
    _break(split_project, "train/dog/dog.1.jpg", how)
    with pytest.raises(StageError) as err:
        validate.run(tiny_params(), split_project)
    failing = [line for line in str(err.value).splitlines() if check in line]
    assert failing and "train/dog/dog.1.jpg" in failing[0], str(err.value)
    assert not split_project.accepted_manifest.exists()  # nothing reaches training


def test_cross_split_duplicate_is_leakage(split_project: Paths):
    _break(split_project, "test/cat/cat.6.jpg",
           lambda t, d: shutil.copyfile(split_project.split / "train/cat/cat.0.jpg", t))
    with pytest.raises(StageError, match="leakage") as err:
        validate.run(tiny_params(), split_project)
    assert "test/cat/cat.6.jpg" in str(err.value) and "train/cat/cat.0.jpg" in str(err.value)


def test_count_mismatch_and_missing_class(split_project: Paths):
    shutil.rmtree(split_project.split / "validation" / "dog")
    _rewrite_manifest(split_project, keep=lambda r: not r["path"].startswith("validation/dog/"))
    with pytest.raises(StageError, match=r"exactly the requested images.*validation/dog"):
        validate.run(tiny_params(), split_project)
