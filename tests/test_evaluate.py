"""Evaluate: metrics agree with hand-computed values; the gate blocks a weak model."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tasks import evaluate
from tasks.common import StageError
from tasks.config import Evaluate
from tasks.paths import Paths

from .conftest import tiny_params


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
    assert metrics["accuracy"] == result.accuracy and metrics["n_test"] == 8
    assert metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"] == 8
    with open(trained_project.plots / "confusion.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and {r["actual"] for r in rows} == {"cat", "dog"}
    assert (trained_project.plots / "roc.csv").read_text().startswith("fpr,tpr,threshold")
    assert json.loads(trained_project.gate.read_text())["blessed"] is True  # floor 0.0


def test_evaluate_without_a_model_names_the_file(validated_project: Paths):
    with pytest.raises(StageError, match="model/model.keras: not found"):
        evaluate.run(tiny_params(), validated_project)
