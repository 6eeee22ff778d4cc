"""The run summary, read from what the stages wrote: a refused model's run shows its test
metrics and why nothing was exported."""
from __future__ import annotations

from pathlib import Path

from flows.artifacts import summary_markdown
from tasks.core.config import Evaluate
from tasks.core.io import write_json
from tasks.core.paths import Paths
from tasks.evaluate import decide

from ..conftest import tiny_params


def test_a_refused_runs_summary_shows_its_test_metrics_and_the_refusal(tmp_path: Path):
    paths = Paths(tmp_path)
    test = {"accuracy": 0.42, "loss": 0.9, "precision": 0.5, "recall": 0.25, "f1": 1 / 3,
            "roc_auc": 0.6, "n_test": 8}
    write_json(paths.metrics / "evaluate.json", {"test": test})
    gate = decide(test, Evaluate(min_accuracy=0.9))
    write_json(paths.gate, gate)
    write_json(paths.export / "refused.json", {"exported": False, "reasons": gate["reasons"], "test": test})
    summary = summary_markdown(tiny_params(), tmp_path, {"evaluate": "ran", "export": "ran"}, "Run r")
    assert "| accuracy | 0.4200 |" in summary and "| recall | 0.2500 |" in summary
    assert "| n_test | 8 |" in summary
    assert "- **refused**: not exported (`data/export/refused.json`)" in summary
    assert "- test accuracy 0.4200 < evaluate.min_accuracy 0.9" in summary
    assert "## Export" not in summary
