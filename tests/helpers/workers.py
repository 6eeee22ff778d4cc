"""Talking to a Prefect server's API about work pools, deployments and flow runs, for the tests."""
from __future__ import annotations

import contextlib
import time
from types import SimpleNamespace

import httpx
import psutil

from .prefect_server import FINAL, wait_for


def call(method: str, url: str, **kwargs) -> dict | list:
    """One API call, tried again for up to two minutes while a busy server answers 503 (SQLite
    locked, as Prefect's own client does) or not in time; the JSON answer."""
    deadline = time.monotonic() + 120
    while True:
        try:
            answer = httpx.request(method, url, timeout=30, **kwargs)
        except httpx.TimeoutException:
            if time.monotonic() > deadline:
                raise
            continue
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(1)
    answer.raise_for_status()
    return answer.json()


def online(api: str, pool: str) -> list[str]:
    """Names of the pool's workers the server counts as online."""
    found = call("POST", f"{api}/work_pools/{pool}/workers/filter", json={"limit": 10, "offset": 0})
    return [w["name"] for w in found if w["status"] == "ONLINE"]


def trigger(team: SimpleNamespace, deployment: str, **parameters: object) -> str:
    """Create a run of `dogs-vs-cats/<deployment>`, as `prefect deployment run` does; its id."""
    dep = call("GET", f"{team.api}/deployments/name/dogs-vs-cats/{deployment}")
    return call("POST", f"{team.api}/deployments/{dep['id']}/create_flow_run", json={"parameters": parameters})["id"]


def run_of(team: SimpleNamespace, run_id: str) -> dict:
    return call("GET", f"{team.api}/flow_runs/{run_id}")


def finished(team: SimpleNamespace, run_id: str, seconds: float) -> dict:
    """The flow run once it is in a final state."""
    return wait_for(f"flow run {run_id} to finish", lambda: (r := run_of(team, run_id))["state"]["type"]
                    in FINAL and r, seconds, list(team.logs.values()))


def process_view(pid: int) -> tuple[dict[str, str], str] | None:
    """(environment, working directory) of a live process, as the worker started it."""
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        return proc.environ(), proc.cwd()
    return None
