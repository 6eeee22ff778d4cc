"""Evaluate: metrics agree with hand-computed values; the gate blocks a weak model."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tasks import evaluate
from tasks.core.config import Evaluate
from tasks.core.errors import StageError
from tasks.core.paths import Paths

from .conftest import REPO, tiny_params

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def test_scores_on_a_fixed_prediction_set():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.4, 0.6, 0.2, 0.9, 0.8, 0.3, 0.7])
    s = evaluate.score(y, p)
    # tn=3 fp=1 fn=1 tp=3, worked out by hand
    assert (s["tn"], s["fp"], s["fn"], s["tp"]) == (3, 1, 1, 3)
    assert s["accuracy"] == pytest.approx(0.75) and s["precision"] == pytest.approx(0.75)
    assert s["recall"] == pytest.approx(0.75) and s["f1"] == pytest.approx(0.75)
    assert s["roc_auc"] == pytest.approx(14 / 16)  # 14 of 16 (dog, cat) pairs ranked right
    expected_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert s["loss"] == pytest.approx(expected_loss)


def test_gate_floor():
    assert evaluate.decide({"accuracy": 0.91}, Evaluate(min_accuracy=0.9))["blessed"]
    gate = evaluate.decide({"accuracy": 0.89}, Evaluate(min_accuracy=0.9))
    assert not gate["blessed"] and "0.8900 < evaluate.min_accuracy 0.9" in gate["reasons"][0]


def test_evaluate_writes_metrics_plots_and_gate(trained_project: Paths):
    result = evaluate.run(tiny_params(), trained_project)
    metrics = json.loads((trained_project.metrics / "evaluate.json").read_text())
    assert list(metrics) == ["test"]  # so DVC shows test.accuracy, not a bare accuracy
    metrics = metrics["test"]
    assert metrics["accuracy"] == result.accuracy and metrics["n_test"] == 8
    assert metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"] == 8
    with open(trained_project.plots / "confusion.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and {r["actual"] for r in rows} == {"cat", "dog"}
    assert (trained_project.plots / "roc.csv").read_text().startswith("fpr,tpr,threshold")
    gate = json.loads(trained_project.gate.read_text())
    assert gate["blessed"] is True  # floor 0.0
    # A DVC metric: DVC shows its numbers, booleans and strings, skips lists and nulls, so the
    # only strings (reasons, the model's hash) are in lists, and no number repeats a param.
    shown = {k for k, v in gate.items() if isinstance(v, (bool, int, float, str))}
    assert shown == {"blessed"} and isinstance(gate["model_sha256"], list)


def test_evaluate_without_a_model_names_the_file(validated_project: Paths):
    with pytest.raises(StageError, match="model/model.keras: not found"):
        evaluate.run(tiny_params(), validated_project)


def test_gallery_lists_the_most_confident_mistakes_first(tmp_path):
    from tasks.reports import gallery

    files = [tmp_path / f"{i}.jpg" for i in range(4)]
    y = np.array([0, 0, 1, 1])
    p = np.array([0.6, 0.99, 0.2, 0.9])  # 0: wrong (0.1 off), 1: wrong (0.49), 2: wrong (0.3)
    assert [(f.name, t, round(q, 2)) for f, t, q in gallery.misclassified(files, y, p)] == [
        ("1.jpg", "cat", 0.99), ("2.jpg", "dog", 0.2), ("0.jpg", "cat", 0.6)]


def test_evaluate_writes_pr_curve_and_gallery(trained_project: Paths):
    from PIL import Image

    evaluate.run(tiny_params(), trained_project)
    assert (trained_project.plots / "pr.csv").read_text().startswith("recall,precision")
    with Image.open(trained_project.misclassified) as png:
        assert png.format == "PNG" and png.width == 4 * 160
        assert png.mode == "P"  # a palette PNG, as it is committed


def _commit_baseline(root, accuracy: float, flat: bool = False) -> None:
    """Commit a baseline rev's evaluate.json: test metrics under `test`, or (`flat`) at the top
    level, as revs written before that section kept them."""
    (root / "data" / "metrics").mkdir(parents=True, exist_ok=True)
    scores = {"accuracy": accuracy, "loss": 0.5}
    (root / "data" / "metrics" / "evaluate.json").write_text(json.dumps(scores if flat else {"test": scores}))
    for cmd in (["git", "init", "-q", "-b", "main"], [sys.executable, "-m", "dvc", "init", "-q"],
                ["git", "add", "data/metrics/evaluate.json", ".dvc"], ["git", "commit", "-q", "-m", "b"]):
        subprocess.run(cmd, cwd=root, env=GIT_ENV, check=True, capture_output=True)
    # As under `dvc repro`, which removes a stage's outputs before running it: the baseline must
    # come from the rev, not from the workspace.
    (root / "data" / "metrics" / "evaluate.json").unlink()


def _evaluate_cli(root, **gate) -> subprocess.CompletedProcess:
    # Through the CLI: DVC's Python API rewraps the process's stdio, which pytest's capture and
    # the in-process Prefect tests must not inherit.
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_params(evaluate=gate).model_dump(mode="json", by_alias=True)))
    return subprocess.run([sys.executable, "-m", "tasks.evaluate", "--params", str(params),
                           "--root", str(root)], cwd=REPO, capture_output=True, text=True)


def test_gate_blocks_a_regression_against_the_baseline_rev(trained_project: Paths):
    from tasks import export

    _commit_baseline(trained_project.root, accuracy=1.0)
    done = _evaluate_cli(trained_project.root, baseline="main", tolerance=0.01)
    assert done.returncode == 0, done.stderr
    gate = json.loads(trained_project.gate.read_text())
    assert gate["blessed"] is False and gate["baseline_accuracy"] == 1.0
    assert "0.9900, the accuracy 1.0000 at evaluate.baseline 'main'" in gate["reasons"][1]
    result = export.run(tiny_params(), trained_project)
    assert result.formats == () and "evaluate.baseline 'main'" in result.refused[1]
    assert not (trained_project.export / "model.keras").exists()


def test_gate_reads_an_old_revs_flat_metrics_and_names_a_bad_rev(trained_project: Paths):
    _commit_baseline(trained_project.root, accuracy=0.0, flat=True)
    assert _evaluate_cli(trained_project.root, baseline="main").returncode == 0
    gate = json.loads(trained_project.gate.read_text())
    assert gate["blessed"] is True and gate["baseline_accuracy"] == 0.0
    done = _evaluate_cli(trained_project.root, baseline="nope")
    assert done.returncode == 1
    assert "evaluate.baseline: cannot read data/metrics/evaluate.json at rev 'nope'" in done.stderr
