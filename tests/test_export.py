"""Export: blessed models ship in every format, parity-checked, with a model card;
an unblessed model ships nothing."""
from __future__ import annotations

import json

import keras
import pytest

from tasks import evaluate, export
from tasks.common import StageError, write_json
from tasks.config import Evaluate
from tasks.paths import Paths

from .conftest import tiny_params


def test_export_formats_parity_and_card(trained_project: Paths):
    params = tiny_params(export={"formats": ["keras", "savedmodel"]})
    evaluate.run(params, trained_project)
    result = export.run(params, trained_project)
    out = trained_project.export
    assert (out / "model.keras").is_file() and (out / "saved_model" / "saved_model.pb").is_file()
    keras.saving.load_model(out / "model.keras", safe_mode=True)
    parity = json.loads((out / "parity.json").read_text())
    assert set(parity["max_abs_diff"]) == {"keras", "savedmodel"}
    assert max(result.max_abs_diff.values()) <= 1e-4
    card = json.loads((out / "model_card.json").read_text())
    assert card["model"] == "residual" and card["parameters"] > 0
    assert card["files"]["model.keras"]["sha256"] and "SYNTHETIC" in card["intended_use"]
    metrics = json.loads((trained_project.metrics / "evaluate.json").read_text())
    assert card["metrics"] == metrics and card["gate"]["blessed"] is True
    assert "# Model card: residual" in (out / "model_card.md").read_text()


def test_unblessed_model_exports_nothing_and_removes_an_older_export(trained_project: Paths):
    evaluate.run(tiny_params(), trained_project)
    export.run(tiny_params(), trained_project)
    assert (trained_project.export / "model.keras").is_file()  # an earlier, blessed export
    write_json(trained_project.gate, evaluate.decide({"accuracy": 0.42}, Evaluate(min_accuracy=0.9)))
    with pytest.raises(StageError, match="not blessed.*0.4200 < evaluate.min_accuracy 0.9"):
        export.run(tiny_params(), trained_project)
    assert not trained_project.export.exists()
