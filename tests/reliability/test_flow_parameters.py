"""Flow parameters are set by whoever reaches the Prefect API (it has no login by default). Tried
as such a caller would: a real `prefect server`, the deployment served by `flows.serve`, runs
created through the REST API and `prefect deployment run`. A path as `experiment`, a `root`
naming another project and an integer past its bound are refused when the run is created; the
command line refuses them before anything runs, and no cleanup reaches outside the scratch
folder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from flows.workspace import SCRATCH, WorkspaceError, experiment_workspace, inside, remove

from ..helpers.prefect_server import FINAL, prefect_cli, prefect_server, started, wait_for
from ..helpers.projects import env, new_project, sh

pytestmark = pytest.mark.reliability("api")
DEPLOYMENT = "dogs-vs-cats/it"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """A tiny project served as a deployment on a real server (nothing run yet), and a victim
    folder outside it."""
    work = tmp_path_factory.mktemp("served")
    root = new_project(work / "project")
    victim = work / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "sub" / "precious.txt").write_text("precious")
    with prefect_server(work) as server:
        log = work / "serve.log"
        cmd = [sys.executable, "-m", "flows.serve", "--name", "it", "--no-schedule", "--root", str(root)]
        with started(cmd, root, server.env, log):
            found = wait_for("the deployment", lambda: (got := httpx.get(
                f"{server.api}/deployments/name/{DEPLOYMENT}", timeout=5)).is_success and got, 120,
                [server.log, log])
            yield SimpleNamespace(server=server, root=root, victim=victim, work=work, logs=[server.log, log],
                                  deployment=found.json()["id"])


def create(served, **parameters) -> httpx.Response:
    """POST a flow run of the deployment, as the UI's "Run" form or any API client does."""
    return httpx.post(f"{served.server.api}/deployments/{served.deployment}/create_flow_run",
                      json={"parameters": parameters}, timeout=30)


def runs(served) -> list[dict]:
    done = httpx.post(f"{served.server.api}/flow_runs/filter", json={"limit": 200, "offset": 0,
                      "sort": "START_TIME_DESC"}, timeout=30)
    assert done.status_code == 200, done.text  # the run list works for everyone
    return done.json()


def intact(victim: Path) -> bool:
    return (victim / "sub" / "precious.txt").read_text() == "precious"


@pytest.mark.parametrize("name", ["{victim}", "../../../../{victim_name}", "a/../../b", ""])
def test_an_experiment_name_that_is_a_path_is_refused_when_the_run_is_created(served, name):
    bad = name.format(victim=served.victim, victim_name=served.victim.name)
    done = create(served, epochs=2, experiment=bad)
    assert done.status_code == 409 and "experiment" in done.text, done.text
    assert intact(served.victim)
    assert all(run["parameters"].get("experiment") != bad for run in runs(served))


def test_a_flow_run_name_that_is_a_path_never_becomes_a_folder(served):
    """The run's own name is the caller's too: the flow refuses it as an experiment name."""
    done = httpx.post(f"{served.server.api}/deployments/{served.deployment}/create_flow_run", timeout=30,
                      json={"parameters": {"epochs": 2}, "name": f"../../../../{served.victim.name}"})
    assert done.status_code == 201, done.text

    def final() -> dict | None:
        state = httpx.get(f"{served.server.api}/flow_runs/{done.json()['id']}", timeout=5).json()["state"]
        return state if state["type"] in FINAL else None

    state = wait_for("the run to end", final, 300, served.logs)
    assert state["type"] == "FAILED" and "experiment=" in state["message"], state
    assert intact(served.victim)
    assert not (served.root / SCRATCH).exists()  # refused before any clone


def test_root_is_not_a_parameter_and_is_refused_when_the_run_is_created(served, tmp_path):
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "dvc.yaml").write_text(f"stages:\n  download:\n    cmd: touch {tmp_path}/PWNED\n")
    done = create(served, root=str(evil))
    assert done.status_code == 409 and "root" in done.text, done.text
    said = prefect_cli(served.server, "deployment", "run", DEPLOYMENT, "-p", f"root={evil}", cwd=tmp_path)
    assert said.returncode != 0 and "'root'" in said.stdout + said.stderr
    assert not (tmp_path / "PWNED").exists()


def test_a_huge_integer_is_refused_and_the_run_list_keeps_working(served, tmp_path):
    done = create(served, image_size=10**20)
    assert done.status_code == 409 and "image_size" in done.text and "512" in done.text, done.text
    said = prefect_cli(served.server, "deployment", "run", DEPLOYMENT, "-p", "epochs=100000000000000000000",
                       cwd=tmp_path)
    assert said.returncode != 0 and "epochs" in said.stdout + said.stderr
    listed = prefect_cli(served.server, "flow-run", "ls", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert all(run["parameters"].get("image_size") != 10**20 for run in runs(served))


def test_the_command_line_refuses_a_path_as_experiment_before_anything_runs(served, tmp_path):
    for bad in (str(served.victim), f"../../../../{served.victim.name}"):
        done = subprocess.run([sys.executable, "-m", "flows.pipeline", "--epochs", "2", "--experiment", bad,
                               "--root", str(served.root)], cwd=served.root, env=env(), capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2 and "--experiment" in done.stderr, done.stderr
        assert "Starting temporary server" not in done.stdout + done.stderr
    assert intact(served.victim)


def test_no_cleanup_removes_a_path_outside_the_scratch_folder(served, tmp_path):
    scratch = tmp_path / "scratch"
    (scratch / "ok").mkdir(parents=True)
    link = scratch / "link"
    link.symlink_to(served.victim, target_is_directory=True)
    for outside in (served.victim, scratch / ".." / served.victim.name, link, scratch):
        with pytest.raises(WorkspaceError, match="refused to remove"):
            remove(scratch, outside)
    for name in (str(served.victim), "../x", "a/b"):
        with pytest.raises(WorkspaceError, match="refused experiment name"):
            inside(scratch, name)
    remove(scratch, scratch / "ok")
    assert not (scratch / "ok").exists() and intact(served.victim)


@pytest.mark.reliability("consistency")
def test_a_second_experiment_of_a_name_is_refused_naming_it(tmp_path):
    root = new_project(tmp_path / "project")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "start")
    sh(root, "git", "update-ref", "refs/exps/ab/cdef0123/taken", "HEAD")  # as `dvc exp save -n taken`
    with pytest.raises(WorkspaceError, match="an experiment named 'taken' already exists"):
        with experiment_workspace(root, "taken", {"train.epochs": 2}):
            pass
    assert not (root / SCRATCH / "taken").exists()
