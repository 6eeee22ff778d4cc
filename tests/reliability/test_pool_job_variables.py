"""The job variables of a work-pool run are set by whoever reaches the Prefect API (it has no login
by default): a run may override what the pool's base job template offers as `variables`. Tried as
such a caller would, on prefect.yaml's cpu deployment set up as `make deploy` does (a real server,
`python -m flows.pools`, `prefect deploy --all`) with a cpu worker polling: a run's `command`,
`working_dir` (another project) or `env` (PYTHONPATH naming code of the caller's) is refused when
the run is created (422), no run is made and nothing of the caller's runs. The pool fixes them at
`make deploy`; a run without job variables is still taken."""
from __future__ import annotations

import shlex
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from ..flows.test_work_pools import deployed
from ..helpers.workers import call

pytestmark = pytest.mark.reliability("api")


# What a `make deploy` before this change left on a server: pools with Prefect's default process
# template (every setting a run may change) and deployments carrying their own job variables.
OLD_YAML = """\
name: dogs-vs-cats
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: .
deployments:
  - name: cpu
    entrypoint: flows.pipeline.pipeline
    work_pool: {name: cpu, job_variables: {working_dir: /somewhere/else, env: {CUDA_VISIBLE_DEVICES: ""}}}
  - name: gpu
    entrypoint: flows.pipeline.pipeline
    work_pool: {name: gpu, job_variables: {working_dir: /somewhere/else, env: {CUDA_VISIBLE_DEVICES: "1"}}}
"""
PREFECT = [sys.executable, "-m", "prefect", "--no-prompt"]


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory):
    """The project deployed on its pools as `make deploy` does, over what an older `make deploy`
    left (OLD_YAML); a cpu worker polling; and code of an attacker's: a folder with a
    sitecustomize.py and another "project" whose flows/pipeline.py, each writing the marker file
    named in the MARKER environment variable or its own when imported."""
    tmp = tmp_path_factory.mktemp("pool")
    (tmp / "old.yaml").write_text(OLD_YAML)
    before = ([*PREFECT, "work-pool", "create", "cpu", "--type", "process"],
              [*PREFECT, "work-pool", "create", "gpu", "--type", "process"],
              [*PREFECT, "deploy", "--all", "--prefect-file", str(tmp / "old.yaml")])
    with deployed(tmp, workers=("cpu",), before=before) as team:
        evil = tmp / "evil"
        (evil / "flows").mkdir(parents=True)
        (evil / "sitecustomize.py").write_text(
            f"import os\nopen(os.environ.get('MARKER', {str(tmp / 'PWNED-env')!r}), 'w').close()\n")
        (evil / "flows" / "__init__.py").write_text("")
        (evil / "flows" / "pipeline.py").write_text(
            f"open({str(tmp / 'PWNED-working-dir')!r}, 'w').close()\n\ndef pipeline(**kw):\n    pass\n")
        team.evil, team.tmp = evil, tmp
        team.deployment = call("GET", f"{team.api}/deployments/name/dogs-vs-cats/cpu")["id"]
        yield team


def run_ids(pool) -> set[str]:
    found = call("POST", f"{pool.api}/flow_runs/filter",
                 json={"limit": 200, "offset": 0, "sort": "START_TIME_DESC"})
    return {r["id"] for r in found}


def appears(path: Path, seconds: float) -> bool:
    """Whether `path` exists within `seconds` (the worker polls every 2 s)."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(1)
    return path.exists()


def create(pool, **body) -> httpx.Response:
    """POST a run of the cpu deployment, as the UI's "Run" form or any API client does."""
    return httpx.post(f"{pool.api}/deployments/{pool.deployment}/create_flow_run", json=body, timeout=30)


def refused(pool, job_variables: dict, marker: Path) -> None:
    """A run asking for `job_variables` is refused with 422, no run is made, and the caller's code
    (which writes `marker` when it runs) never runs."""
    before = run_ids(pool)
    answer = create(pool, job_variables=job_variables)
    if answer.is_success:  # a run was made: give the worker time to start it
        appears(marker, 90)
    assert not marker.exists(), f"the run did what the caller asked: {marker} exists ({answer.status_code})"
    assert answer.status_code == 422, (answer.status_code, answer.text)
    assert "Validation failed" in answer.json()["detail"], answer.text
    assert run_ids(pool) == before


