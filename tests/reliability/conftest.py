"""Fixtures for the reliability suite: one tiny project run end to end by `dvc repro` once per
session (the uninterrupted reference), copied afresh for every test; and the hooks that count
the cases per class for the table in docs/reliability.md (table.py) and report them after a run."""
from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ..conftest import make_project, tiny_params
from .harness import Project
from .table import CLASSES

# Two epochs, so that a kill in train can land after an epoch finished and before the last.
PARAMS = tiny_params(train={"epochs": 2})
_classes: dict[str, str] = {}  # node id -> class, for the summary
_outcomes: dict[str, Counter] = defaultdict(Counter)


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The tiny pipeline, run once by `dvc repro` from nothing: every result is compared to it.
    Do not change it: tests copy it with `project`."""
    project = Project(make_project(tmp_path_factory.mktemp("reference") / "project", PARAMS))
    project.repro()
    assert project.status() == {} and not project.leftovers()
    return project


@pytest.fixture
def project(reference: Project, tmp_path: Path) -> Project:
    """A private copy of the finished reference project."""
    root = tmp_path / "project"
    shutil.copytree(reference.root, root, symlinks=True)
    return Project(root)


def reliability_class(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("reliability")
    return marker.args[0] if marker else None


def pytest_collection_finish(session: pytest.Session) -> None:
    """With RELIABILITY_COUNTS set (table.count_cases), write the cases per class there."""
    if out := os.environ.get("RELIABILITY_COUNTS"):
        items = [i for i in session.items if Path(__file__).parent in Path(i.path).parents]
        counts = Counter(reliability_class(i) or f"unmarked: {i.nodeid}" for i in items
                         if i.path.name != "test_table.py")
        Path(out).write_text(json.dumps(counts))


def pytest_itemcollected(item: pytest.Item) -> None:
    if cls := reliability_class(item):
        _classes[item.nodeid] = cls


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    cls = _classes.get(report.nodeid)
    if cls and (report.when == "call" or report.outcome != "passed"):
        _outcomes[cls]["xfailed" if hasattr(report, "wasxfail") else report.outcome] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    """After a run: the outcome per class, in the table's order."""
    if _outcomes:
        terminalreporter.section("reliability cases")
        for cls in (c for c in CLASSES if c in _outcomes):
            terminalreporter.line(f"{cls:>11}: " + ", ".join(f"{n} {o}" for o, n in
                                                             sorted(_outcomes[cls].items())))


@pytest.fixture(scope="session")
def sample_images(tiny_archive: Path) -> dict[str, bytes]:
    """The tiny archive's labelled JPEGs by name (cat.0.jpg ...): the good bytes that the
    bad-input cases break or wrap."""
    with zipfile.ZipFile(tiny_archive) as outer, zipfile.ZipFile(io.BytesIO(outer.read("train.zip"))) as zf:
        return {Path(n).name: zf.read(n) for n in zf.namelist() if n.endswith(".jpg")}
