"""Integration: prefect.yaml's cpu and gpu deployments on process work pools, set up as `make deploy`
does (`python -m flows.pools`, `prefect deploy --all`) against a real server on 127.0.0.1, with one
`prefect worker start` per pool; then the sweep flow on them, and a worker killed mid-run.

One server, project and pair of workers serve the whole module (a tiny pipeline takes minutes on
2 shared cores). The tests run in file order: the first brings the project up to date, the last
kills the cpu worker. Workers stop before the server (they take 10-20 s to exit).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import psutil
import pytest

from ..conftest import REPO
from ..helpers.prefect_server import FINAL, free_port, started, wait_for
from ..helpers.projects import api_filter, env, new_project, sh
from ..helpers.workers import call, finished, online, process_view, run_of, trigger

pytestmark = pytest.mark.slow
WAITING = {"SCHEDULED", "PENDING"}  # a run a pool holds back has not been submitted yet


@contextlib.contextmanager
def deployed(tmp: Path, workers: tuple[str, ...] = ("cpu", "gpu"), before: tuple[list[str], ...] = ()):
    """A committed tiny project, a server, the two pools and deployments set up as `make deploy`
    does (after the commands `before`, run in the project), and a worker for each of `workers`
    (named <pool>-worker); stopped after, workers first."""
    root = new_project(tmp / "project", train={"model": "residual"})
    shutil.copy(REPO / "prefect.yaml", root / "prefect.yaml")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "tiny project")
    api = f"http://127.0.0.1:{free_port()}/api"
    environ = {**env(), "PREFECT_HOME": str(tmp / "prefect-home"), "PREFECT_API_URL": api,
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
               # Workers poll every 2 s and beat every 5 s; the server calls one dead after 3 missed beats.
               "PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
               "PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS": "5"}
    logs = {name: tmp / f"{name}.log" for name in ("server", *workers)}
    with contextlib.ExitStack() as stack:
        stack.enter_context(started([sys.executable, "-m", "prefect", "server", "start", "--port",
                                     api.split(":")[2].split("/")[0]], tmp, environ, logs["server"]))
        wait_for("the server", lambda: httpx.get(f"{api}/health", timeout=5).is_success, 120, list(logs.values()))
        for cmd in (*before,  # then as `make deploy` (the default limits: cpu=2 gpu=1):
                    [sys.executable, "-m", "flows.pools", f"--project-dir={root}", "--gpu-devices=0"],
                    [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"]):
            done = subprocess.run(cmd, cwd=root, env=environ, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
        started_workers = {pool: stack.enter_context(started(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--name", f"{pool}-worker"],
            tmp, environ, logs[pool])) for pool in workers}
        for pool in started_workers:
            wait_for(f"the {pool} worker", lambda pool=pool: online(api, pool), 120, list(logs.values()))
        yield SimpleNamespace(api=api, root=root, environ=environ, logs=logs, workers=started_workers)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory):
    """A committed tiny project, a server, the two pools and deployments, and a worker per pool."""
    with deployed(tmp_path_factory.mktemp("team")) as found:
        yield found


def test_each_run_goes_to_its_own_pool(team):
    cpu = trigger(team, "cpu")
    run = finished(team, cpu, 900)  # the whole tiny pipeline, from nothing
    assert run["state"]["type"] == "COMPLETED", (run["state"], team.logs["cpu"].read_text()[-3000:])
    gpu = finished(team, trigger(team, "gpu"), 300)  # up to date now: no stage runs
    assert gpu["state"]["type"] == "COMPLETED", (gpu["state"], team.logs["gpu"].read_text()[-3000:])
    assert (run["work_pool_name"], gpu["work_pool_name"]) == ("cpu", "gpu")
    cpu_log, gpu_log = team.logs["cpu"].read_text(), team.logs["gpu"].read_text()
    assert f"Worker 'cpu-worker' submitting flow run '{cpu}'" in cpu_log and gpu["id"] not in cpu_log
    assert f"Worker 'gpu-worker' submitting flow run '{gpu['id']}'" in gpu_log and cpu not in gpu_log
    assert (team.root / "data/export/model.keras").is_file()


def test_a_pool_limit_of_one_queues_the_second_run(team):
    assert call("GET", f"{team.api}/work_pools/gpu")["concurrency_limit"] == 1
    ids = [trigger(team, "gpu"), trigger(team, "gpu")]
    seen, views = set(), []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        runs = [run_of(team, i) for i in ids]
        states = tuple(r["state"]["type"] for r in runs)
        seen.add(states)
        for r in runs:  # the pool's fixed working dir and environment, as the flow's process got them
            if r["state"]["type"] == "RUNNING" and r["infrastructure_pid"] and len(views) < 3:
                views += filter(None, [process_view(int(r["infrastructure_pid"].split(":")[-1]))])
        if all(s in FINAL for s in states):
            break
        time.sleep(0.5)
    assert [r["state"]["type"] for r in runs] == ["COMPLETED", "COMPLETED"], [r["state"] for r in runs]
    assert ("RUNNING", "RUNNING") not in seen, seen
    assert any("RUNNING" in states and set(states) - {"RUNNING"} <= WAITING for states in seen), seen
    first, second = sorted(runs, key=lambda r: r["start_time"])
    assert second["start_time"] >= first["end_time"], "the second run started before the first ended"
    assert views, "never caught a gpu run's process alive"
    environ, cwd = views[0]
    assert environ.get("CUDA_VISIBLE_DEVICES") == "0" and Path(cwd) == team.root


def test_the_sweep_compares_every_run_best_first(team):
    cmd = [sys.executable, "-m", "flows.sweep", "--epochs", "1", "2", "--parallel", "2", "--root", str(team.root)]
    done = subprocess.run(cmd, cwd=team.root, env=team.environ, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    [artifact] = api_filter("artifacts", {"artifacts": {"key": {"any_": ["sweep-comparison"]}}}, team.api)
    rows = json.loads(artifact["data"])
    assert sorted(r["epochs"] for r in rows) == [1, 2] and {r["state"] for r in rows} == {"Completed"}
    accuracies = [r["accuracy"] for r in rows]
    assert all(isinstance(a, float) for a in accuracies) and accuracies == sorted(accuracies, reverse=True)
    by_epochs = {r["epochs"]: r for r in rows}
    # epochs=1 is params.yaml's value: that run worked in the workspace; epochs=2 is an experiment.
    workspace = json.loads((team.root / "data/metrics/evaluate.json").read_text())["test"]
    assert "workspace" in by_epochs[1]["run"] and by_epochs[1]["accuracy"] == workspace["accuracy"]
    shown = json.loads(subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=team.root,
                                      env=env(), capture_output=True, text=True, check=True).stdout)
    exps = {rev["name"]: rev["data"] for c in shown for e in c.get("experiments") or [] for rev in e["revs"]}
    data = exps[by_epochs[2]["run"]]
    assert data["params"]["params.yaml"]["data"]["train"]["epochs"] == 2
    assert data["metrics"]["data/metrics/evaluate.json"]["data"]["test"]["accuracy"] == by_epochs[2]["accuracy"]
    children = api_filter("flow_runs", {"flow_runs": {"name": {"any_": [by_epochs[2]["run"]]}}}, team.api)
    assert [(c["work_pool_name"], c["parent_task_run_id"] is not None) for c in children] == [("cpu", True)]


def test_a_killed_worker_leaves_its_run_to_finish(team):
    """SIGKILL to a worker (or to its process group) does not reach the flow run it started: Prefect
    starts it in a session of its own. The run carries on and completes; its watchdog has nothing to
    report; the server shows the worker offline and the pool not ready."""
    run_id = trigger(team, "cpu", epochs=3)

    def training() -> bool:
        tasks = api_filter("task_runs", {"flow_runs": {"id": {"any_": [run_id]}}}, team.api)
        return any(t["name"] == "train" and t["state"]["type"] == "RUNNING" for t in tasks)

    wait_for("the run to reach train", training, 600, list(team.logs.values()))
    pid = int(run_of(team, run_id)["infrastructure_pid"].split(":")[-1])
    environ, cwd = process_view(pid)
    assert environ.get("CUDA_VISIBLE_DEVICES") == "" and Path(cwd) == team.root
    worker = team.workers["cpu"]
    assert os.getsid(pid) != os.getsid(worker.pid)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and everything in its process group
    worker.wait(10)
    time.sleep(2)
    assert psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    wait_for("the server to see the worker gone", lambda: not online(team.api, "cpu"), 120, [])
    assert call("GET", f"{team.api}/work_pools/cpu")["status"] == "NOT_READY"
    run = finished(team, run_id, 900)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    tasks = api_filter("task_runs", {"flow_runs": {"id": {"any_": [run_id]}}}, team.api)
    assert {t["name"]: t["state"]["type"] for t in tasks}.get("export") == "COMPLETED"
