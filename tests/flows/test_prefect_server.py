"""Integration: a real `prefect server` on 127.0.0.1, the deployment served by `flows.serve`, a
run triggered with `prefect deployment run`, and its artifacts read back through the API.

Every process started here runs in its own session and is stopped in `finally`; every wait has
a deadline.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from ..helpers.prefect_server import FINAL, prefect_cli, prefect_server, started, wait_for
from ..helpers.projects import api_filter, new_project

pytestmark = pytest.mark.slow


def test_served_deployment_runs_from_the_api_and_keeps_its_artifacts(tmp_path: Path):
    root = new_project(tmp_path / "project")
    with prefect_server(tmp_path) as server:
        api, port, serve_log = server.api, server.port, tmp_path / "serve.log"
        logs = [server.log, serve_log]
        listening = {c.laddr.ip for c in psutil.Process(server.proc.pid).net_connections()
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        listening |= {c.laddr.ip for child in psutil.Process(server.proc.pid).children(recursive=True)
                      for c in child.net_connections() if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}

        serve_cmd = [sys.executable, "-m", "flows.serve", "--name", "it", "--no-schedule", "--root", str(root)]
        with started(serve_cmd, root, server.env, serve_log):
            wait_for("the deployment", lambda: httpx.get(f"{api}/deployments/name/dogs-vs-cats/it",
                                                          timeout=5).is_success, 120, logs)
            trigger = prefect_cli(server, "deployment", "run", "dogs-vs-cats/it", cwd=tmp_path)
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
