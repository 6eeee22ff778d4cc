"""Every bad image the unit tests name, now end to end. The broken files ride in an archive
through `dvc repro` (download and split accept them: they judge names, not pixels) until the
validate stage stops the run naming each file under its rule; train never runs. The same data
with `validate.on_failure: quarantine` sets each one aside. A split manifest edited by hand
(a class missing, a count short) fails the count rule. To fit the time budget, all images
break in one run and every case checks its own file in that run's report."""
from __future__ import annotations

import csv
import json
import shutil

import pytest

from ..conftest import tiny_params
from ..helpers.badfiles import BROKEN, claims_size
from .harness import Project
from .test_bad_archives import flat

pytestmark = pytest.mark.reliability("image")
# case: file it replaces. With split 4/2/4 in index order, 0-3 go to train, 4-5 to validation
# and 6-9 to test; every split and class keeps at least half of its images (for quarantine).
PLACES = {"truncated JPEG": "cat.1.jpg", "zero-byte file": "cat.2.jpg", "PNG named .jpg": "dog.1.jpg",
          "text named .jpg": "dog.2.jpg", "CMYK": "cat.4.jpg", "tiny image": "dog.4.jpg",
          "over the pixel cap": "dog.8.jpg", "decompression bomb header": "cat.7.jpg"}
# Both over the default validate.max_pixels (40 000 000) by their headers alone, the second also
# over Pillow's own bomb limit: 7 000 x 7 000 and 20 000 x 20 000, in a few kilobytes each.
BREAKERS = {**{case: BROKEN[case][0] for case in PLACES}, "over the pixel cap": claims_size(7_000)}
LEAK = ("test/dog/dog.7.jpg", "train/dog/dog.0.jpg")  # the same bytes in two splits


def split_path(name: str) -> str:
    index = int(name.split(".")[1])
    return f"{'train' if index < 4 else 'validation' if index < 6 else 'test'}/{name.split('.')[0]}/{name}"


@pytest.fixture(scope="module")
def bad_run(reference: Project, sample_images, tmp_path_factory):
    """The reference project after `dvc repro` on an archive holding every broken image."""
    tmp = tmp_path_factory.mktemp("bad-images")
    images = dict(sample_images)
    for case, name in PLACES.items():
        BREAKERS[case](tmp / "x", images[name])
        images[name] = (tmp / "x").read_bytes()
    images["dog.7.jpg"] = images["dog.0.jpg"]
    shutil.copytree(reference.root, tmp / "project", symlinks=True)
    project = Project(tmp / "project")
    archive = flat(tmp / "bad.zip", images)
    project.write_params(tiny_params(download={"source": "local", "path": str(archive)}))
    return project, project.dvc("repro"), project.status()


def _rule_line(output: str, rule: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("  - ") and rule in line]
    assert lines, output[-4000:]
    return lines[0]


@pytest.mark.parametrize("case", [*PLACES, "cross-split duplicate"])
def test_bad_image_stops_the_pipeline_naming_file_and_rule(bad_run, reference: Project, case: str):
    project, done, status = bad_run
    said = done.stdout + done.stderr
    assert done.returncode != 0 and "ERROR: failed to reproduce 'validate'" in said, said[-4000:]
    if case == "cross-split duplicate":
        line = _rule_line(said, "no identical image in two splits")
        assert all(path in line for path in LEAK), line
    else:
        assert split_path(PLACES[case]) in _rule_line(said, BROKEN[case][1])
    assert "Running stage 'train'" not in said and "Traceback" not in said
    assert not project.paths.accepted_manifest.exists()  # nothing reaches training
    for kept in ("data/model", "data/export"):  # downstream outputs are as they were
        assert project.digest(kept) == reference.digest(kept)
    assert "validate" in status


@pytest.fixture(scope="module")
def quarantined(bad_run, tmp_path_factory) -> tuple[Project, dict]:
    """The bad run's project validated again with on_failure: quarantine."""
    project = Project(tmp_path_factory.mktemp("quarantine") / "project")
    shutil.copytree(bad_run[0].root, project.root, symlinks=True)
    params = tiny_params(download={"source": "local", "path": "unused"},
                         validate={"on_failure": "quarantine", "min_fraction": 0.5})
    project.write_params(params)
    done = project.stage("validate")
    assert done.returncode == 0, done.stderr[-4000:]
    return project, json.loads((project.paths.validation / "report.json").read_text())


@pytest.mark.parametrize("case", [*PLACES, "cross-split duplicate"])
def test_quarantine_sets_each_bad_image_aside(quarantined, case: str):
    project, report = quarantined
    path = LEAK[0] if case == "cross-split duplicate" else split_path(PLACES[case])
    assert path in {q["path"] for q in report["quarantined"]}
    assert (project.paths.validation / "quarantine" / path).is_file()
    accepted = project.paths.accepted_manifest.read_text()
    assert path not in accepted and (case != "cross-split duplicate" or LEAK[1] in accepted)


@pytest.fixture(scope="module")
def miscounted(reference: Project, tmp_path_factory):
    """The reference's split manifest, edited: validation/dog gone, test/cat one short."""
    project = Project(tmp_path_factory.mktemp("miscounted") / "project")
    shutil.copytree(reference.root, project.root, symlinks=True)
    with open(project.paths.manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(project.paths.manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if not r["path"].startswith(("validation/dog/", "test/cat/cat.9")))
    return project.stage("validate")


@pytest.mark.parametrize("case, names", [("missing class", "validation/dog"),
                                         ("count mismatch", "test/cat")])
def test_split_counts_that_do_not_match_fail_by_class(miscounted, case: str, names: str):
    assert miscounted.returncode == 1 and "Traceback" not in miscounted.stderr
    line = _rule_line(miscounted.stderr, "each split holds exactly the requested images")
    assert names in line, line  # the split and class are named, not only counted
