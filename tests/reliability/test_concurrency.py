"""Two pipeline runs at once. A first `dvc repro` is frozen in the middle of train (so it
certainly holds its locks), then a second run starts: a plain `dvc repro`, or the Prefect flow
(`python -m flows.pipeline`, each task a `dvc repro --single-item`). The second must be refused
by DVC's lock with a message naming the busy path and the first run's PID, without running any
stage; the first then finishes, and the workspace is exactly the reference run's."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from .harness import Project, freeze_env, kill_group, wait_frozen

pytestmark = pytest.mark.reliability("concurrent")


def _first_run(project: Project, tmp_path: Path):
    """`dvc repro -f -s train`, frozen at its first checkpoint write; returns (proc, stage pid)."""
    marker, log = tmp_path / "frozen", tmp_path / "first.log"
    proc = project.start(sys.executable, "-m", "dvc", "repro", "-f", "-s", "train", log=log,
                         **freeze_env("open", "*/data/.model.tmp-*/*", marker))
    pid, _ = wait_frozen(proc, marker, log)
    return proc, pid


def _let_finish(project: Project, reference: Project, proc, pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
    try:
        assert proc.wait(timeout=180) == 0
    finally:
        kill_group(proc)
    assert project.status() == {}
    assert project.lock() == reference.lock()
    assert project.leftovers() == []


def test_second_dvc_repro_is_refused_by_the_lock(project, reference, tmp_path):
    proc, pid = _first_run(project, tmp_path)
    try:
        second = project.dvc("repro")
    finally:
        _let_finish(project, reference, proc, pid)
    said = second.stdout + second.stderr
    assert second.returncode != 0 and "Running stage" not in said, said
    assert "is busy, it is being blocked by" in said and f"(PID {proc.pid})" in said, said


def test_prefect_flow_during_dvc_repro_fails_naming_the_lock(project, reference, tmp_path):
    proc, pid = _first_run(project, tmp_path)
    env = project.env(PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)  # the flow starts its own ephemeral server
    try:
        flow = project.run(sys.executable, "-m", "flows.pipeline", env=env, timeout=240)
    finally:
        _let_finish(project, reference, proc, pid)
    said = flow.stdout + flow.stderr
    assert flow.returncode != 0, said[-3000:]
    assert "Running stage" not in said, said[-3000:]
    assert "is busy, it is being blocked by" in said and f"(PID {proc.pid})" in said, said[-3000:]
