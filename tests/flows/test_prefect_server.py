"""Integration: a real `prefect server` on 127.0.0.1, the deployment served by `flows.serve`, a
run triggered with `prefect deployment run`, and its artifacts read back through the API.

Every process started here runs in its own session and is stopped in `finally`; every wait has
a deadline.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from ..helpers.projects import api_filter, env, new_project

pytestmark = pytest.mark.slow
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], object], seconds: float, logs: list[Path]) -> object:
    """Poll `check` until it returns something truthy; fail naming `what` and the logs' ends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if result := check():
                return result
        time.sleep(1)
    tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"gave up waiting {seconds} s for {what}\n{tails}")


@contextlib.contextmanager
def started(cmd: list[str], cwd: Path, environ: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Start `cmd` in its own session, logging to `log`; always stop the whole group after."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=environ, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        for sig in (signal.SIGINT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
                break


def test_served_deployment_runs_from_the_api_and_keeps_its_artifacts(tmp_path: Path):
    root = new_project(tmp_path / "project")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    environ = {**env(), "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api,
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    logs = [server_log, serve_log]
    # No --host: the default must be loopback only.
    server_cmd = [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)]
    with started(server_cmd, tmp_path, environ, server_log) as server:
        wait_for("the server's health check", lambda: httpx.get(f"{api}/health", timeout=5).is_success, 120, logs)
        listening = {c.laddr.ip for c in psutil.Process(server.pid).net_connections()
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        listening |= {c.laddr.ip for child in psutil.Process(server.pid).children(recursive=True)
                      for c in child.net_connections() if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}

        serve_cmd = [sys.executable, "-m", "flows.serve", "--name", "it", "--no-schedule", "--root", str(root)]
        with started(serve_cmd, root, environ, serve_log):
            wait_for("the deployment", lambda: httpx.get(f"{api}/deployments/name/dogs-vs-cats/it",
                                                          timeout=5).is_success, 120, logs)
            trigger = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", "dogs-vs-cats/it"],
                                     cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)
            assert trigger.returncode == 0, trigger.stdout + trigger.stderr
            run_id = re.search(r"UUID: ([0-9a-f-]{36})", trigger.stdout)[1]

            def final_state() -> dict | None:
                state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=5).json()["state"]
                return state if state["type"] in FINAL else None

            state = wait_for("the flow run to finish", final_state, 420, logs)
            assert state["type"] == "COMPLETED", f"{state}\n{serve_log.read_text()[-3000:]}"
            arts = api_filter("artifacts", {"artifacts": {"flow_run_id": {"any_": [run_id]}}}, api)
    keys = {a["key"] for a in arts}
    assert {"dogs-vs-cats-summary", "metrics-diff", "data-docs"} <= keys
    assert any(a["type"] == "progress" and float(a["data"]) == 100.0 for a in arts)
    summary = next(a["data"] for a in arts if a["key"] == "dogs-vs-cats-summary")
    assert "| export | ran |" in summary and "| accuracy |" in summary
    assert (root / "dvc.lock").is_file() and (root / "data/export/model.keras").is_file()
