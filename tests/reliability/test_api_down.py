"""The Prefect API server dies under a running flow or a serving process (`kill -9` of a real
`prefect server`). A stage that goes on printing must still finish: its output is drained even
when logging it to the API fails. `flows.serve` must stop promptly on SIGINT or SIGTERM, and
leave nothing in the temp folder."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..helpers.prefect_server import prefect_server, started, wait_for
from ..helpers.projects import new_project

pytestmark = pytest.mark.reliability("api-down")

# A train stage that reports an epoch (the flow turns it into a progress artifact, an API call),
# waits until the test has killed the server, then prints ~1 MB: far more than a pipe holds.
CHATTER = """
import pathlib, sys, time
here = pathlib.Path(__file__).parent
print("[train] epoch 1/40: loss 0.69 (1.0 s)", flush=True)
(here / "started").touch()
deadline = time.monotonic() + 120
while not (here / "killed").exists() and time.monotonic() < deadline:
    time.sleep(0.2)
for n in range(2, 40):
    for _ in range(700):
        print(f"[train] epoch {n}/40: loss 0.5 " + "x" * 30, flush=True)
(here / "done").touch()
"""


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def test_a_stage_still_finishes_when_the_api_dies_while_it_prints(tmp_path: Path):
    """A run of the served deployment, started through the API as a user would."""
    root = new_project(tmp_path / "project")
    (root / "chatter.py").write_text(CHATTER)
    (root / "dvc.yaml").write_text("stages:\n  train:\n    cmd: python chatter.py\n")
    with prefect_server(tmp_path) as server:
        log = tmp_path / "serve.log"
        cmd = [sys.executable, "-m", "flows.serve", "--name", "it", "--no-schedule", "--root", str(root)]
        with started(cmd, root, server.env, log):
            found = wait_for("the deployment", lambda: (got := httpx.get(
                f"{server.api}/deployments/name/dogs-vs-cats/it", timeout=5)).is_success and got.json(), 120,
                [log, server.log])
            made = httpx.post(f"{server.api}/deployments/{found['id']}/create_flow_run", json={}, timeout=30)
            assert made.status_code == 201, made.text
            wait_for("the stage to start", lambda: (root / "started").exists(), 180, [log, server.log])
            time.sleep(2)  # its first line has reached the API as a progress update
            _kill(server.proc)
            (root / "killed").touch()
            deadline = time.monotonic() + 90
            while not (root / "done").exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert (root / "done").exists(), f"the stage blocked on a full pipe:\n{log.read_text()[-3000:]}"


def _served_then_orphaned(tmp_path: Path, sig: signal.Signals) -> tuple[float, Path, Path]:
    """Serve a project, kill its API server, send `sig`; (seconds it took to stop, its temp
    folder, its log)."""
    root = new_project(tmp_path / "project")
    temp = tmp_path / "temp"
    temp.mkdir()
    with prefect_server(tmp_path) as server:
        log = tmp_path / "serve.log"
        cmd = [sys.executable, "-m", "flows.serve", "--name", "it", "--no-schedule", "--root", str(root)]
        with started(cmd, root, {**server.env, "TMPDIR": str(temp)}, log) as serve:
            wait_for("the deployment", lambda: httpx.get(
                f"{server.api}/deployments/name/dogs-vs-cats/it", timeout=5).is_success, 120, [log])
            _kill(server.proc)
            time.sleep(2)
            start = time.monotonic()
            os.killpg(serve.pid, sig)
            try:
                serve.wait(60)
            except subprocess.TimeoutExpired:
                pass
            return time.monotonic() - start, temp, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_promptly_after_its_api_died(tmp_path: Path, sig):
    took, temp, log = _served_then_orphaned(tmp_path, sig)
    assert took < 10, f"still running {took:.0f} s after {sig.name}:\n{log.read_text()[-3000:]}"
    assert list(temp.iterdir()) == [], list(temp.rglob("*"))
    assert "could not pause the schedule" in log.read_text()
