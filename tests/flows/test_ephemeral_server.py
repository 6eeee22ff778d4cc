"""`python -m flows.pipeline` with no server (no PREFECT_API_URL) while every core is busy: Prefect
starts a temporary server for the run, and prefect.toml, read from the project root, gives it long
enough to start (Prefect's default of 20 s timed out while training used both cores)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..helpers.prefect_server import prefect_env, started

pytestmark = pytest.mark.slow
BURNERS = 3  # more busy processes than this machine's 2 cores


def test_the_flow_starts_its_own_server_and_completes_on_a_loaded_machine(current_project: Path,
                                                                         tmp_path: Path):
    environ = prefect_env(tmp_path / "prefect-home")  # a fresh database to create, as on first use
    assert "PREFECT_API_URL" not in environ
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
               for _ in range(BURNERS)]
    log = tmp_path / "flow.log"
    try:
        start = time.monotonic()
        with started([sys.executable, "-m", "flows.pipeline"], current_project, environ, log) as flow:
            code = flow.wait(600)
        took = time.monotonic() - start
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    output = log.read_text()
    print(f"flow run with {BURNERS} CPU burners on {os.cpu_count()} cores: {took:.0f} s")
    assert code == 0, output[-5000:]
    assert "Starting temporary server" in output  # the ephemeral server, not one already running
    assert "'train': 'cached'" in output  # up to date: the run trained nothing
