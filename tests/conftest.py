"""Shared fixtures: tiny params, a tiny generated sample, and a project rooted in tmp_path."""
from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# DVC's usage report is written to a /tmp file for a daemon to send; offline, every dvc command
# of the suite would leave one behind.
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from tasks import download, split, validate
from tasks.core.config import Params
from tasks.core.params_file import parse_params
from tasks.core.paths import Paths
from tasks.sources.sample import write_sample_archive

REPO = Path(__file__).resolve().parents[1]
SHARED_ZIP = REPO.parent / "shared" / "data" / "dogs-vs-cats-mini.zip"

TINY = {
    "download": {"sample_per_class": 12},
    "split": {"train": 4, "validation": 2, "test": 4},
    "train": {"model": "residual", "image_size": 32, "epochs": 1, "batch_size": 4},
    "evaluate": {"min_accuracy": 0.0},
    "export": {"formats": ["keras"]},
}


# TensorFlow's native start-up lines, which no log level silences: with oneDNN on (its default on
# AVX-512 CPUs), absl's "WARNING: All log messages before absl::InitializeLog() ..." and an
# "I0000 ... port.cc:153] oneDNN custom operations are on" line at each import.
NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\).*"
                        r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*)\n?", re.M)


def without_native_log(stderr: str) -> str:
    """`stderr` less TensorFlow's native start-up lines: what the stage itself wrote."""
    return NATIVE_LOG.sub("", stderr)


def tiny_params(**sections: dict) -> Params:
    """Tiny, fast params; keyword sections override TINY key by key."""
    raw = {name: dict(values) for name, values in TINY.items()}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return parse_params(raw, "test-params")


def pipeline_env(**extra: str) -> dict[str, str]:
    """The environment for `dvc`, `git` and `python -m tasks.*` subprocesses: this interpreter's
    bin first (dvc.yaml runs `python`), and a git identity for commits."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t", **extra}


def write_params(root: Path, params: Params) -> Path:
    """Write `params` as a complete params.yaml under `root` (dvc.yaml lists every key)."""
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True)))
    return path


def make_project(root: Path, params: Params) -> Path:
    """A fresh git + DVC project at `root`: this checkout's pipeline code, and `params`."""
    for item in ("tasks", "flows", "dvc.yaml", "prefect.toml", ".gitignore", "data/.gitignore",
                 "data/local"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, root / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / item)
    write_params(root, params)
    for cmd in (["git", "init", "-q", "-b", "main"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=root, env=pipeline_env(), check=True, capture_output=True)
    return root


@contextlib.contextmanager
def local_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 (a free port) for the block; yields the base URL."""
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session", autouse=True)
def outside_the_repo(tmp_path_factory: pytest.TempPathFactory):
    """Run every test from an empty directory: stages must only use the paths they are given
    (and DVCLive must not find this checkout's git repo)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Kaggle-layout sample archive, 12 images per class, built once per session."""
    return write_sample_archive(tmp_path_factory.mktemp("archive") / "dogs-vs-cats.zip", 12, 42, 4)


@pytest.fixture
def split_project(paths: Paths, tiny_archive: Path) -> Paths:
    """A project whose download and split stages have run on the tiny archive."""
    params = tiny_params(download={"source": "local", "path": str(tiny_archive)})
    download.run(params, paths)
    split.run(params, paths)
    return paths


@pytest.fixture(scope="session")
def validated_template(tmp_path_factory: pytest.TempPathFactory, tiny_archive: Path) -> Path:
    """A project through validate, built once; copy it with `validated_project`."""
    root = tmp_path_factory.mktemp("validated")
    paths = Paths(root)
    params = tiny_params(download={"source": "local", "path": str(tiny_archive)})
    for stage in (download, split, validate):
        stage.run(params, paths)
    return root


@pytest.fixture
def validated_project(validated_template: Path, tmp_path: Path) -> Paths:
    root = tmp_path / "project"
    shutil.copytree(validated_template, root)
    return Paths(root)


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory, validated_template: Path) -> Path:
    """A project through train (tiny residual model, one epoch), built once."""
    from tasks import train

    root = tmp_path_factory.mktemp("trained") / "project"
    shutil.copytree(validated_template, root)
    train.run(tiny_params(), Paths(root))
    return root


@pytest.fixture
def trained_project(trained_template: Path, tmp_path: Path) -> Paths:
    root = tmp_path / "project"
    shutil.copytree(trained_template, root)
    return Paths(root)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect API (SQLite) for every flow test: it takes ~10 s to start."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
