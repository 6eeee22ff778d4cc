"""Real Prefect processes for the end-to-end tests: `prefect server start` on 127.0.0.1 and
anything started beside it (`flows.serve`, CPU burners), each in its own session, stopped after.

Every wait has a deadline, and a failed wait shows the end of each log.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .projects import env

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


def stop(proc: subprocess.Popen) -> None:
    """Stop the process group of `proc`: SIGINT (a clean shutdown), then SIGKILL after 20 s."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
            return


@contextlib.contextmanager
def started(cmd: list[str], cwd: Path, environ: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Start `cmd` in its own session, logging to `log`; always stop the whole group after."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=environ, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def prefect_env(home: Path, **extra: str) -> dict[str, str]:
    """The pipeline's environment with Prefect settings of our own only: `home` as PREFECT_HOME
    (its own database) and `extra`; none inherited from this process."""
    clean = {k: v for k, v in env().items() if not k.startswith("PREFECT_")}
    return {**clean, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "COLUMNS": "250", **extra}


@dataclass
class Server:
    """A running `prefect server start`: its port and API URL, the environment that points at it,
    its log."""

    port: int
    api: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen


@contextlib.contextmanager
def prefect_server(workdir: Path, cwd: Path | None = None) -> Iterator[Server]:
    """`prefect server start`, run from `cwd` (default `workdir`) on a free loopback port (no
    --host: the default must be loopback), with its PREFECT_HOME and log under `workdir`; yields
    once its health check answers."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    environ = prefect_env(workdir / "prefect-home", PREFECT_API_URL=api, PREFECT_UI_ENABLED="false")
    log = workdir / "server.log"
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)]
    with started(cmd, cwd or workdir, environ, log) as proc:
        wait_for("the server's health check", lambda: httpx.get(f"{api}/health", timeout=5).is_success,
                 180, [log])  # a first start creates the database: slow on a busy machine
        yield Server(port, api, environ, log, proc)


def prefect_cli(server: Server, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `prefect <args>` against `server`, as a user would from `cwd`."""
    return subprocess.run([sys.executable, "-m", "prefect", *args], cwd=cwd, env=server.env,
                          capture_output=True, text=True, timeout=180)
