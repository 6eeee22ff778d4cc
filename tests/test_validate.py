"""Validate: the GX contract passes clean splits and names the offending file otherwise;
quarantine sets bad files aside and goes on."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tasks import split, validate
from tasks.core.errors import StageError
from tasks.core.paths import Paths

from .conftest import SHARED_ZIP, tiny_params
from .helpers.badfiles import BROKEN


def test_clean_split_passes_and_writes_report_metrics_and_docs(split_project: Paths):
    result = validate.run(tiny_params(), split_project)
    assert result.failed == 0 and result.evaluated == result.passed == 9
    metrics = json.loads((split_project.metrics / "validate.json").read_text())
    assert metrics == {"images": 20, "accepted": 20, "quarantined": 0, "expectations": 9,
                       "passed": 9, "failed": 0, "warnings": 0}
    assert split_project.accepted_manifest.read_bytes() == split_project.manifest.read_bytes()
    assert "Expectation" in (split_project.data_docs / "index.html").read_text()


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


def _failing_line(err: pytest.ExceptionInfo, check: str) -> str:
    lines = [line for line in str(err.value).splitlines() if check in line]
    assert lines, str(err.value)
    return lines[0]


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_file_fails_its_expectation_by_name(split_project: Paths, case: str):
    how, check, overrides = BROKEN[case]
    _break(split_project, "train/dog/dog.1.jpg", how)
    with pytest.raises(StageError) as err:
        validate.run(tiny_params(validate=overrides), split_project)
    assert "train/dog/dog.1.jpg" in _failing_line(err, check)
    assert not split_project.accepted_manifest.exists()  # nothing reaches training


def test_cross_split_duplicate_is_leakage_and_names_both(split_project: Paths):
    _break(split_project, "test/cat/cat.6.jpg",
           lambda t, d: shutil.copyfile(split_project.split / "train/cat/cat.0.jpg", t))
    with pytest.raises(StageError) as err:
        validate.run(tiny_params(), split_project)
    line = _failing_line(err, "leakage")
    assert "test/cat/cat.6.jpg" in line and "train/cat/cat.0.jpg" in line


def test_duplicate_within_a_split_is_only_a_warning(split_project: Paths, caplog):
    _break(split_project, "train/cat/cat.3.jpg",
           lambda t, d: shutil.copyfile(split_project.split / "train/cat/cat.0.jpg", t))
    result = validate.run(tiny_params(), split_project)
    assert result.failed == 0 and result.accepted == 20
    assert "no identical image twice in one split" in caplog.text and "train/cat/cat.3.jpg" in caplog.text
    assert json.loads((split_project.metrics / "validate.json").read_text())["warnings"] == 1


@pytest.mark.parametrize("drop, message", [
    ("validation/dog/", r"exactly the requested images.*validation/dog"),  # a missing class
    ("test/cat/cat.9", r"exactly the requested images.*test/cat"),         # a count mismatch
])
def test_missing_class_and_count_mismatch(split_project: Paths, drop: str, message: str):
    _rewrite_manifest(split_project, keep=lambda r: not r["path"].startswith(drop))
    with pytest.raises(StageError, match=message):
        validate.run(tiny_params(), split_project)


def test_quarantine_sets_bad_files_aside_and_goes_on(split_project: Paths):
    _break(split_project, "train/dog/dog.1.jpg", lambda t, d: t.write_bytes(b"text"))
    params = tiny_params(validate={"on_failure": "quarantine", "min_fraction": 0.75})
    result = validate.run(params, split_project)
    assert (result.accepted, result.quarantined) == (19, 1)
    accepted = split_project.accepted_manifest.read_text()
    assert "train/dog/dog.1.jpg" not in accepted and "train/dog/dog.2.jpg" in accepted
    assert (split_project.validation / "quarantine/train/dog/dog.1.jpg").read_bytes() == b"text"
    assert (split_project.split / "train/dog/dog.1.jpg").exists()  # split's output is untouched
    report = json.loads((split_project.validation / "report.json").read_text())
    assert report["quarantined"] == [{"path": "train/dog/dog.1.jpg",
                                      "reason": "every file decodes fully"}]


def test_quarantine_keeps_the_earlier_split_s_copy_of_a_leaked_image(split_project: Paths):
    _break(split_project, "test/cat/cat.6.jpg",
           lambda t, d: shutil.copyfile(split_project.split / "train/cat/cat.0.jpg", t))
    params = tiny_params(validate={"on_failure": "quarantine", "min_fraction": 0.75})
    result = validate.run(params, split_project)
    assert (result.accepted, result.quarantined) == (19, 1)
    assert (split_project.validation / "quarantine/test/cat/cat.6.jpg").is_file()
    assert "train/cat/cat.0.jpg" in split_project.accepted_manifest.read_text()


def test_quarantine_does_not_excuse_a_count_mismatch(split_project: Paths):
    _rewrite_manifest(split_project, keep=lambda r: r["path"] != "test/cat/cat.9.jpg")
    with pytest.raises(StageError, match=r"exactly the requested images.*test/cat"):
        validate.run(tiny_params(validate={"on_failure": "quarantine", "min_fraction": 0.5}), split_project)


def test_quarantine_still_fails_below_min_fraction(split_project: Paths):
    _break(split_project, "train/dog/dog.1.jpg", lambda t, d: t.write_bytes(b"text"))
    params = tiny_params(validate={"on_failure": "quarantine"})  # 0.98 of 4 is 4
    with pytest.raises(StageError, match=r"after quarantine.*at least validate.min_fraction.*train/dog"):
        validate.run(params, split_project)
    assert not split_project.accepted_manifest.exists()


@pytest.mark.skipif(not SHARED_ZIP.is_file(), reason=f"{SHARED_ZIP} is absent")
@pytest.mark.parametrize("on_failure", ["fail", "quarantine"])
def test_real_photos_hold_a_duplicate_pair_across_splits(paths: Paths, on_failure: str):
    from tasks import download

    params = tiny_params(download={"source": "local", "path": str(SHARED_ZIP)},
                         split={"train": 100, "validation": 50, "test": 100},
                         validate={"on_failure": on_failure})
    download.run(params, paths)
    split.run(params, paths)
    pair = ("validation/dog/dog.10401.jpg", "test/dog/dog.10797.jpg")
    if on_failure == "fail":
        with pytest.raises(StageError) as err:
            validate.run(params, paths)
        line = _failing_line(err, "leakage")
        assert all(p in line for p in pair)
        return
    result = validate.run(params, paths)
    assert (result.accepted, result.quarantined) == (499, 1)
    assert Path(paths.validation / "quarantine" / pair[1]).is_file()  # the later copy goes
    assert pair[0] in paths.accepted_manifest.read_text()
