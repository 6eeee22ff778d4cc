"""A flow run's watchdog: when the run's process dies without cleaning up (`kill -9`, the OOM
killer), it marks the run Crashed in Prefect and stops every process the run had started.

Without it, a killed flow leaves `dvc repro` and the stage it runs (own session, reparented to
init) and Prefect's ephemeral API server running, and the UI shows the run RUNNING forever.
`guard` starts it as a child process that polls its parent; Linux only (it reads /proc).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

POLL = 1.0  # seconds between looks at the parent and its descendants


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of `root`, as pid -> start time (to spot a reused pid later)."""
    table = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p)))}
    found, todo = {}, [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, started) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                todo.append(pid)
    return found


def api_url() -> str | None:
    """The Prefect API this process talks to (the ephemeral server's, if none is set)."""
    from prefect.client.orchestration import get_client

    with contextlib.suppress(Exception), get_client(sync_client=True) as client:
        return str(client.api_url).rstrip("/")
    return None


def mark_crashed(api: str | None, run_id: str, message: str) -> None:
    """Force the flow run's state to CRASHED (best effort: the API may be gone too)."""
    if api is None:
        return
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{api}/flow_runs/{run_id}/set_state", timeout=10, json={
            "state": {"type": "CRASHED", "name": "Crashed", "message": message}, "force": True})


def _stop(procs: dict[int, int]) -> None:
    alive = lambda: {p: s for p, s in procs.items() if (st := _stat(p)) and st[1] == s}  # noqa: E731
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0)):
        for pid in alive():
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while alive() and time.monotonic() < deadline:
            time.sleep(0.2)


def watch(parent: int, api: str | None, run_id: str | None) -> None:
    """Poll `parent`; once it is gone, mark its run crashed and stop what it left running."""
    me, seen = os.getpid(), {}
    while os.getppid() == parent:
        seen = {p: s for p, s in descendants(parent).items() if p != me}
        time.sleep(POLL)
    if api and run_id:  # first, while the ephemeral API server (a descendant) still answers
        mark_crashed(api, run_id, f"the flow's process {parent} died (killed?); its watchdog "
                                  f"stopped the {len(seen)} processes it had started")
    _stop(seen)


@contextlib.contextmanager
def guard(api: str | None, run_id: str | None) -> Iterator[None]:
    """Watch this process for the block; a normal exit (or an exception) stops the watchdog."""
    proc = subprocess.Popen([sys.executable, "-m", "flows.watchdog", json.dumps(
        {"parent": os.getpid(), "api": api, "run_id": run_id})], start_new_session=True,
        cwd=Path(__file__).resolve().parents[1])
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the run ended normally
    watch(**json.loads(sys.argv[1]))
