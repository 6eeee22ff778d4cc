"""`python -m flows.pipeline` options: one per flow parameter, `--help` runs nothing, and a bad
value fails naming the key before any stage or Prefect starts."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flows.pipeline as cli
from flows.parameters import closed, resolve
from flows.pipeline import decided, parse_args, pipeline
from tasks.core.params_file import ParamsError
from tasks.core.train_params import TRAINING_KEYS

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
    for option in ("--root", "--source", "--recipe", "--model", "--epochs", "--image-size", "--experiment"):
        assert option in done.stdout
    assert "Starting temporary server" not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == [] and took < 60, took


def test_a_bad_option_fails_naming_the_key_before_anything_runs(tmp_path: Path):
    write_params(tmp_path, tiny_params())
    done = run_cli("--epochs", "0", "--root", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "--epochs" in done.stderr and "train.epochs" in done.stderr
    assert "Starting temporary server" not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_the_options_are_the_flows_parameters():
    # --root is where the flow runs, not a parameter: an API caller must not choose the project
    assert set(parse_args([])) - {"root"} == set(inspect.signature(pipeline.fn).parameters)
    assert parse_args([]) == {"root": ".", "source": None, "recipe": None, "model": None, "epochs": None,
                              "image_size": None, "experiment": None}
    assert parse_args(["--root", "p", "--source", "local", "--model", "residual", "--epochs", "3",
                       "--image-size", "64", "--experiment", "e", "--recipe", "cpu"]) == {
        "root": "p", "source": "local", "recipe": "cpu", "model": "residual", "epochs": 3, "image_size": 64,
        "experiment": "e"}


def test_main_runs_the_flow_with_the_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_params(tmp_path, tiny_params())
    calls = []

    class Completed:
        name = "Completed"

        def is_completed(self) -> bool:
            return True

        def result(self) -> dict:
            return {}

    monkeypatch.setattr(cli, "pipeline", lambda **kwargs: calls.append((Path.cwd(), kwargs)) or Completed())
    assert cli.main(["--root", str(tmp_path), "--epochs", "2", "--experiment", "two"]) == 0
    assert calls == [(tmp_path, {"source": None, "recipe": None, "model": None, "epochs": 2, "image_size": None,
                                 "experiment": "two", "return_state": True})]
    assert Path.cwd() != tmp_path  # back where it was


def test_a_train_key_beside_a_recipe_that_sets_it_is_refused_naming_both(tmp_path: Path):
    raw = tiny_params().model_dump(mode="json", by_alias=True)
    recipe = {k: v for k, v in raw["train"].items() if k in TRAINING_KEYS}
    raw["recipes"] = {"quick": {**recipe, "epochs": 3}}
    (tmp_path / "params.yaml").write_text(json.dumps(raw))  # JSON is YAML, with no aliases
    with pytest.raises(ParamsError, match=r"epochs=5 conflicts with train.recipe 'quick', which sets train.epochs"):
        resolve(tmp_path, {"recipe": "quick", "epochs": 5})
    params, changed = resolve(tmp_path, {"recipe": "quick"})
    assert params.train.epochs == 3 and changed == {"train.recipe": "quick"}
    assert resolve(tmp_path, {"recipe": "custom", "epochs": 5})[0].train.epochs == 5


def test_a_refused_model_ends_the_run_named_refused_with_the_reasons():
    outcome = {"export": "ran"}
    assert decided({"blessed": True}, outcome) == outcome
    state = decided({"blessed": False, "reasons": ["test accuracy 0.40 < evaluate.min_accuracy 0.50"]}, outcome)
    assert state.is_completed() and state.name == "Refused"
    assert "0.40 < evaluate.min_accuracy" in state.message


def test_the_run_form_offers_each_parameters_choices_bounds_and_meaning():
    from prefect.utilities.callables import parameter_schema

    schema = closed(parameter_schema(pipeline.fn).model_dump(exclude_unset=True), ["book", "cpu"])
    props = schema["properties"]
    assert schema["additionalProperties"] is False and "root" not in props
    assert all(p.get("description") for p in props.values()), props
    assert props["recipe"]["enum"] == ["custom", "book", "cpu"]
    assert "xception_mini" in props["model"]["enum"] and props["source"]["enum"][0] == "sample"
    assert (props["image_size"]["minimum"], props["image_size"]["maximum"]) == (32, 512)
    assert props["epochs"]["minimum"] == 1 and "pattern" in props["experiment"]
    assert not any("default" in p or "anyOf" in p for p in props.values())  # one typed field each
