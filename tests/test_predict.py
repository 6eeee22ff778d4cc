"""predict: any exported format classifies files and folders; Kaggle submissions."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from tasks import evaluate, export, predict
from tasks.core.errors import StageError
from tasks.core.paths import Paths
from tasks.reports import submission
from tasks.reports.printable import escape

from .conftest import SHARED_ZIP, tiny_params
from .helpers.oddimages import fifo


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
    fifo(folder / "dog" / "pipe.jpg")  # would block a reader forever
    outputs = {}
    for name in ("model.keras", "model.onnx", "model_int8.tflite"):
        assert predict.main([str(folder), "--model", str(exported.export / name)]) == 0
        lines = capsys.readouterr()
        outputs[name] = [line.split("\t")[1] for line in lines.out.splitlines()]
        assert "skipped" in caplog.text and "broken.jpg: cannot decode" in caplog.text
        assert "pipe.jpg: not a regular file" in caplog.text
        caplog.clear()
    assert len(outputs["model.keras"]) == 8 and set(outputs["model.keras"]) <= {"cat", "dog"}
    assert outputs["model.keras"] == outputs["model.onnx"] == outputs["model_int8.tflite"]
    # The wrong input size is one error naming the model, not a Keras traceback.
    assert predict.main([str(folder), "--model", str(exported.export / "model.keras"), "--image-size", "33"]) == 1
    assert "model.keras: cannot run on 33x33 images" in capsys.readouterr().err


def test_submission_is_kaggles_id_label_csv(exported: Paths, tiny_archive: Path, tmp_path: Path):
    out = tmp_path / "submission.csv"
    out.write_text("id,label\n1,0\n")  # an earlier submission is replaced, atomically
    test1 = _test1(tiny_archive, tmp_path)
    assert predict.main([str(test1), "--model", str(exported.export / "model.keras"),
                         "--submission", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["id", "label"] and [int(r[0]) for r in rows[1:]] == [1, 2, 3, 4]
    assert {r[1] for r in rows[1:]} <= {"0", "1"} and not list(tmp_path.glob(".submission.csv.*"))


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


@pytest.mark.parametrize("source, warned", [("sample", True), ("local", False)])
def test_synthetic_training_data_is_warned_about(tmp_path: Path, source: str, warned: bool, caplog):
    model = tmp_path / "model.keras"
    model.write_bytes(b"bogus")  # the warning comes first; the model is not needed for it
    (tmp_path / "model_card.json").write_text(json.dumps({"image_size": 32, "data": {"source": source}}))
    predict.main([str(model), "--model", str(model)])
    assert (f"{model} was trained on the synthetic sample" in caplog.text) is warned


@pytest.mark.parametrize("name", ["model.tflite", "model.keras", "model.onnx", "saved_model"])
def test_a_bogus_model_file_is_one_clear_error(tmp_path: Path, name: str, capsys):
    model = tmp_path / name
    if name == "saved_model":
        model.mkdir()
        (model / "saved_model.pb").write_bytes(b"bogus")
    else:
        model.write_bytes(b"bogus")
    (tmp_path / "cat.jpg").write_bytes(b"")
    assert predict.main([str(tmp_path / "cat.jpg"), "--model", str(model), "--image-size", "32"]) == 1
    err = capsys.readouterr().err
    assert f"error: predict: {model}: cannot load the model:" in err and "Traceback" not in err


def _refused(tmp_path: Path, target: Path, capsys, *extra: str) -> str:
    """predict with a --submission that must be refused before any model is loaded (none exists)."""
    assert predict.main([str(tmp_path), "--model", str(tmp_path / "none.keras"),
                         "--submission", str(target), *extra]) == 1
    return capsys.readouterr().err


def test_submission_never_overwrites_a_file_that_is_not_one(tmp_path: Path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  epochs: 3\n")
    assert "params.yaml: exists and is not an earlier submission" in _refused(tmp_path, params, capsys)
    assert params.read_text() == "train:\n  epochs: 3\n"
    # With --force the check passes (the missing model is what stops this run).
    assert "none.keras: no such model" in _refused(tmp_path, params, capsys, "--force")


@pytest.mark.parametrize("target, said", [("no/such/dir/x.csv", "folder {tmp}/no/such/dir does not exist"),
                                          (".", "is a folder")])
def test_submission_target_is_checked_before_any_work(tmp_path: Path, target: str, said: str, capsys):
    err = _refused(tmp_path, tmp_path / target, capsys)
    assert said.format(tmp=tmp_path) in err and "none.keras" not in err


def test_ids_are_ascii_digits_once_each(tmp_path: Path):
    pairs = [(Path("test1/02.jpg"), "dog"), (Path("test1/10.jpg"), "cat")]
    out = submission.write(pairs, tmp_path / "s.csv")
    assert out.read_text().splitlines() == ["id,label", "2,1", "10,0"]  # a leading zero is allowed
    for names, said in [(["1.jpg", "\u0661.jpg"], "\u0661.jpg: not a Kaggle test id"),
                        (["\u00b2.jpg"], "\u00b2.jpg: not a Kaggle test id"),
                        (["1.jpg", "001.jpg"], "001.jpg: id 1 again (also 1.jpg)"),
                        (["1.jpg", "1.jpg"], "1.jpg: id 1 again (the same file, given twice)")]:
        with pytest.raises(StageError, match=re.escape(said)):
            submission.write([(Path(n), "cat") for n in names], tmp_path / "refused.csv")
    assert not (tmp_path / "refused.csv").exists()


@pytest.mark.parametrize("name, printed", [
    ("a\nb\tc\rd\\e", r"a\nb\tc\rd\\e"), ("\x00\x1b\x7f\x85\x9f", r"\x00\x1b\x7f\x85\x9f"),
    ("x\u2028y\u2029z\u202e", r"x\u2028y\u2029z\u202e"), (os.fsdecode(b"\xff"), r"\udcff"),
    ("chat noir \u00e9t\u00e9 \u732b \U0001f408.jpg", "chat noir \u00e9t\u00e9 \u732b \U0001f408.jpg")])
def test_printed_names_escape_what_could_break_a_line(name: str, printed: str):
    assert escape(name) == printed and len(escape(name).splitlines()) <= 1
