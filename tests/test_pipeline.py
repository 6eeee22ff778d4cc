"""End to end: all six stages through `dvc repro` and through the Prefect flow, on tiny data,
in a fresh git + DVC project. Checks caching, key-level params and metrics diff."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers.projects import STAGES, new_project, ran, sh, write_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp("e2e"))


def test_dvc_repro_runs_every_stage_then_nothing(project: Path):
    assert ran(sh(project, "dvc", "repro")) == set(STAGES)
    metrics = json.loads(sh(project, "dvc", "metrics", "show", "--json"))
    evaluate = metrics[""]["data"]["data/metrics/evaluate.json"]["data"]["test"]
    assert 0.0 <= evaluate["accuracy"] <= 1.0 and evaluate["n_test"] == 8
    assert (project / "data/export/model.keras").is_file()
    assert "up to date" in sh(project, "dvc", "status")
    assert ran(sh(project, "dvc", "repro")) == set()
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-q", "-m", "baseline")


def test_prefect_flow_runs_no_stage_after_dvc_repro(project: Path, prefect_api: None):
    from flows.pipeline import pipeline

    lock = (project / "dvc.lock").read_text()
    outcome = pipeline(root=str(project))
    assert outcome == {stage: "cached" for stage in STAGES}
    assert (project / "dvc.lock").read_text() == lock


def test_train_param_reruns_train_evaluate_export_only(project: Path):
    # A different learning rate gives different weights, so evaluate must rerun too. (Were
    # the model byte-identical, DVC would rightly skip evaluate: see save_reproducibly.)
    write_params(project, train={"epochs": 2, "learning_rate": 0.01})
    assert ran(sh(project, "dvc", "repro")) == {"train", "evaluate", "export"}
    diff = json.loads(sh(project, "dvc", "metrics", "diff", "main", "--json"))
    assert diff["data/live/metrics.json"]["step"] == {"old": 0, "new": 1, "diff": 1}
    assert "up to date" in sh(project, "dvc", "status")
