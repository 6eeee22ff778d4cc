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


def test_an_edit_while_train_runs_fails_train_and_records_nothing_mixed(project: Project, reference: Project,
                                                                       tmp_path: Path):
    old = _split_train(project)
    for cmd in (("add", "-A"), ("commit", "-q", "-m", "up to date")):  # `dvc exp run` needs a commit
        assert project.run("git", *cmd).returncode == 0
    marker, log = tmp_path / "frozen", tmp_path / "repro.log"
    proc = project.start(sys.executable, "-m", "dvc", "repro", "-f", "-s", "train", log=log,
                         **freeze_env("open", "*/data/.model.tmp-*/*", marker))
    try:
        pid, _ = wait_frozen(proc, marker, log)
        refused = project.dvc("exp", "run", "-S", f"split.train={old - 1}")
        assert refused.returncode != 0  # DVC's lock refuses it, but it has written params.yaml
        assert _split_train(project) == old - 1, refused.stdout + refused.stderr
        os.kill(pid, signal.SIGCONT)
        assert proc.wait(timeout=180) != 0
    finally:
        kill_group(proc)
    said = log.read_text()
    assert "error: train: " in said and "params.yaml changed while this stage ran" in said, said[-3000:]
    assert project.lock() == reference.lock()  # train's run with the old values is not recorded
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
