"""`kill -9` of the Prefect flow (`python -m flows.pipeline`) in the middle of train. Its
watchdog marks the run Crashed and stops what the flow started (`dvc repro`, the train stage,
the ephemeral API server), so no orphan goes on writing outputs that dvc.lock never records;
the next flow run recognises the dead one and resumes training after its last finished epoch."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flows.watchdog import descendants

from .harness import Project, freeze_env, kill_group, wait_frozen

pytestmark = pytest.mark.reliability("flow-kill")


def _flow(project: Project, tmp_path: Path, log: Path, **env: str) -> subprocess.Popen:
    environ = project.env(PREFECT_HOME=str(tmp_path / "prefect"), **env)
    environ.pop("PREFECT_API_URL", None)  # the flow's own ephemeral API server
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "flows.pipeline"], cwd=project.root, env=environ,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _alive(pids: dict[int, int]) -> list[str]:
    alive = []
    for pid in pids:
        try:
            alive.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
        except OSError:
            continue
    return alive


def test_a_killed_flow_leaves_no_orphans_and_the_next_run_resumes(project, tmp_path):
    raw = yaml.safe_load((project.root / "params.yaml").read_text())
    raw["train"]["epochs"] = 3  # train must run again; freeze at the second epoch's checkpoint
    (project.root / "params.yaml").write_text(yaml.safe_dump(raw))
    marker, log = tmp_path / "frozen", tmp_path / "first.log"
    flow = _flow(project, tmp_path, log, **freeze_env(
        "open", "*/data/cache/train-state/*/.weights-2.npz.tmp-*", marker))
    try:
        wait_frozen(flow, marker, log)
        started = descendants(flow.pid)
        assert any("tasks.train" in c for c in _alive(started)), _alive(started)
        os.kill(flow.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (left := _alive(started)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not left, f"still running after the flow was killed: {left}"
    finally:
        kill_group(flow)
    assert not list(project.paths.model_dir.glob("*")), "the stopped train stage wrote its output"

    log2 = tmp_path / "second.log"
    second = _flow(project, tmp_path, log2)
    try:
        assert second.wait(timeout=300) == 0, log2.read_text()[-3000:]
    finally:
        kill_group(second)
    said = log2.read_text()
    first_id = re.search(r"flow run (\S+) died without finishing", said)
    assert first_id, said[-3000:]
    assert "resuming from epoch 1 of 3" in said, said[-3000:]
    assert project.status() == {}
    listed = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "ls"], cwd=project.root,
                            env={**project.env(PREFECT_HOME=str(tmp_path / "prefect")), "COLUMNS": "250"},
                            capture_output=True, text=True, timeout=120)
    assert re.search(r"CRASHED", listed.stdout), listed.stdout + listed.stderr
