"""As a user does it: `make ui` (`prefect server start`) and `CRON="* * * * *" make serve`
(`python -m flows.serve --cron ...`) in a project, then nothing: the schedule alone must create a
run that completes, with no error in the server's log. Then every Prefect command the README
shows, against that server.

One server and one served deployment for the module; the project is already up to date, so a
scheduled run runs no stage and the wait is the schedule's own (up to about two minutes).
"""
from __future__ import annotations

import re
import shlex
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from ..conftest import REPO
from ..helpers.prefect_server import FINAL, prefect_cli, prefect_server, started, wait_for
from ..helpers.projects import api_filter
from .conftest import copy_project

pytestmark = pytest.mark.slow
# What the issue ran besides the README's commands (each failed with a 422 under fastapi 0.154).
LISTS = ["prefect deployment ls", "prefect flow-run ls", "prefect artifact ls", "prefect work-pool ls"]
SERVER_ERRORS = re.compile(r"\bERROR\b|Traceback|Can't evaluate bulk DML")


def readme_commands() -> list[str]:
    """The `prefect ...` command lines in the code blocks of the README's "Prefect" section (the
    served deployment; the work-pool commands of "Working as a team" need pools, and
    tests/flows/test_work_pools.py runs them), comments stripped."""
    lines, in_code = [], False
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Prefect\n"):]
    section = section[:section.index("\n## ", 1)]
    for line in section.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif in_code and line.startswith("prefect "):
            lines.append(line.split(" #")[0].strip())
    return lines


def test_the_lock_pins_versions_prefect_works_with():
    """An early, clear message; the tests below show what goes wrong without these pins."""
    assert version("fastapi").startswith("0.150."), "fastapi 0.154 answers 422 to Prefect's `... ls` commands"
    major, minor = (int(part) for part in version("sqlalchemy").split(".")[:2])
    assert (major, minor) < (2, 1), "SQLAlchemy 2.1 breaks Prefect's scheduler: no scheduled run is created"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, current_template: Path):
    """`prefect server start` and `python -m flows.serve --cron "* * * * *"`, both from the project
    root as the Makefile runs them; yields the project, the server and the deployment."""
    work = tmp_path_factory.mktemp("scheduled")
    root = copy_project(current_template, work / "project")
    with prefect_server(work, cwd=root) as server:
        serve_log = work / "serve.log"
        serve = [sys.executable, "-m", "flows.serve", "--cron", "* * * * *"]
        with started(serve, root, server.env, serve_log):

            def deployment() -> dict | None:
                response = httpx.get(f"{server.api}/deployments/name/dogs-vs-cats/scheduled", timeout=5)
                return response.json() if response.is_success else None

            logs = [server.log, serve_log]
            yield root, server, serve_log, wait_for("the deployment", deployment, 180, logs)


@pytest.fixture(scope="module")
def scheduled_run(served) -> dict:
    """The first run the schedule created (the test creates none) once it has completed; fails at
    once if it ends otherwise."""
    _, server, serve_log, deployment = served
    start = time.monotonic()

    def completed() -> dict | None:
        mine = {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}
        runs = api_filter("flow_runs", mine, server.api)
        ended = [r for r in runs if r["auto_scheduled"] and r["state"] and r["state"]["type"] in FINAL]
        for run in ended:
            assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{serve_log.read_text()[-3000:]}"
        return ended[0] if ended else None

    run = wait_for("a run created by the schedule to complete", completed, 180, [server.log, serve_log])
    took = time.monotonic() - start
    print(f"scheduled run {run['name']} completed {took:.0f} s after the deployment was served")
    return run


def test_the_schedule_alone_creates_a_run_that_completes_and_the_server_logs_no_error(served, scheduled_run):
    _, server, serve_log, _ = served
    assert scheduled_run["idempotency_key"].startswith("scheduled ")  # made by the scheduler service
    assert "root" not in scheduled_run["parameters"]  # the project is where serve runs, not a parameter
    assert scheduled_run["state"]["name"] == "Completed"
    errors = [line for line in server.log.read_text().splitlines() if SERVER_ERRORS.search(line)]
    assert not errors, "\n".join(errors[:20])
    assert "Traceback" not in serve_log.read_text()


def test_every_prefect_command_in_the_readme_succeeds_against_the_server(served, scheduled_run):
    root, server, _, _ = served
    commands = readme_commands()
    assert any(c.startswith("prefect deployment run dogs-vs-cats/scheduled -p ") for c in commands)
    listed_by = []
    for command in dict.fromkeys(commands + LISTS):
        done = prefect_cli(server, *shlex.split(command)[1:], cwd=root)
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "Traceback" not in output, f"{command}:\n{output}"
        if command.startswith("prefect flow-run ls") and scheduled_run["name"] in output:
            listed_by.append(command)
        if command.startswith("prefect deployment run"):
            # The run it asked for, with the parameters given; cancelled so that it trains nothing.
            run_id = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)[1]
            asked = dict(arg.split("=", 1) for arg in shlex.split(command)[5::2])
            given = httpx.get(f"{server.api}/flow_runs/{run_id}", timeout=10).json()["parameters"]
            assert {k: str(v) for k, v in given.items() if k in asked} == asked
            cancel = prefect_cli(server, "flow-run", "cancel", run_id, cwd=root)
            assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert set(listed_by) & set(commands), f"no README `prefect flow-run ls` lists {scheduled_run['name']}"
