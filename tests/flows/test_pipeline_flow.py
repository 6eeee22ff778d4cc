"""The Prefect flow on a temporary Prefect API: DVC decides, the flow reports.

One tiny project is run by the flow from scratch, then rerun, failed, timed out and run with
parameters; a twin project run by `dvc repro` gives the dvc.lock to compare with.
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from flows.pipeline import resolve
from flows.workspace import LOCK, WorkspaceError, workspace_lock
from tasks.core.params_file import ParamsError
from tasks.runtime.progress import share_done as train_progress

from ..helpers.projects import STAGES, api_filter, new_project, run_flow, sh, write_params

pytestmark = pytest.mark.slow
FLOW = {"flow": {"timeouts": {"train": 300}}, "train": {"epochs": 2}}


def task_runs(state) -> dict[str, str]:
    """Task name -> final state name, for the flow run that ended in `state`."""
    runs = api_filter("task_runs", {"flow_runs": {"id": {"any_": [str(state.state_details.flow_run_id)]}}})
    return {run["name"]: run["state"]["name"] for run in runs}


def artifacts(state) -> list[dict]:
    """Every artifact of the flow run that ended in `state`, newest first."""
    return api_filter("artifacts", {"artifacts": {"flow_run_id": {"any_": [str(state.state_details.flow_run_id)]}}})


@pytest.fixture(scope="module")
def flown(tmp_path_factory: pytest.TempPathFactory, prefect_api: None) -> tuple[Path, object]:
    """A project brought up to date by the flow alone, then committed; and that first run's state."""
    root = new_project(tmp_path_factory.mktemp("flown"), **FLOW)
    state = run_flow(root, return_state=True)
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "flown")
    return root, state


def test_first_run_runs_every_stage_and_leaves_the_lock_dvc_repro_leaves(flown, tmp_path: Path):
    root, state = flown
    assert state.result() == {stage: "ran" for stage in STAGES}
    assert task_runs(state) == {stage: "Completed" for stage in STAGES}
    twin = new_project(tmp_path / "twin", **FLOW)
    sh(twin, "dvc", "repro")
    assert (twin / "dvc.lock").read_text() == (root / "dvc.lock").read_text()


def test_second_run_runs_no_stage_and_shows_them_cached(flown):
    root, _ = flown
    lock = (root / "dvc.lock").read_text()
    state = run_flow(root, return_state=True)
    assert state.result() == {stage: "cached" for stage in STAGES}
    assert task_runs(state) == {stage: "Cached" for stage in STAGES}
    assert (root / "dvc.lock").read_text() == lock


def test_every_run_leaves_summary_metrics_diff_docs_and_progress(flown):
    root, first = flown
    by_key = {a["key"]: a for a in artifacts(first) if a["key"]}
    summary = by_key["dogs-vs-cats-summary"]["data"]
    for part in ("| train | ran |", "SYNTHETIC", "expectations passed", "| accuracy |", "## Gate", "| keras |"):
        assert part in summary
    docs = by_key["data-docs"]["data"]  # a link artifact, which Prefect keeps as Markdown
    assert docs.startswith("[Great Expectations Data Docs](file://") and "data/data_docs/index.html" in docs
    assert (root / "data/data_docs/index.html").is_file()
    assert "no commit to compare with" in by_key["metrics-diff"]["data"]  # the first run had no commit
    progress = [a for a in artifacts(first) if a["type"] == "progress"]
    assert len(progress) == 1 and float(progress[0]["data"]) == 100.0
    # The progress bar advanced on each epoch line the train stage really logged.
    train_run = api_filter("task_runs", {"task_runs": {"name": {"any_": ["train"]}},
                                         "flow_runs": {"id": {"any_": [str(first.state_details.flow_run_id)]}}})
    logs = api_filter("logs", {"logs": {"task_run_id": {"any_": [train_run[0]["id"]]}}})
    assert [p for log in logs if (p := train_progress(log["message"])) is not None] == [50.0, 100.0]
    again = {a["key"]: a for a in artifacts(run_flow(root, return_state=True)) if a["key"]}
    diff = again["metrics-diff"]
    assert diff["type"] == "table" and "accuracy" in diff["data"] and "main" in diff["description"]


