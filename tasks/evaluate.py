"""Evaluate stage: score the best checkpoint on the test split, write the metrics and plots
that DVC tracks, and decide whether the model is blessed for export."""
from __future__ import annotations

import csv
import io
import json
import logging
import sys
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from tasks.core.cli import stage_main
from tasks.core.config import Evaluate, Params
from tasks.core.errors import StageError
from tasks.core.io import atomic_write_bytes, sha256_file, write_json
from tasks.core.paths import LABELS, Paths
from tasks.networks import tta
from tasks.reports import gallery
from tasks.runtime.arrays import load_split, split_rows
from tasks.runtime.feed import batches


@dataclass(frozen=True)
class EvaluateResult:
    accuracy: float
    loss: float
    blessed: bool


log = logging.getLogger("tasks.evaluate")


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


def baseline_accuracy(cfg: Evaluate, paths: Paths) -> float | None:
    """Test accuracy recorded at git rev `evaluate.baseline`, read through DVC's API."""
    if cfg.baseline is None:
        return None
    streams = sys.stdout, sys.stderr
    import dvc.api  # only a gate with a baseline needs DVC's (slow to import) Python API

    # Importing DVC wraps sys.stdout/stderr with colorama for good; keep the caller's streams.
    sys.stdout, sys.stderr = streams

    target = (paths.metrics / "evaluate.json").relative_to(paths.root).as_posix()
    try:
        # dvc.api.read, not metrics_show: the latter also reads the workspace copy, which DVC
        # has already removed when it reruns this stage.
        found = json.loads(dvc.api.read(target, repo=str(paths.root.resolve()), rev=cfg.baseline))
        # Revs before the `test` section kept the test metrics at the top level.
        return float(found.get("test", found)["accuracy"])
    except Exception as err:  # an unknown rev, no DVC repo there, or no metrics at that rev
        raise StageError(f"evaluate.baseline: cannot read {target} at rev {cfg.baseline!r}: "
                         f"{type(err).__name__}: {err}") from None


def decide(scores: dict[str, float | int], cfg: Evaluate, baseline: float | None = None
           ) -> dict[str, object]:
    """The gate: blessed only if test accuracy reaches evaluate.min_accuracy and, with a
    baseline, is no worse than the baseline's accuracy minus evaluate.tolerance. A DVC metric:
    its numbers and `blessed` are columns of `dvc exp show`; DVC skips its lists (`reasons`)."""
    acc = scores["accuracy"]
    rules = [(acc >= cfg.min_accuracy, f"test accuracy {acc:.4f} {{}} evaluate.min_accuracy "
                                       f"{cfg.min_accuracy}")]
    if baseline is not None:
        floor = baseline - cfg.tolerance
        rules.append((acc >= floor, f"test accuracy {acc:.4f} {{}} {floor:.4f}, the accuracy "
                                    f"{baseline:.4f} at evaluate.baseline {cfg.baseline!r} minus "
                                    f"evaluate.tolerance {cfg.tolerance}"))
    return {"blessed": all(ok for ok, _ in rules),
            "reasons": [text.format(">=" if ok else "<") for ok, text in rules],
            "baseline_accuracy": baseline}


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
    # Decoding forks worker processes: do it before the model load starts the backend (JAX is
    # multithreaded, and a fork after its start can deadlock).
    x, y = load_split(paths, "test", params.train.image_size)
    model = tta.load(paths.model)
    p_dog = model.predict(batches(x, batch_size=params.train.batch_size), verbose=0).ravel()
    if not np.all(np.isfinite(p_dog)):
        raise StageError(f"{paths.model}: outputs NaN or inf on {int(np.sum(~np.isfinite(p_dog)))} "
                         "test images (training diverged?); retrain with a lower train.learning_rate")
    scores = score(y, p_dog)
    # The gate names the model it judged, so export can refuse a model retrained since. A list,
    # as DVC's metrics skip lists: a hash is no column to compare in `dvc exp show`.
    gate = {**decide(scores, params.evaluate, baseline_accuracy(params.evaluate, paths)),
            "model_sha256": [sha256_file(paths.model)]}
    # Under `test`, so DVC shows test.accuracy, apart from DVCLive's validation/accuracy.
    write_json(paths.metrics / "evaluate.json", {"test": scores})
    atomic_write_bytes(paths.plots / "confusion.csv", _csv(
        [{"actual": LABELS[t], "predicted": LABELS[int(p >= 0.5)]}
         for t, p in zip(y, p_dog, strict=True)]))
    fpr, tpr, thresholds = skm.roc_curve(y, p_dog)
    # roc_curve's first threshold is +inf; clip it so the CSV stays plain numbers.
    atomic_write_bytes(paths.plots / "roc.csv", _csv(
        [{"fpr": round(float(f), 6), "tpr": round(float(t), 6), "threshold": round(float(min(th, 1.0)), 6)}
         for f, t, th in zip(fpr, tpr, thresholds, strict=True)]))
    precision, recall, _ = skm.precision_recall_curve(y, p_dog)
    atomic_write_bytes(paths.plots / "pr.csv", _csv(
        [{"recall": round(float(r), 6), "precision": round(float(p), 6)}
         for r, p in zip(recall, precision, strict=True)]))
    files = [paths.split / r["path"] for r in split_rows(paths, "test")]
    wrong = gallery.misclassified(files, y, p_dog)
    atomic_write_bytes(paths.misclassified, gallery.render(wrong))
    write_json(paths.gate, gate)
    log.info("test: %s", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in scores.items()))
    log.info("gate: %s (%s)", "BLESSED" if gate["blessed"] else "NOT blessed", "; ".join(gate["reasons"]))
    if params.download.source == "sample":
        log.warning("these scores are on the SYNTHETIC sample, not real photos (download.source)")
    return EvaluateResult(scores["accuracy"], scores["loss"], gate["blessed"])


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.evaluate`: see --help."""
    return stage_main("evaluate", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
