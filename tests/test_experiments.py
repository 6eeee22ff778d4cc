"""Experiments as people compare them: one whose model the gate refuses is still an experiment,
with its metrics and the gate's decision in `dvc exp show`, whose columns stay readable."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from .conftest import REPO
from .helpers.projects import new_project, sh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, str]:
    """A committed tiny project, then `dvc exp run --temp` of a gate no model can pass (as the
    user does); returns the project, its params.yaml before the experiment, and the run's log."""
    root = new_project(tmp_path_factory.mktemp("experiments"))
    sh(root, "dvc", "repro")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "baseline")
    params = (root / "params.yaml").read_bytes()
    log = sh(root, "dvc", "exp", "run", "--temp", "-n", "strict", "-S", "evaluate.min_accuracy=1.0")
    return root, params, log


def experiment(shown: list[dict], name: str) -> dict:
    """The data of experiment `name` in `dvc exp show --json`."""
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            if exp.get("name") == name:
                return exp["revs"][0]["data"]
    raise AssertionError(f"experiment {name!r} not listed: {json.dumps(shown)[:2000]}")


def header(root: Path, *args: str) -> list[str]:
    return next(csv.reader(io.StringIO(sh(root, "dvc", "exp", "show", "--csv", *args))))


def test_a_refused_model_is_an_experiment_with_its_metrics_and_the_decision(project):
    root, params, log = project
    assert "REFUSED" in log and "< evaluate.min_accuracy 1.0" in log
    data = experiment(json.loads(sh(root, "dvc", "exp", "show", "--json")), "strict")
    metrics = {path: found["data"] for path, found in data["metrics"].items()}
    assert metrics["data/metrics/gate.json"]["blessed"] is False
    assert 0.0 <= metrics["data/metrics/evaluate.json"]["test"]["accuracy"] < 1.0
    assert data["params"]["params.yaml"]["data"]["evaluate"]["min_accuracy"] == 1.0
    assert (root / "params.yaml").read_bytes() == params  # --temp: the workspace is untouched
    assert sh(root, "git", "status", "--porcelain") == ""


def test_dvc_names_test_and_validation_metrics_apart(project):
    root, _, _ = project
    shown = json.loads(sh(root, "dvc", "metrics", "show", "--json"))[""]["data"]
    assert set(shown["data/metrics/evaluate.json"]["data"]) == {"test"}
    assert set(shown["data/live/metrics.json"]["data"]) == {"train", "validation", "step"}
    # DVC shows a metric file's numbers, booleans and strings: the gate's lists stay out.
    assert set(shown["data/metrics/gate.json"]["data"]) == {"blessed"}


def test_exp_show_leads_with_the_decision_and_make_exps_fits_a_screen(project):
    root, _, _ = project
    everything = header(root)
    assert "test.accuracy" in everything[:12] and "blessed" in everything[:12]
    assert not {"accuracy", "eval.accuracy", "model_sha256", "reasons"} & set(everything)
    # `make exps`: the decision, test accuracy and loss, and only what differs between the rows.
    keep = re.search(r"^EXPS_KEEP := (.*)$", (REPO / "Makefile").read_text(), re.M)[1].replace("$$", "$")
    assert "--only-changed --keep '$(EXPS_KEEP)'" in (REPO / "Makefile").read_text()
    compared = header(root, "--only-changed", "--keep", keep)
    assert len(compared) <= 35
    assert {"blessed", "test.accuracy", "test.loss", "evaluate.min_accuracy"} <= set(compared[:12])