def test_a_refused_model_completes_the_run_and_its_summary_says_why(flown, tmp_path: Path):
    root = tmp_path / "refused"
    shutil.copytree(flown[0], root, symlinks=True)  # with its DVC cache: only evaluate and export rerun
    write_params(root, evaluate={"min_accuracy": 1.0}, **FLOW)
    state = run_flow(root, return_state=True)
    assert state.is_completed() and state.result()["export"] == "ran"
    summary = next(a["data"] for a in artifacts(state) if a["key"] == "dogs-vs-cats-summary")
    assert "**refused**: not exported" in summary and "< evaluate.min_accuracy 1.0" in summary
    assert "## Test metrics" in summary and "| accuracy |" in summary
    assert sorted(p.name for p in (root / "data/export").iterdir()) == ["model_card.md", "refused.json"]


def test_failed_validation_fails_the_run_with_its_message_and_stops(flown):
    root, _ = flown
    write_params(root, validate={"min_side": 4000}, **FLOW)
    try:
        state = run_flow(root, return_state=True)
    finally:
        sh(root, "git", "checkout", "params.yaml")
    assert state.is_failed()
    with pytest.raises(Exception, match=r"(?s)stage 'validate' failed: error: validate: 1 of 9 .*at least 4000 px"):
        state.result()
    assert task_runs(state) == {"download": "Cached", "split": "Cached", "validate": "Failed"}
    summary = next(a["data"] for a in artifacts(state) if a["key"] == "dogs-vs-cats-summary")
    assert "failed at validate" in summary and "| validate | **failed** |" in summary
    assert "at least 4000 px" in summary and "## Test metrics" not in summary


def test_a_stage_over_its_timeout_is_stopped_and_fails_the_run(flown):
    root, _ = flown
    model = (root / "data/model/model.keras").read_bytes()
    write_params(root, train={"epochs": 50}, flow={"timeouts": {"train": 2}})
    try:
        state = run_flow(root, return_state=True)
        with pytest.raises(Exception, match=r"stage 'train' timed out after 2 s \(flow.timeouts.train\)"):
            state.result()
        assert "train" in sh(root, "dvc", "status")  # still to do: nothing half-done was recorded
        assert (root / "data/model/model.keras").read_bytes() == model  # checked out again
    finally:
        # DVC deleted the stage's uncached outputs when it started it; they are in git.
        sh(root, "git", "checkout", "params.yaml", "data/live")
    assert "up to date" in sh(root, "dvc", "status")


def test_run_with_parameters_is_a_dvc_experiment_and_leaves_params_alone(flown):
    root, _ = flown
    params = (root / "params.yaml").read_bytes()
    state = run_flow(root, image_size=36, experiment="36px", return_state=True)
    outcome = state.result()
    assert outcome["experiment"] == "36px"
    assert {outcome[s] for s in ("download", "split", "validate")} == {"cached"}
    assert {outcome[s] for s in ("train", "evaluate", "export")} == {"ran"}
    assert (root / "params.yaml").read_bytes() == params
    assert sh(root, "git", "status", "--porcelain") == ""
    assert "36px" in sh(root, "dvc", "exp", "list", "--name-only")
    ref = sh(root, "git", "for-each-ref", "--format=%(refname)", "refs/exps/*/*/36px").strip()
    assert "image_size: 36" in sh(root, "git", "show", f"{ref}:params.yaml")
    docs = next(a["data"] for a in artifacts(state) if a["key"] == "data-docs")
    # validate was unchanged (its output came from the cache), so the workspace's docs apply
    assert f"]({(root / 'data/data_docs/index.html').as_uri()})" in docs


def test_bad_flow_parameter_is_refused_naming_the_key(tmp_path: Path):
    new_project(tmp_path)
    with pytest.raises(ParamsError, match=r"train\.model"):
        resolve(tmp_path, {"model": "alexnet"})
    assert resolve(tmp_path, {"model": "xception_mini", "epochs": None})[1] == {}  # as in params.yaml


def test_a_second_run_waits_for_the_workspace_or_gives_up_naming_the_lock(tmp_path: Path):
    (tmp_path / ".dvc").mkdir()
    held = threading.Event()

    def hold() -> None:
        with workspace_lock(tmp_path, 0):
            held.set()
            time.sleep(1.5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    with pytest.raises(WorkspaceError, match=str(tmp_path / LOCK)):
        with workspace_lock(tmp_path, 0):
            pass
    started = time.monotonic()
    with workspace_lock(tmp_path, 30):  # waits for the holder, then goes on
        assert time.monotonic() - started > 0.5
    holder.join()