def test_a_run_cannot_choose_its_command(pool):
    marker = pool.tmp / "PWNED-command"
    refused(pool, {"command": f"sh -c {shlex.quote(f'id > {marker}')}"}, marker)


def test_a_run_cannot_choose_another_project(pool):
    refused(pool, {"working_dir": str(pool.evil)}, pool.tmp / "PWNED-working-dir")


@pytest.mark.parametrize("variables", [
    {"env": {"PYTHONPATH": "{evil}", "MARKER": "{marker}"}},
    {"env": {"PYTHONPATH": "{evil}", "MARKER": "{marker}", "LD_PRELOAD": "{evil}/no.so",
             "CUDA_VISIBLE_DEVICES": "0"}},
    {"env.PYTHONPATH": "{evil}", "env.MARKER": "{marker}"},  # the worker reads dotted keys as nested
], ids=["PYTHONPATH", "LD_PRELOAD", "dotted-key"])
def test_a_run_cannot_set_its_environment(pool, variables, request):
    marker = pool.tmp / f"PWNED-env-{request.node.callspec.id}"

    def fill(value):
        return ({k: fill(v) for k, v in value.items()} if isinstance(value, dict)
                else value.format(evil=pool.evil, marker=marker))
    refused(pool, fill(variables), marker)


def test_the_cli_job_variable_option_is_refused_too(pool):
    marker = pool.tmp / "PWNED-cli"
    before = run_ids(pool)
    done = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", "dogs-vs-cats/cpu",
                           "--job-variable", f"command=sh -c 'id > {marker}'"],
                          cwd=pool.tmp, env=pool.environ, capture_output=True, text=True, timeout=120)
    if done.returncode == 0:
        appears(marker, 90)
    assert not marker.exists(), done.stdout
    assert done.returncode == 1 and "Validation failed" in done.stdout, done.stdout + done.stderr
    assert run_ids(pool) == before


def test_a_scheduled_run_cannot_be_given_job_variables_later(pool):
    """A run without job variables is taken (scheduled a day ahead, so no worker starts it); a PATCH
    that adds some afterwards is refused, and the run keeps none."""
    later = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    answer = create(pool, state={"type": "SCHEDULED", "state_details": {"scheduled_time": later}})
    assert answer.status_code == 201, answer.text
    run = answer.json()
    try:
        assert run["job_variables"] == {} and run["work_pool_name"] == "cpu"
        marker = pool.tmp / "PWNED-patch"
        patched = httpx.patch(f"{pool.api}/flow_runs/{run['id']}", timeout=30,
                              json={"job_variables": {"command": f"sh -c 'id > {marker}'"}})
        assert patched.status_code == 422, (patched.status_code, patched.text)
        assert call("GET", f"{pool.api}/flow_runs/{run['id']}")["job_variables"] == {}
    finally:
        httpx.delete(f"{pool.api}/flow_runs/{run['id']}", timeout=30)


def test_make_deploy_fixes_the_pools_over_an_older_setup(pool):
    """flows.pools replaced the default templates of the existing pools (and set their limits);
    `prefect deploy --all` cleared the job variables the older deployments carried."""
    for name, devices, limit in (("cpu", "", 2), ("gpu", "0", 1)):
        found = call("GET", f"{pool.api}/work_pools/{name}")
        assert found["type"] == "process" and found["concurrency_limit"] == limit
        template = found["base_job_template"]
        assert template["variables"] == {"type": "object", "properties": {}, "additionalProperties": False}
        assert template["job_configuration"]["working_dir"] == str(pool.root)
        assert template["job_configuration"]["env"] == {"CUDA_VISIBLE_DEVICES": devices,
                                                        "DVC_NO_ANALYTICS": "1"}
        assert template["job_configuration"]["command"] is None  # the worker's own `python -m prefect.engine`
        deployment = call("GET", f"{pool.api}/deployments/name/dogs-vs-cats/{name}")
        assert deployment["job_variables"] == {} and deployment["work_pool_name"] == name
