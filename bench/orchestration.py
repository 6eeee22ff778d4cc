"""Orchestration overhead: a no-op `dvc repro`, a no-op Prefect flow run, and Prefect's cost per
task, against a real Prefect server started here on 127.0.0.1 (as `make ui` runs one).

    python -m bench.orchestration [--root DIR] [--repeats 5]

Without --root it measures a tiny throwaway project, brought up to date first (untimed).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.harness import describe, median_seconds, record, write

TASKS = 60


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A `prefect server start` on a free loopback port; yields its API URL, stops it after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(120):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api}/health", timeout=2).is_success:
                    break
            time.sleep(1)
        else:
            raise RuntimeError("the Prefect server did not answer within 120 s")
        yield api
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def main(argv: list[str] | None = None) -> None:
    """Measure, print and write the orchestration figures."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--root", type=Path, help="an up-to-date project (default: a tiny one)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root
        if root is None:
            from tests.helpers.projects import new_project
            root = new_project(Path(scratch) / "project")
        root = root.resolve()
        dvc_repro = [sys.executable, "-m", "dvc", "repro"]
        subprocess.run(dvc_repro, cwd=root, env=env, check=True, capture_output=True)
        dvc_s, _ = median_seconds(lambda: subprocess.run(dvc_repro, cwd=root, env=env, check=True,
                                                         capture_output=True), args.repeats)
        with prefect_server(Path(scratch) / "prefect-home") as api:
            os.environ["PREFECT_API_URL"] = api  # before prefect is first imported
            from prefect import flow, task

            from flows.pipeline import pipeline

            with contextlib.chdir(root):  # the flow works where it runs: the project is no parameter
                flow_s, _ = median_seconds(lambda: pipeline(), args.repeats)
            proc_env = {**env, "PREFECT_API_URL": api}
            process_s, _ = median_seconds(lambda: subprocess.run(
                [sys.executable, "-m", "flows.pipeline"], cwd=root, env=proc_env, check=True,
                capture_output=True), max(3, args.repeats // 2))

            @task
            def nothing() -> None:
                return None

            @flow
            def tasks(n: int) -> None:
                for _ in range(n):
                    nothing()

            # Many tasks per flow, so the per-task cost stands above the flow's own noise.
            bare_s, _ = median_seconds(lambda: tasks(0), args.repeats)
            many_s, _ = median_seconds(lambda: tasks(TASKS), args.repeats)
            from prefect.logging.handlers import APILogHandler

            APILogHandler().flush()  # send the buffered logs while the server is still up
    results = [
        record("no-op dvc repro", dvc_s, "s", target="<= 2 s"),
        record("no-op Prefect flow run (server running)", flow_s, "s", target="<= 8 s"),
        record("no-op `python -m flows.pipeline` process", process_s, "s"),
        record("Prefect overhead per task", 1000 * (many_s - bare_s) / TASKS, "ms", tasks=TASKS),
    ]
    for r in results:
        print(f"{r['name']:45} {r['value']:>9.3f} {r['unit']:3} target {r['target'] or '-'}")
    print("written:", write(results, "cpu"))


if __name__ == "__main__":
    main()
