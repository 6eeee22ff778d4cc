"""bench.book_vs_seed: the book recipe through the train stage and the seed's code, epoch by
epoch on the same split (training and validation figures), and the within-noise verdict."""
from __future__ import annotations

import json

import pytest

from bench import book_vs_seed, harness


def test_a_difference_within_two_standard_errors_is_noise():
    ours = [{"acc": [0.60, 0.70]}, {"acc": [0.64, 0.74]}]
    theirs = [{"acc": [0.61, 0.60]}, {"acc": [0.65, 0.62]}]
    first, second = book_vs_seed.compare(ours, theirs, "acc")
    assert first["difference"] == pytest.approx(-0.01) and first["within_noise"]  # 2 SE = 0.0566
    assert second["difference"] == pytest.approx(0.11) and not second["within_noise"]


def test_both_codes_train_the_same_epochs_on_the_same_split(tmp_path, tiny_archive, monkeypatch):
    monkeypatch.setattr(harness, "RESULTS", tmp_path / "results")
    book_vs_seed.main(["--data", str(tiny_archive), "--seeds", "0", "--epochs", "2",
                       "--split", "4", "2", "4", "--root", str(tmp_path / "root")])
    (written,) = (tmp_path / "results").glob("book-vs-seed-*.json")
    runs = {r["name"]: r for r in json.loads(written.read_text())["results"]}
    for who in ("the book recipe", "the seed's code"):
        run = runs[f"book vs seed: {who}, seed 0"]
        assert [len(run[m]) for m in ("loss", "accuracy", "val_loss", "val_accuracy")] == [2] * 4
        assert all(0 <= a <= 1 for a in run["accuracy"] + run["val_accuracy"])
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [r["epoch"] for r in runs[f"book vs seed: {metric}, 1 seeds"]["epochs"]] == [1, 2]


def test_the_bench_needs_the_photos(tmp_path):
    with pytest.raises(SystemExit, match="--data"):
        book_vs_seed.main(["--data", str(tmp_path / "missing.zip")])
