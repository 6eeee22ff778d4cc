"""Export: blessed models ship in every format, each parity-checked against Keras, with a model
card; an unblessed model ships nothing but the record of its refusal, and exits 0."""
from __future__ import annotations

import json
import logging
import subprocess
import sys

import keras
import numpy as np
import pytest

from tasks import evaluate, export
from tasks.core.config import Evaluate
from tasks.core.errors import StageError
from tasks.core.io import write_json
from tasks.core.paths import Paths
from tasks.runtime.arrays import load_split

from .conftest import REPO, tiny_params, without_native_log, write_params

ALL_FORMATS = ["keras", "savedmodel", "tflite", "tflite_int8", "onnx"]


def test_every_format_is_written_and_parity_checked(trained_project: Paths):
    params = tiny_params(export={"formats": ALL_FORMATS})
    evaluate.run(params, trained_project)
    result = export.run(params, trained_project)
    out = trained_project.export
    for name in ("model.keras", "saved_model/saved_model.pb", "model.tflite", "model_int8.tflite",
                 "model.onnx", "parity.json", "model_card.json", "model_card.md"):
        assert (out / name).is_file(), name
    assert (out / "model_int8.tflite").stat().st_size < (out / "model.tflite").stat().st_size
    parity = json.loads((out / "parity.json").read_text())
    assert parity["images"] == 8 and set(parity["formats"]) == set(ALL_FORMATS)
    for fmt, check in result.parity.items():
        assert check["passed"] and check["label_agreement"] >= 0.99
        if fmt != "tflite_int8":
            assert check["max_abs_diff"] <= 1e-4
    card = json.loads((out / "model_card.json").read_text())
    assert card["model"] == "residual" and card["parameters"] > 0 and "SYNTHETIC" in card["intended_use"]
    assert card["files"]["model.onnx"]["sha256"] and card["gate"]["blessed"] is True
    assert card["data"]["counts"] == {f"{s}/{c}": n for s, n in (("train", 4), ("validation", 2), ("test", 4))
                                      for c in ("cat", "dog")}
    assert card["metrics"] == json.loads((trained_project.metrics / "evaluate.json").read_text())
    assert "| tflite_int8 |" in (out / "model_card.md").read_text()
    keras.saving.load_model(out / "model.keras", safe_mode=True)


def test_savedmodel_takes_raw_uint8_images_of_any_size(trained_project: Paths):
    import tensorflow as tf

    params = tiny_params(export={"formats": ["savedmodel"]})
    evaluate.run(params, trained_project)
    export.run(params, trained_project)
    serve = tf.saved_model.load(str(trained_project.export / "saved_model")).signatures["serving_default"]
    x, _ = load_split(trained_project, "test", 32)
    model = keras.saving.load_model(trained_project.model, safe_mode=True)
    same = serve(images=tf.constant(x))["p_dog"].numpy().ravel()
    assert np.abs(same - model.predict(x.astype("float32"), verbose=0).ravel()).max() <= 1e-4
    big = np.random.default_rng(0).integers(0, 256, (2, 375, 500, 3), dtype=np.uint8)
    p = serve(images=tf.constant(big))["p_dog"].numpy()
    assert p.shape == (2, 1) and np.all((p >= 0) & (p <= 1))


def test_parity_rules():
    reference = np.array([0.1, 0.9, 0.6, 0.4])
    assert export.check_parity("onnx", reference + 5e-5, reference)["passed"]
    assert not export.check_parity("onnx", reference + 2e-4, reference)["passed"]
    assert export.check_parity("tflite_int8", reference + 0.05, reference)["passed"]  # same labels
    flipped = export.check_parity("tflite_int8", np.array([0.1, 0.9, 0.4, 0.4]), reference)
    assert not flipped["passed"] and flipped["label_agreement"] == 0.75


