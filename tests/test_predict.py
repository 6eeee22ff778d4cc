"""predict: any exported format classifies files and folders; Kaggle submissions."""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from tasks import evaluate, export, predict
from tasks.core.paths import Paths

from .conftest import SHARED_ZIP, tiny_params


@pytest.fixture
def exported(trained_project: Paths) -> Paths:
    params = tiny_params(export={"formats": ["keras", "onnx", "tflite_int8"]})
    evaluate.run(params, trained_project)
    export.run(params, trained_project)
    return trained_project


def _test1(archive: Path, dest: Path) -> Path:
    with zipfile.ZipFile(archive) as outer, zipfile.ZipFile(io.BytesIO(outer.read("test1.zip"))) as inner:
        inner.extractall(dest)
    return dest / "test1"


def test_every_format_gives_the_same_labels_and_bad_files_are_skipped(exported: Paths, capsys, caplog):
    folder = exported.split / "test"
    (folder / "cat" / "broken.jpg").write_bytes(b"not an image")
    outputs = {}
    for name in ("model.keras", "model.onnx", "model_int8.tflite"):
        assert predict.main([str(folder), "--model", str(exported.export / name)]) == 0
        lines = capsys.readouterr()
        outputs[name] = [line.split("\t")[1] for line in lines.out.splitlines()]
        assert "skipped" in caplog.text and "broken.jpg: cannot decode" in caplog.text
        caplog.clear()
    assert len(outputs["model.keras"]) == 8 and set(outputs["model.keras"]) <= {"cat", "dog"}
    assert outputs["model.keras"] == outputs["model.onnx"] == outputs["model_int8.tflite"]


def test_submission_is_kaggles_id_label_csv(exported: Paths, tiny_archive: Path, tmp_path: Path):
    out = tmp_path / "submission.csv"
    test1 = _test1(tiny_archive, tmp_path)
    assert predict.main([str(test1), "--model", str(exported.export / "model.keras"),
                         "--submission", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["id", "label"] and [int(r[0]) for r in rows[1:]] == [1, 2, 3, 4]
    assert {r[1] for r in rows[1:]} <= {"0", "1"}


@pytest.mark.skipif(not SHARED_ZIP.is_file(), reason=f"{SHARED_ZIP} is absent")
def test_real_unlabeled_photos(exported: Paths, tmp_path: Path):
    test1 = _test1(SHARED_ZIP, tmp_path)
    predictions = predict.classify(exported.export / "model.onnx", predict.expand([test1]), 32)
    assert len(predictions) == 60 and all(0.0 <= p.p_dog <= 1.0 for p in predictions)
    out = predict.write_submission(predictions, tmp_path / "sub.csv")
    assert len(out.read_text().splitlines()) == 61


def test_missing_model_is_named(tmp_path: Path, capsys):
    assert predict.main([str(tmp_path), "--model", str(tmp_path / "nope.keras"), "--image-size", "32"]) == 1
    assert "nope.keras: no such model" in capsys.readouterr().err


def test_missing_input_is_named(exported: Paths, tmp_path: Path, capsys):
    assert predict.main([str(tmp_path / "nope.jpg"), "--model", str(exported.export / "model.keras")]) == 1
    assert "nope.jpg: no such file or folder" in capsys.readouterr().err
