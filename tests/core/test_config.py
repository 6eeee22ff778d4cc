"""params.yaml is typed and strict: bad input fails before any stage does work, naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from flows.dvc import stages
from tasks.core.params_file import ParamsError, load_params, parse_params

from ..conftest import REPO

STAGES = stages(REPO)  # as dvc.yaml declares them


def test_repo_params_load_and_are_frozen():
    params = load_params(REPO / "params.yaml")
    assert params.download.source == "sample"
    assert params.train.model == "xception_mini"
    assert (params.train.backend, params.train.mixed_precision, params.train.jit_compile) == (
        "tensorflow", "auto", "auto")  # DVC tracks the backend; the knobs follow the hardware
    with pytest.raises(ValidationError, match="frozen"):
        params.train.epochs = 3  # frozen: nothing can change params after loading


def test_model_defaults_are_the_books_recipe():
    train = parse_params({}).train
    assert (train.model, train.image_size, train.epochs, train.batch_size) == ("xception_mini", 180, 100, 32)
    split = parse_params({}).split
    assert (split.train, split.validation, split.test) == (1000, 500, 1000)


@pytest.mark.parametrize("raw, key", [
    ({"train": {"epoch": 3}}, "train.epoch: unknown key"),
    ({"trian": {}}, "trian: unknown key"),
    ({"train": {"epochs": 0}}, "train.epochs"),
    ({"train": {"model": "vgg16"}}, "train.model"),
    ({"train": {"image_size": "big"}}, "train.image_size"),
    ({"train": {"backend": "torch"}}, "train.backend"),
    ({"train": {"mixed_precision": "bf16"}}, "train.mixed_precision"),
    ({"train": {"jit_compile": 1}}, "train.jit_compile"),
    ({"train": {"devices": 0}}, "train.devices: Value error, must be auto"),
    ({"train": {"devices": "all"}}, "train.devices: Value error, must be auto"),
    ({"split": {"test": -1}}, "split.test"),
    ({"evaluate": {"min_accuracy": 1.5}}, "evaluate.min_accuracy"),
    ({"download": {"sha256": "abc"}}, "download.sha256"),
    ({"download": {"source": "ftp"}}, "download.source"),
    ({"download": {"source": "local", "path": None}}, "download.path: Value error, must name a file"),
    ({"download": {"path": "~/dogs-vs-cats.zip"}}, "download.path: Value error, ~ is not expanded"),
    ({"download": {"source": "url", "url": "file:///etc/passwd"}}, "download.url"),
    ({"export": {"formats": []}}, "export.formats"),
])
def test_bad_params_name_the_key(raw, key):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")):
        parse_params(raw)


def test_missing_and_malformed_files_are_named(tmp_path: Path):
    with pytest.raises(ParamsError, match="nope.yaml: no such parameters file"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="params.yaml: not valid YAML"):
        load_params(bad)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_rejects_bad_params_before_any_work(stage: str, tmp_path: Path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  epochs: 3\n  colour: red\n")
    done = subprocess.run([sys.executable, "-m", f"tasks.{stage}", "--params", str(params),
                           "--root", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "train.colour: unknown key" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing ran


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_help(stage: str):
    done = subprocess.run([sys.executable, "-m", f"tasks.{stage}", "--help"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"python -m tasks.{stage}" in done.stdout and "--params" in done.stdout