def test_unblessed_model_is_a_result_not_a_failure(trained_project: Paths, tmp_path):
    evaluate.run(tiny_params(), trained_project)
    export.run(tiny_params(), trained_project)
    assert (trained_project.export / "model.keras").is_file()  # an earlier, blessed export
    write_json(trained_project.gate, evaluate.decide({"accuracy": 0.42}, Evaluate(min_accuracy=0.9)))
    params = write_params(tmp_path, tiny_params())
    done = _export_cli(trained_project, "--params", str(params))
    assert done.returncode == 0, done.stderr
    assert "REFUSED" in done.stdout and "0.4200 < evaluate.min_accuracy 0.9" in done.stdout
    # No format, only the decision: the old export is gone, the record says why, with the scores.
    assert sorted(p.name for p in trained_project.export.iterdir()) == ["model_card.md", "refused.json"]
    refused = json.loads((trained_project.export / "refused.json").read_text())
    test = json.loads((trained_project.metrics / "evaluate.json").read_text())["test"]
    assert refused["exported"] is False and refused["test"] == test
    assert refused["reasons"] == ["test accuracy 0.4200 < evaluate.min_accuracy 0.9"]
    card = (trained_project.export / "model_card.md").read_text()
    assert "NOT EXPORTED" in card and "0.4200 < evaluate.min_accuracy 0.9" in card
    assert f"Test accuracy {test['accuracy']:.4f}" in card


def test_require_blessed_exits_1_naming_the_reasons_and_exports_nothing(paths: Paths):
    write_json(paths.gate, evaluate.decide({"accuracy": 0.95}, Evaluate(min_accuracy=0.9)))
    done = _export_cli(paths, "--require-blessed")
    assert done.returncode == 0 and done.stdout.startswith("blessed") and not paths.export.exists()
    write_json(paths.gate, evaluate.decide({"accuracy": 0.42}, Evaluate(min_accuracy=0.9)))
    done = _export_cli(paths, "--require-blessed")
    assert done.returncode == 1 and not paths.export.exists()
    assert without_native_log(done.stderr).strip() == (
        f"error: export: the gate refused the model ({paths.gate}): "
        "test accuracy 0.4200 < evaluate.min_accuracy 0.9")


def _export_cli(paths: Paths, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tasks.export", "--root", str(paths.root), *args],
                          cwd=REPO, capture_output=True, text=True)


def test_a_format_failing_parity_exports_nothing(trained_project: Paths, monkeypatch):
    from tasks.formats import writers

    evaluate.run(tiny_params(), trained_project)
    export.run(tiny_params(), trained_project)  # an earlier, good export
    monkeypatch.setitem(writers.EXPORTERS, "keras", lambda m, out, ckpt: (lambda x: np.zeros(len(x))))
    monkeypatch.setattr(export, "EXPORTERS", writers.EXPORTERS)
    with pytest.raises(StageError, match="export keras: fails its parity rule"):
        export.run(tiny_params(), trained_project)
    assert not trained_project.export.exists()


def test_a_gate_for_another_model_is_refused(trained_project: Paths):
    evaluate.run(tiny_params(), trained_project)
    gate = json.loads(trained_project.gate.read_text())
    write_json(trained_project.gate, {**gate, "model_sha256": ["0" * 64]})  # the model changed since
    with pytest.raises(StageError, match="blessed another model"):
        export.run(tiny_params(), trained_project)


def _failing_int8(monkeypatch) -> None:
    """tflite_int8 fails its rule on any model: no label agreement reaches 1.01."""
    monkeypatch.setattr(export, "MIN_AGREEMENT", 1.01)


