"""Evaluate stage: score the best checkpoint on the test split, write the metrics and plots
that DVC tracks, and decide whether the model is blessed for export."""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass

import keras
import numpy as np
from sklearn import metrics as skm

from tasks.cli import stage_main
from tasks.common import LABELS, StageError, atomic_write_bytes, write_json
from tasks.config import Evaluate, Params
from tasks.data import load_split
from tasks.paths import Paths

log = logging.getLogger("tasks.evaluate")


@dataclass(frozen=True)
class EvaluateResult:
    accuracy: float
    loss: float
    blessed: bool


def score(y_true: np.ndarray, p_dog: np.ndarray) -> dict[str, float | int]:
    """Test metrics from true labels (1 = dog) and predicted p(dog), via scikit-learn."""
    y_pred = (p_dog >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    both = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "loss": float(skm.log_loss(y_true, np.clip(p_dog, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y_true, p_dog)) if both else float("nan"),
        "n_test": int(len(y_true)),
        "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp),
    }


def decide(scores: dict[str, float | int], cfg: Evaluate) -> dict[str, object]:
    """The gate: blessed only if test accuracy reaches evaluate.min_accuracy."""
    ok = scores["accuracy"] >= cfg.min_accuracy
    reason = (f"test accuracy {scores['accuracy']:.4f} "
              f"{'>=' if ok else '<'} evaluate.min_accuracy {cfg.min_accuracy}")
    return {"blessed": bool(ok), "reasons": [reason], "accuracy": scores["accuracy"],
            "min_accuracy": cfg.min_accuracy}


def _csv(rows: list[dict[str, object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def run(params: Params, paths: Paths) -> EvaluateResult:
    """Score data/model/model.keras on the test split; write metrics, plots and the gate."""
    # The gate goes first and comes back last: a run that dies half-way leaves no stale
    # blessing beside new metrics, so export refuses until evaluate has finished.
    paths.gate.unlink(missing_ok=True)
    if not paths.model.is_file():
        raise StageError(f"{paths.model}: not found; run the train stage first")
    model = keras.saving.load_model(paths.model, safe_mode=True)
    x, y = load_split(paths, "test", params.train.image_size)
    p_dog = model.predict(x, batch_size=params.train.batch_size, verbose=0).ravel()
    scores = score(y, p_dog)
    gate = decide(scores, params.evaluate)
    write_json(paths.metrics / "evaluate.json", scores)
    atomic_write_bytes(paths.plots / "confusion.csv", _csv(
        [{"actual": LABELS[t], "predicted": LABELS[int(p >= 0.5)]}
         for t, p in zip(y, p_dog, strict=True)]))
    fpr, tpr, thresholds = skm.roc_curve(y, p_dog)
    # roc_curve's first threshold is +inf; clip it so the CSV stays plain numbers.
    atomic_write_bytes(paths.plots / "roc.csv", _csv(
        [{"fpr": round(float(f), 6), "tpr": round(float(t), 6), "threshold": round(float(min(th, 1.0)), 6)}
         for f, t, th in zip(fpr, tpr, thresholds, strict=True)]))
    write_json(paths.gate, gate)
    log.info("test: %s", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in scores.items()))
    log.info("gate: %s (%s)", "BLESSED" if gate["blessed"] else "NOT blessed", gate["reasons"][0])
    if params.download.source == "sample":
        log.warning("these scores are on the SYNTHETIC sample, not real photos (download.source)")
    return EvaluateResult(scores["accuracy"], scores["loss"], gate["blessed"])


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.evaluate`: see --help."""
    return stage_main("evaluate", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
