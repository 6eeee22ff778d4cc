"""Throwaway git + DVC projects holding this repo's code, for the end-to-end tests."""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from flows.dvc import stages
from tasks.core.config import Params

from ..conftest import REPO, make_project, pipeline_env, tiny_params
from ..conftest import write_params as write_params_file

STAGES = stages(REPO)  # as dvc.yaml declares them
env = pipeline_env


def sh(root: Path, *cmd: str) -> str:
    """Run a command in `root`; fail the test with its output unless it exits 0."""
    done = subprocess.run(cmd, cwd=root, env=pipeline_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` output says it ran."""
    return {s for s in STAGES if f"Running stage '{s}'" in output}


def tiny(**sections: dict) -> Params:
    """Tiny params (xception_mini, exported as .keras) with `sections` overriding key by key."""
    return tiny_params(**{**sections, "train": {"model": "xception_mini", **sections.get("train", {})}})


def write_params(root: Path, **sections: dict) -> None:
    """Replace the project's params.yaml with tiny(**sections)."""
    write_params_file(root, tiny(**sections))


def new_project(root: Path, **sections: dict) -> Path:
    """A git + DVC project in `root` with this repo's code and tiny(**sections); nothing run yet."""
    return make_project(root, tiny(**sections))


def run_flow(root: Path, **kwargs):
    """The flow, run in `root` as a served deployment or a worker runs it: it works in the
    directory it starts in."""
    from flows.pipeline import pipeline

    with contextlib.chdir(root):
        return pipeline(**kwargs)


def api_filter(kind: str, body: dict, api_url: str | None = None) -> list[dict]:
    """POST /api/<kind>/filter to the Prefect API in use. Every paging field is sent: this Prefect
    server refuses the nulls its own client sends for the ones left out."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = f"{api_url or PREFECT_API_URL.value()}/{kind}/filter"
    sort = {"task_runs": "EXPECTED_START_TIME_ASC", "flow_runs": "START_TIME_DESC",
            "logs": "TIMESTAMP_ASC"}.get(kind, "CREATED_DESC")
    response = httpx.post(url, json={"limit": 200, "offset": 0, "sort": sort, **body}, timeout=30)
    response.raise_for_status()
    return response.json()
