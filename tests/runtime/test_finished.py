"""Going back to a training run that already finished restores its outputs, byte for byte,
without training; the store verifies what it restores and keeps only the latest runs."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from tasks import train
from tasks.core.paths import Paths
from tasks.runtime import finished
from tasks.runtime.finished import FinishedRuns

from ..conftest import tiny_params
from .test_resume import outputs

FIRST, OTHER = {"model": "residual", "epochs": 3}, {"model": "residual", "epochs": 2}


def epochs_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage().startswith("epoch ") for r in caplog.records if r.name == "tasks.train")


def test_going_back_to_params_that_ran_restores_their_outputs_without_training(
        validated_project: Paths, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    first = train.run(tiny_params(train=FIRST), validated_project)
    original = outputs(validated_project)
    assert not first.restored and epochs_logged(caplog) == FIRST["epochs"]
    assert not train.run(tiny_params(train=OTHER), validated_project).restored
    assert outputs(validated_project) != original

    caplog.clear()
    tick = time.perf_counter()
    again = train.run(tiny_params(train=FIRST), validated_project)
    took = time.perf_counter() - tick
    assert again.restored and epochs_logged(caplog) == 0, caplog.text  # nothing was fitted
    assert "restored finished run" in caplog.text and "without training" in caplog.text
    assert outputs(validated_project) == original  # model.keras and every DVCLive file
    assert (again.best_epoch, again.best_val_loss) == (first.best_epoch, first.best_val_loss)
    print(f"\ntrained {first.seconds:.1f} s (+ build), restored in {took:.2f} s (run() end to end)")
    assert list(validated_project.array_cache.glob("train-state/*")) == []


def test_a_corrupted_finished_run_is_named_and_trained_afresh(
        validated_project: Paths, caplog: pytest.LogCaptureFixture):
    params = tiny_params(train=OTHER)
    train.run(params, validated_project)
    original = outputs(validated_project)
    [model] = validated_project.train_runs.glob(f"*/{finished.MODEL}")
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    caplog.set_level(logging.INFO)
    again = train.run(params, validated_project)
    assert not again.restored and epochs_logged(caplog) == OTHER["epochs"]
    assert f"{model}: corrupted" in caplog.text
    assert outputs(validated_project) == original
    assert FinishedRuns(validated_project.train_runs).restore(
        model.parent.name, validated_project.model, validated_project.live) is not None


def _run(root: Path, n: int) -> tuple[Path, Path]:
    (root / f"m{n}").write_bytes(f"model {n}".encode())
    (root / f"live{n}" / "plots").mkdir(parents=True)
    (root / f"live{n}" / "metrics.json").write_text(json.dumps({"step": n}))
    (root / f"live{n}" / "plots" / "loss.tsv").write_text(f"step\tloss\n{n}\t0.5\n")
    return root / f"m{n}", root / f"live{n}"


def test_the_store_keeps_the_most_recently_used_runs(tmp_path: Path):
    store = FinishedRuns(tmp_path / "runs")
    for n in range(finished.KEEP + 2):
        store.save(f"key{n}", *_run(tmp_path, n), {"n": n})
        os.utime(store.dir / f"key{n}", (n, n))  # saved one after the other
    (store.dir / ".key9.tmp-x").mkdir()  # what a killed save leaves
    assert store.restore("key2", tmp_path / "out" / "model.keras", tmp_path / "live") == {"n": 2}
    store.save("key9", *_run(tmp_path, 9), {"n": 9})
    kept = sorted(p.name for p in store.dir.iterdir())
    assert kept == ["key2", "key4", "key5", "key6", "key9"]  # key2 was used, key3 was not
    assert store.restore("key0", tmp_path / "out" / "model.keras", tmp_path / "live") is None
    assert (tmp_path / "out" / "model.keras").read_bytes() == b"model 2"
    assert (tmp_path / "live" / "plots" / "loss.tsv").read_text() == "step\tloss\n2\t0.5\n"


@pytest.mark.parametrize("damage", ["record", "extra", "missing"])
def test_an_entry_that_does_not_match_its_record_is_dropped(tmp_path: Path, damage: str,
                                                           caplog: pytest.LogCaptureFixture):
    store = FinishedRuns(tmp_path / "runs")
    store.save("key", *_run(tmp_path, 1), {"n": 1})
    entry = store.dir / "key"
    {"record": lambda: (entry / finished.RECORD).write_text("[]"),
     "extra": lambda: (entry / "live" / "stray.tsv").write_text("x"),
     "missing": lambda: (entry / "live" / "metrics.json").unlink()}[damage]()
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "metrics.json").write_text("kept")
    assert store.restore("key", tmp_path / "out" / "model.keras", tmp_path / "live") is None
    assert f"ignoring the finished run in {entry}" in caplog.text and not entry.exists()
    assert not (tmp_path / "out").exists() and (tmp_path / "live" / "metrics.json").read_text() == "kept"
