"""The run summary says which formats shipped and why any did not (flows/artifacts.py)."""
from __future__ import annotations

from pathlib import Path

from flows.artifacts import summary_markdown
from tasks.core.config import Evaluate
from tasks.core.io import write_json
from tasks.core.paths import Paths
from tasks.evaluate import decide

from .conftest import tiny_params


def _check(rule: str, passed: bool, shipped: bool) -> dict:
    return {"max_abs_diff": 0.0, "label_agreement": 1.0, "rule": rule, "passed": passed, "shipped": shipped}


def test_the_run_summary_says_which_formats_shipped_and_why_one_did_not(tmp_path: Path):
    paths = Paths(tmp_path)
    test = {"accuracy": 0.95, "loss": 0.1, "precision": 0.9, "recall": 0.9, "f1": 0.9, "roc_auc": 0.99,
            "n_test": 8}
    write_json(paths.metrics / "evaluate.json", {"test": test})
    write_json(paths.gate, decide(test, Evaluate(min_accuracy=0.9)))
    why = "not shipped: label agreement >= 0.99, measured 0.98828125"
    write_json(paths.export / "parity.json", {
        "images": 256, "required": ["keras"], "shipped": ["keras"], "not_shipped": {"tflite_int8": why},
        "formats": {"keras": _check("max |p difference| <= 0.0001", True, True),
                    "tflite_int8": _check("label agreement >= 0.99", False, False)}})
    params = tiny_params(export={"formats": ["keras", "tflite_int8"]})
    summary = summary_markdown(params, tmp_path, {"export": "ran"}, "Run r")
    assert "- **blessed**: exported; shipped: keras; not shipped: tflite_int8" in summary
    assert "| keras | max \\|p difference\\| <= 0.0001 | True | yes |" in summary
    assert f"| tflite_int8 | label agreement >= 0.99 | False | {why} |" in summary


def test_an_export_from_before_export_required_shipped_every_format_it_lists(tmp_path: Path):
    paths = Paths(tmp_path)
    write_json(paths.gate, {"blessed": True, "reasons": ["test accuracy 0.95 >= evaluate.min_accuracy 0.9"]})
    write_json(paths.export / "parity.json", {"images": 256, "formats": {
        "keras": {"rule": "max |p difference| <= 0.0001", "passed": True}}})
    summary = summary_markdown(tiny_params(), tmp_path, {"export": "ran"}, "Run r")
    assert "- **blessed**: exported; shipped: keras\n" in summary and "| True | yes |" in summary
