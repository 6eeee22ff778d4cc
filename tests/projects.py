"""Throwaway git + DVC projects holding this repo's code, for the end-to-end tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO, tiny_params

STAGES = ("download", "split", "validate", "train", "evaluate", "export")
SOURCES = ("tasks", "flows", "dvc.yaml", ".gitignore", "data/.gitignore")


def env() -> dict[str, str]:
    """This interpreter first on PATH (dvc.yaml runs `python`), and a git identity for commits."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t"}


def sh(root: Path, *cmd: str) -> str:
    """Run a command in `root`; fail the test with its output unless it exits 0."""
    done = subprocess.run(cmd, cwd=root, env=env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` output says it ran."""
    return {s for s in STAGES if f"Running stage '{s}'" in output}


def write_params(root: Path, **sections: dict) -> None:
    """Tiny params (xception_mini, exported as .keras) with `sections` overriding key by key."""
    sections["train"] = {"model": "xception_mini", **sections.get("train", {})}
    params = tiny_params(**sections)
    (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True)))


def new_project(root: Path, **sections: dict) -> Path:
    """A git + DVC project in `root` with this repo's code and tiny params; nothing run yet."""
    for item in SOURCES:
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, root / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / item)
    write_params(root, **sections)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "dvc", "init", "-q")
    return root


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
