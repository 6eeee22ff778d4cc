"""params.yaml edited under a running pipeline: a `dvc exp run -S` refused by DVC's lock still
writes its value. A run must use one set of params from start to end, or stop saying so: never
a dvc.lock (or a model card) that records one value for one stage and another for the next."""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from .harness import Project, freeze_env, kill_group, wait_frozen

pytestmark = pytest.mark.reliability("consistency")


def _split_train(project: Project) -> int:
    return yaml.safe_load((project.root / "params.yaml").read_text())["split"]["train"]


def _recorded(project: Project) -> dict[str, object]:
    """Each stage's recorded split.train in dvc.lock, where it records one."""
    stages = project.lock()["stages"]
    found = {}
    for name, entry in stages.items():
        params = entry.get("params", {}).get("params.yaml", {})
        if "split.train" in params:
            found[name] = params["split.train"]
        elif "split" in params:
            found[name] = params["split"]["train"]
    return found


def _frozen_in_train(project: Project, tmp_path: Path, *args: str):
    """`dvc repro <args>` frozen at train's first checkpoint write; (process, stage pid, log)."""
    for cmd in (("add", "-A"), ("commit", "-q", "-m", "up to date")):  # `dvc exp run` needs a commit
        assert project.run("git", *cmd).returncode == 0
    marker, log = tmp_path / "frozen", tmp_path / "repro.log"
    proc = project.start(sys.executable, "-m", "dvc", "repro", *args, log=log,
                         **freeze_env("open", "*/data/.model.tmp-*/*", marker))
    pid, _ = wait_frozen(proc, marker, log)
    return proc, pid, log


def _edit_and_go_on(project: Project, proc, pid: int, setting: str) -> int:
    """A `dvc exp run -S <setting>` refused by DVC's lock (it still edits params.yaml), then the
    frozen run goes on; its exit code."""
    refused = project.dvc("exp", "run", "-S", setting)
    assert refused.returncode != 0, refused.stdout  # DVC's lock refuses it, but it has written params.yaml
    key, value = setting.split("=")
    section, leaf = key.split(".")
    assert str(yaml.safe_load((project.root / "params.yaml").read_text())[section][leaf]) == value
    os.kill(pid, signal.SIGCONT)
    return proc.wait(timeout=180)


def test_an_edit_of_trains_params_while_it_runs_fails_train(project: Project, reference: Project,
                                                           tmp_path: Path):
    proc, pid, log = _frozen_in_train(project, tmp_path, "-f", "-s", "train")
    try:
        assert _edit_and_go_on(project, proc, pid, "train.learning_rate=0.5") != 0
    finally:
        kill_group(proc)
    said = log.read_text()
    assert "error: train: " in said and "params.yaml changed while this stage ran" in said, said[-3000:]
    assert project.lock() == reference.lock()  # train's run with the old values is not recorded


def test_an_edit_upstream_during_a_run_stops_it_and_records_nothing_mixed(project: Project, reference: Project,
                                                                        tmp_path: Path):
    """The issue's case: split.train edited while `dvc repro` is in train. Train's own params are
    unchanged, so it completes; evaluate then refuses to work on a split made with other values."""
    old = _split_train(project)
    proc, pid, log = _frozen_in_train(project, tmp_path, "-f")
    try:
        assert _edit_and_go_on(project, proc, pid, f"split.train={old - 1}") != 0
    finally:
        kill_group(proc)
    said = log.read_text()
    assert f"split ran with split.train={old}, params.yaml now says {old - 1}" in said, said[-3000:]
    assert project.lock() == reference.lock()  # every stage recorded with the values it ran with
    project.repro()  # one set of params, start to end
    assert set(_recorded(project).values()) == {old - 1}
    data = json.loads((project.root / "data/export/model_card.json").read_text())["data"]
    assert data["requested_per_class"]["train"] == data["counts"]["train/cat"] == old - 1  # claims what it counts


def test_an_edit_between_stages_is_refused_by_the_next_stage(project: Project, reference: Project):
    """The flow runs each stage as its own `dvc repro --single-item`: an edit between two of them
    is seen by the next stage, which refuses to run with values its inputs were not made with."""
    old = _split_train(project)
    text = (project.root / "params.yaml").read_text()
    (project.root / "params.yaml").write_text(text.replace(f"train: {old}\n", f"train: {old - 1}\n", 1))
    assert _split_train(project) == old - 1
    done = project.dvc("repro", "--single-item", "-f", "evaluate")
    said = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"split ran with split.train={old}, params.yaml now says {old - 1}" in said, said[-3000:]
    assert project.lock() == reference.lock()
