"""Outputs deleted or edited by hand: `dvc status` must name the stage that owns the file, and
the next `dvc repro` must put back exactly what the reference run wrote (from DVC's cache, or
by rerunning the stage where the output is not cached, like the metrics)."""
from __future__ import annotations

import json

import pytest

from .harness import Project

pytestmark = pytest.mark.reliability("hand-edit")


def _edit_json(path):
    path.write_text(json.dumps({**json.loads(path.read_text()), "accuracy": 1.0}))


EDITS = {  # file: (stage that owns it, what is done to it)
    "data/raw/cat.3.jpg": ("download", lambda p: p.unlink()),
    "data/split/manifest.csv": ("split", lambda p: p.unlink()),
    "data/model/model.keras": ("train", lambda p: p.unlink()),
    "data/metrics/evaluate.json": ("evaluate", _edit_json),
    "data/export/model.keras": ("export", lambda p: p.write_bytes(b"not a model")),
}


@pytest.mark.parametrize("rel", list(EDITS))
def test_edited_output_is_detected_and_rebuilt(project: Project, reference: Project, rel: str):
    stage, edit = EDITS[rel]
    edit(project.root / rel)
    assert stage in project.status()
    project.repro()
    assert project.status() == {}
    assert (project.root / rel).read_bytes() == (reference.root / rel).read_bytes()
    assert project.lock() == reference.lock()


def test_edits_no_result_depends_on_rerun_no_stage(project: Project):
    """A docstring in the CLI, a Prefect timeout: a stage reruns only when its result can change."""
    cli = project.root / "tasks/core/cli.py"
    cli.write_text(cli.read_text().replace('"""The thin command line', '"""The thin, edited command line', 1))
    params = project.root / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("    train: 86400\n", "    train: 1234\n", 1))
    assert "train: 1234" in params.read_text() and "edited" in cli.read_text()
    assert project.status() == {}
