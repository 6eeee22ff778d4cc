"""tasks.contract.suite: the GX data contract passes a clean table and names what breaks each rule."""
from __future__ import annotations

import tempfile
from pathlib import Path

from tasks.contract import suite
from tasks.core.paths import LABELS, SPLITS

from ..conftest import tiny_params

PARAMS = tiny_params()  # 4 train, 2 validation, 4 test images per class
COUNTS = "each split holds exactly the requested images per class (so classes balance)"
LABEL_RULE = "the folder and the file name agree on the label"


def clean_rows() -> list[dict[str, object]]:
    """One row per image, as validate passes them: manifest columns joined with decode facts."""
    sizes = {"train": 4, "validation": 2, "test": 4}
    rows, n = [], 0
    for split in SPLITS:
        for label in LABELS:
            for _ in range(sizes[split]):
                n += 1
                rows.append({"split": split, "label": label, "path": f"{split}/{label}/{label}.{n}.jpg",
                             "sha256": f"{n:064x}", "width": 64, "height": 48, "mode": "RGB",
                             "real_format": "JPEG", "decode_error": None, "name_label": label})
    return rows


def check(rows: list[dict[str, object]], tmp_path: Path, **kw) -> suite.Outcome:
    return suite.check(rows, PARAMS, suite.context(tmp_path / "docs"), **kw)


def failed(outcome: suite.Outcome) -> dict[str, list[str]]:
    return {str(f["check"]): list(f["files"]) for f in outcome.failures}


def test_a_clean_table_passes_every_rule_and_renders_data_docs(tmp_path: Path):
    outcome = check(clean_rows(), tmp_path)
    assert outcome.success and outcome.failures == [] and outcome.warnings == []
    assert outcome.evaluated == outcome.passed == len(suite.image_rules(PARAMS)) + 1
    assert outcome.report["images"] == 20 and outcome.report["success"] is True
    assert (tmp_path / "docs" / "index.html").is_file()


def test_data_docs_are_built_only_under_the_given_folder(tmp_path: Path, monkeypatch):
    scratch = tmp_path / "system-tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    check(clean_rows(), tmp_path)
    assert (tmp_path / "docs" / "index.html").is_file()
    assert list(scratch.iterdir()) == []  # GX's default site would leave a copy in /tmp


def test_the_same_image_in_two_splits_fails_the_leakage_rule_naming_both_copies(tmp_path: Path):
    rows = clean_rows()
    rows[-1]["sha256"] = rows[0]["sha256"]  # a test dog is byte-identical to a train cat
    outcome = check(rows, tmp_path)
    assert not outcome.success
    assert failed(outcome) == {suite.LEAKAGE: [rows[0]["path"], rows[-1]["path"]]}


def test_a_duplicate_within_one_split_only_warns(tmp_path: Path):
    rows = clean_rows()
    rows[1]["sha256"] = rows[0]["sha256"]
    outcome = check(rows, tmp_path)
    assert outcome.success and outcome.failures == []
    assert [(w["check"], w["files"]) for w in outcome.warnings] == [
        ("no identical image twice in one split", [rows[0]["path"], rows[1]["path"]])]


def test_a_wrong_count_fails_the_count_rule_naming_the_split_and_class(tmp_path: Path):
    rows = [r for r in clean_rows() if r["path"] != "validation/dog/dog.12.jpg"]
    outcome = check(rows, tmp_path)
    assert failed(outcome) == {COUNTS: ["validation/dog"]}
    extra = clean_rows() + [{**clean_rows()[0], "path": "train/cat/cat.99.jpg", "sha256": "f" * 64}]
    assert failed(check(extra, tmp_path / "extra")) == {COUNTS: ["train/cat"]}


def test_a_label_the_file_name_contradicts_fails_the_label_rule(tmp_path: Path):
    rows = clean_rows()
    rows[2]["name_label"] = "dog"  # train/cat/ holding a file named dog.N.jpg
    assert failed(check(rows, tmp_path)) == {LABEL_RULE: [rows[2]["path"]]}


IMAGE_BREAKS = [  # (what changes in one row, the rule that must name that row)
    ({"decode_error": "OSError: image file is truncated"}, "every file decodes fully"),
    ({"real_format": "PNG"}, "the real format (magic bytes) is JPEG"),
    ({"mode": "CMYK"}, "the colour mode is one of ['RGB', 'L']"),
    ({"width": 20}, "the shortest side is at least 32 px"),
    ({"width": 10_000, "height": 5_000}, "at most 40000000 pixels (bomb cap)"),
]


def test_each_image_rule_names_only_its_offending_file(tmp_path: Path):
    rows = clean_rows()
    for i, (change, _) in enumerate(IMAGE_BREAKS):
        rows[3 * i].update(change)
    outcome = check(rows, tmp_path)
    assert failed(outcome) == {rule: [rows[3 * i]["path"]] for i, (_, rule) in enumerate(IMAGE_BREAKS)}
    assert outcome.passed == outcome.evaluated - len(IMAGE_BREAKS)


def test_after_quarantine_a_split_may_keep_min_fraction_of_its_images(tmp_path: Path):
    rows = [r for r in clean_rows() if r["path"] != "train/cat/cat.1.jpg"]
    lenient = tiny_params(validate={"min_fraction": 0.75})  # 3 of 4 may stay
    outcome = suite.check(rows, lenient, suite.context(tmp_path / "a"), after_quarantine=True)
    assert outcome.success
    rows = [r for r in rows if r["path"] != "train/cat/cat.2.jpg"]  # 2 of 4: too few
    outcome = suite.check(rows, lenient, suite.context(tmp_path / "b"), after_quarantine=True)
    assert [(f["table"], f["files"]) for f in outcome.failures] == [
        ("counts_after_quarantine", ["train/cat"])]
