"""End to end: all six stages through `dvc repro` and through the Prefect flow, on tiny data,
in a fresh git + DVC project. Checks caching, key-level params, metrics diff, and that going
back to params that already ran restores train instead of training again."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers.projects import STAGES, env, new_project, ran, run_flow, sh, write_params

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

    lock = (project / "dvc.lock").read_text()
    outcome = run_flow(project)
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


def baseline_lock(project: Path, where: str) -> dict:
    """dvc.lock from the workspace or a git rev, less export's output: its model card records
    the git revision, which the baseline's commit moved."""
    lock = yaml.safe_load(sh(project, "git", "show", where) if ":" in where
                          else (project / where).read_text())
    del lock["stages"]["export"]["outs"]
    return lock


def test_going_back_to_params_that_ran_restores_train_without_training(project: Path):
    write_params(project)  # the baseline's params again, after the run above
    out = sh(project, "dvc", "repro")
    assert "train" in ran(out)  # (export may come from DVC's run-cache: its outputs are cached)
    assert "restored finished run" in out and "INFO [train] epoch " not in out, out
    assert baseline_lock(project, "dvc.lock") == baseline_lock(project, "HEAD:dvc.lock")


def test_a_params_typo_fixed_after_dvc_deleted_train_outputs_restores_without_training(project: Path):
    good = (project / "params.yaml").read_text()
    typo = yaml.safe_load(good)
    typo["train"]["epochs"] = "one"
    (project / "params.yaml").write_text(yaml.safe_dump(typo))
    failed = subprocess.run(["dvc", "repro"], cwd=project, env=env(), capture_output=True, text=True)
    assert failed.returncode != 0 and "exited with 2" in failed.stdout + failed.stderr
    assert "train.epochs" in failed.stdout + failed.stderr
    assert not (project / "data/model").exists()  # DVC deleted train's outputs before running it
    (project / "params.yaml").write_text(good)
    out = sh(project, "dvc", "repro")
    assert ran(out) == {"train"}  # the same model: evaluate and export are up to date
    assert "restored finished run" in out and "INFO [train] epoch " not in out, out
    assert baseline_lock(project, "dvc.lock") == baseline_lock(project, "HEAD:dvc.lock")
