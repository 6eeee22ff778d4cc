"""main is a true baseline: the committed dvc.lock records the code and params of this checkout,
so `dvc metrics diff main` compares against numbers the current code makes. Cheap: it hashes
files as DVC does (md5 of the bytes) and trains nothing. After a change to a stage's code or
params, refresh with `make run` and commit dvc.lock with the metrics and plots."""
from __future__ import annotations

import hashlib

import pytest
import yaml

from tasks.core.params_file import read_params_file

from ..conftest import REPO

LOCK = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"] if (REPO / "dvc.lock").is_file() else {}
CODE = sorted({(stage, dep["path"], dep["md5"]) for stage, entry in LOCK.items() for dep in entry.get("deps", [])
               if dep["path"].endswith(".py")})


def _value(raw: dict, key: str) -> object:
    for part in key.split("."):
        raw = raw[part]
    return raw


def test_the_lock_is_committed_for_every_stage():
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(LOCK) == set(spec), "dvc.lock lacks a stage: run `make run` and commit dvc.lock"


@pytest.mark.parametrize("stage, path, md5", CODE, ids=[f"{s}:{p}" for s, p, _ in CODE])
def test_each_code_dependency_is_as_the_lock_records(stage: str, path: str, md5: str):
    file = REPO / path
    assert file.is_file() and hashlib.md5(file.read_bytes()).hexdigest() == md5, (
        f"{path} changed since dvc.lock was committed ({stage}): run `make run` and commit dvc.lock, "
        "metrics and plots with the change")


def test_each_stage_param_is_as_the_lock_records():
    raw = read_params_file(REPO / "params.yaml")
    stale = [f"{stage}: {key}" for stage, entry in LOCK.items()
             for key, value in entry.get("params", {}).get("params.yaml", {}).items() if _value(raw, key) != value]
    assert stale == [], "params.yaml differs from dvc.lock: run `make run` and commit dvc.lock"


def test_the_lock_lists_exactly_the_code_dvc_yaml_names():
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage, entry in LOCK.items():
        locked = sorted(d["path"] for d in entry.get("deps", []) if d["path"].endswith(".py"))
        assert locked == sorted(d for d in spec[stage]["deps"] if d.endswith(".py")), stage
