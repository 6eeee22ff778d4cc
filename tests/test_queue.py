"""A parameter sweep as queued DVC experiments: `dvc exp run --queue` per point, `dvc queue start
-j 2` to run them two at a time, `dvc exp show` to compare. Queue workers inherit the caller's
stdout and outlive `dvc queue start`: their output must go to a file, not a pipe."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers.projects import env, new_project, sh

pytestmark = pytest.mark.slow
GRID = [{"train.model": "residual", "train.image_size": 32}, {"train.model": "simple", "train.image_size": 80}]


def dvc(root: Path, *args: str, log: Path) -> None:
    with open(log, "a") as out:  # not a pipe: queue workers would hold it open
        done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env(DVC_NO_ANALYTICS="1"),
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600)
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{log.read_text()[-3000:]}"


def test_a_queued_sweep_runs_two_at_a_time_and_lands_in_exp_show(tmp_path: Path):
    root = new_project(tmp_path / "project", train={"model": "residual", "image_size": 32})
    log = tmp_path / "dvc.log"
    dvc(root, "repro", log=log)
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "baseline")
    for i, point in enumerate(GRID):
        dvc(root, "exp", "run", "--queue", "-n", f"sweep-{i}", *[f"-S{k}={v}" for k, v in point.items()], log=log)
    dvc(root, "queue", "start", "-j", "2", log=log)
    deadline = time.monotonic() + 900
    while True:
        status = subprocess.run([sys.executable, "-m", "dvc", "queue", "status"], cwd=root, env=env(),
                                capture_output=True, text=True, timeout=120).stdout
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(5)
    assert "Failed" not in status, status + log.read_text()[-3000:]
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=root, env=env(),
                           capture_output=True, text=True, timeout=120)
    runs = {rev["name"]: rev["data"] for row in json.loads(shown.stdout)
            for exp in (row.get("experiments") or []) for rev in (exp.get("revs") or []) if rev.get("name")}
    assert {"sweep-0", "sweep-1"} <= set(runs), runs.keys()
    for i, point in enumerate(GRID):
        data = runs[f"sweep-{i}"]
        assert data["params"]["params.yaml"]["data"]["train"]["model"] == point["train.model"]
        assert "accuracy" in json.dumps(data["metrics"]), data["metrics"]
    sh(root, sys.executable, "-m", "dvc", "queue", "stop")