def test_a_format_not_required_that_fails_its_rule_is_reported_not_shipped(trained_project: Paths,
                                                                          tmp_path, monkeypatch, capsys):
    params = tiny_params(export={"formats": ALL_FORMATS})  # required: the exact formats
    evaluate.run(params, trained_project)
    _failing_int8(monkeypatch)
    # main() points the root logger at this test's captured stdout (basicConfig(force=True)), which
    # closes with the test: give it a list of its own, restored afterwards.
    monkeypatch.setattr(logging.getLogger(), "handlers", list(logging.getLogger().handlers))
    code = export.main(["--root", str(trained_project.root), "--params", str(write_params(tmp_path, params))])
    assert code == 0  # the blessed model ships in every other format
    out, why = trained_project.export, "not shipped: label agreement >= 1.01, measured 1"
    assert not (out / "model_int8.tflite").exists()
    for name in ("model.keras", "saved_model/saved_model.pb", "model.tflite", "model.onnx"):
        assert (out / name).is_file(), name
    parity = json.loads((out / "parity.json").read_text())
    assert parity["shipped"] == ["keras", "savedmodel", "tflite", "onnx"]
    assert parity["required"] == ["keras", "savedmodel", "tflite", "onnx"]
    assert parity["not_shipped"] == {"tflite_int8": why}
    assert parity["formats"]["tflite_int8"]["shipped"] is False
    card = json.loads((out / "model_card.json").read_text())
    assert card["not_shipped"] == {"tflite_int8": why} and "model_int8.tflite" not in card["files"]
    assert f"- tflite_int8: {why}" in (out / "model_card.md").read_text()
    assert f"WARNING [export] export tflite_int8: {why}" in capsys.readouterr().out  # the stage log
    summary = export.summary(trained_project)
    assert "shipped: keras, savedmodel, tflite, onnx" in summary and f"tflite_int8: {why}" in summary
    assert f"\ntflite_int8: {why}" in export.require_blessed(trained_project)


def test_a_required_format_that_fails_its_rule_still_fails_the_stage(trained_project: Paths, monkeypatch):
    params = tiny_params(export={"formats": ["keras", "tflite_int8"], "required": ["keras", "tflite_int8"]})
    evaluate.run(params, trained_project)
    _failing_int8(monkeypatch)
    with pytest.raises(StageError, match=r"export tflite_int8: fails its parity rule .*export\.required"):
        export.run(params, trained_project)
    assert not trained_project.export.exists()


def test_a_format_not_required_that_fails_to_convert_is_not_shipped(trained_project: Paths, monkeypatch):
    from tasks.formats import writers

    def broken(model, out, checkpoint):
        (out / "model.onnx").write_bytes(b"half")
        raise RuntimeError("converter bug")

    monkeypatch.setitem(writers.EXPORTERS, "onnx", broken)
    monkeypatch.setattr(export, "EXPORTERS", writers.EXPORTERS)
    params = tiny_params(export={"formats": ["keras", "onnx"], "required": ["keras"]})
    evaluate.run(params, trained_project)
    result = export.run(params, trained_project)
    assert result.formats == ("keras",) and not (trained_project.export / "model.onnx").exists()
    assert result.not_shipped == {"onnx": "not shipped: export failed: RuntimeError: converter bug"}


def test_export_required_must_be_exported_and_defaults_to_the_exact_formats():
    from tasks.core.params_file import ParamsError

    assert tiny_params(export={"formats": ALL_FORMATS}).export.must_pass == (
        "keras", "savedmodel", "tflite", "onnx")
    with pytest.raises(ParamsError, match="required lists onnx, which export.formats does not"):
        tiny_params(export={"formats": ["keras"], "required": ["onnx"]})


def test_summary_of_a_refused_model(trained_project: Paths):
    write_json(trained_project.gate, evaluate.decide({"accuracy": 0.42}, Evaluate(min_accuracy=0.9)))
    write_json(trained_project.metrics / "evaluate.json", {"test": {
        "accuracy": 0.42, "loss": 0.9, "f1": 0.4, "roc_auc": 0.5, "n_test": 8}})
    write_json(trained_project.export / "refused.json", {"exported": False})
    assert export.summary(trained_project).splitlines() == [
        "gate:    REFUSED: test accuracy 0.4200 < evaluate.min_accuracy 0.9",
        "test:    accuracy 0.4200, loss 0.9000, F1 0.4000, ROC AUC 0.5000 on 8 images",
        f"export:  nothing: the gate refused the model ({trained_project.export / 'refused.json'})"]
