"""Two pipeline runs at once. A first `dvc repro` is frozen in the middle of train (so it
certainly holds its locks), then a second run starts: a plain `dvc repro`, or the Prefect flow
(`python -m flows.pipeline`, each task a `dvc repro --single-item`). A second `dvc repro` is
refused by DVC's lock, naming the busy path and the first run's PID, without running any stage;
the flow waits for the first run (up to flow.lock_wait), then goes on, or gives up naming the
lock. Either way the workspace ends exactly as the reference run's."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

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


def _flow(project: Project, tmp_path: Path, lock_wait: int, log: Path) -> subprocess.Popen:
    """`python -m flows.pipeline` in the background on its own ephemeral Prefect server, allowed to
    wait `lock_wait` s for another DVC run (flow.lock_wait: no DVC stage reads it)."""
    raw = yaml.safe_load((project.root / "params.yaml").read_text())
    raw.setdefault("flow", {})["lock_wait"] = lock_wait
    (project.root / "params.yaml").write_text(yaml.safe_dump(raw))
    env = project.env(PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "flows.pipeline"], cwd=project.root, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def test_prefect_flow_during_dvc_repro_waits_for_it_then_completes(project, reference, tmp_path):
    proc, pid = _first_run(project, tmp_path)
    log = tmp_path / "flow.log"
    flow = _flow(project, tmp_path, 300, log)
    try:
        deadline = time.monotonic() + 180
        while "another DVC run holds" not in log.read_text():
            assert flow.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        os.kill(pid, signal.SIGCONT)  # the first run ends; the waiting flow goes on
        assert proc.wait(timeout=180) == 0
        assert flow.wait(timeout=240) == 0, log.read_text()[-3000:]
    finally:
        kill_group(flow)
        kill_group(proc)
    assert project.status() == {} and project.lock() == reference.lock() and project.leftovers() == []


def test_prefect_flow_gives_up_after_its_lock_wait_naming_the_lock(project, reference, tmp_path):
    proc, pid = _first_run(project, tmp_path)
    log = tmp_path / "flow.log"
    flow = _flow(project, tmp_path, 5, log)
    try:
        code = flow.wait(timeout=240)
    finally:
        kill_group(flow)
        _let_finish(project, reference, proc, pid)
    said = log.read_text()
    assert code != 0, said[-3000:]
    assert "Running stage" not in said, said[-3000:]
    assert "gave up after flow.lock_wait=5 s" in said, said[-3000:]
    assert "is busy, it is being blocked by" in said and f"(PID {proc.pid})" in said, said[-3000:]
