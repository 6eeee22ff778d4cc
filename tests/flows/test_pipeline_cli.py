"""`python -m flows.pipeline` options: one per flow parameter, `--help` runs nothing, and a bad
value fails naming the key before any stage or Prefect starts."""
from __future__ import annotations

import inspect
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flows.pipeline as cli
from flows.pipeline import parse_args, pipeline

from ..conftest import REPO, tiny_params, write_params
from ..helpers.projects import env


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m flows.pipeline <args>` from `cwd`, with this checkout importable."""
    return subprocess.run([sys.executable, "-m", "flows.pipeline", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env(PYTHONPATH=str(REPO)))


def test_help_prints_the_options_and_runs_nothing(tmp_path: Path):
    start = time.monotonic()
    done = run_cli("--help", cwd=tmp_path)
    took = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m flows.pipeline")
    for option in ("--root", "--source", "--model", "--epochs", "--image-size", "--experiment"):
        assert option in done.stdout
    assert "Starting temporary server" not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == [] and took < 60, took


def test_a_bad_option_fails_naming_the_key_before_anything_runs(tmp_path: Path):
    write_params(tmp_path, tiny_params())
    done = run_cli("--epochs", "0", "--root", str(tmp_path), cwd=tmp_path)
    assert done.returncode != 0
    assert "train.epochs" in done.stderr and "params.yaml" in done.stderr
    assert "Starting temporary server" not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_the_options_are_the_flows_parameters():
    assert set(parse_args([])) == set(inspect.signature(pipeline.fn).parameters)
    assert parse_args([]) == {"root": ".", "source": None, "model": None, "epochs": None, "image_size": None,
                              "experiment": None}
    assert parse_args(["--root", "p", "--source", "local", "--model", "residual", "--epochs", "3",
                       "--image-size", "64", "--experiment", "e"]) == {
        "root": "p", "source": "local", "model": "residual", "epochs": 3, "image_size": 64, "experiment": "e"}


def test_main_runs_the_flow_with_the_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_params(tmp_path, tiny_params())
    calls = []

    class Completed:
        name = "Completed"

        def is_completed(self) -> bool:
            return True

        def result(self) -> dict:
            return {}

    monkeypatch.setattr(cli, "pipeline", lambda **kwargs: calls.append(kwargs) or Completed())
    assert cli.main(["--root", str(tmp_path), "--epochs", "2", "--experiment", "two"]) == 0
    assert calls == [{"root": str(tmp_path), "source": None, "model": None, "epochs": 2, "image_size": None,
                      "experiment": "two", "return_state": True}]
