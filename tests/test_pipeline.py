"""End to end: all six stages through `dvc repro` and through the Prefect flow, on tiny data,
in a fresh git + DVC project. Checks caching, key-level params and metrics diff."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tasks.config import Params

from .conftest import make_project, pipeline_env, tiny_params, write_params

STAGES = ("download", "split", "validate", "train", "evaluate", "export")
pytestmark = pytest.mark.slow


def sh(root: Path, *cmd: str) -> str:
    done = subprocess.run(cmd, cwd=root, env=pipeline_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def ran(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


def params(**train: object) -> Params:
    return tiny_params(train={"model": "xception_mini", **train},
                       export={"formats": ["keras", "savedmodel"]})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("e2e"), params())


def test_dvc_repro_runs_every_stage_then_nothing(project: Path):
    assert ran(sh(project, "dvc", "repro")) == set(STAGES)
    metrics = json.loads(sh(project, "dvc", "metrics", "show", "--json"))
    evaluate = metrics[""]["data"]["data/metrics/evaluate.json"]["data"]
    assert 0.0 <= evaluate["accuracy"] <= 1.0 and evaluate["n_test"] == 8
    assert (project / "data/export/model.keras").is_file()
    assert (project / "data/export/saved_model/saved_model.pb").is_file()
    assert "up to date" in sh(project, "dvc", "status")
    assert ran(sh(project, "dvc", "repro")) == set()
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-q", "-m", "baseline")


def test_prefect_flow_runs_the_same_stages_through_dvc(project: Path):
    from prefect.testing.utilities import prefect_test_harness

    from flows.pipeline import pipeline

    lock = (project / "dvc.lock").read_text()
    with prefect_test_harness():
        outcome = pipeline(root=str(project))
    assert outcome == {stage: "skipped" for stage in STAGES}
    assert (project / "dvc.lock").read_text() == lock


def test_train_param_reruns_train_evaluate_export_only(project: Path):
    # A different learning rate gives different weights, so evaluate must rerun too. (Were
    # the model byte-identical, DVC would rightly skip evaluate: see save_reproducibly.)
    write_params(project, params(epochs=2, learning_rate=0.01))
    assert ran(sh(project, "dvc", "repro")) == {"train", "evaluate", "export"}
    diff = json.loads(sh(project, "dvc", "metrics", "diff", "main", "--json"))
    assert diff["data/live/metrics.json"]["step"] == {"old": 0, "new": 1, "diff": 1}
    assert "up to date" in sh(project, "dvc", "status")
