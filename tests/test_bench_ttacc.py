"""bench.ttacc's parts: reading the newest experiment from `dvc exp show --json`, and the seed's
recipe stopping at its wall-time budget. The timed runs themselves are not tested (an hour each)."""
from __future__ import annotations

import pytest

from bench import ttacc


def _exp(name: str, timestamp: str, accuracy: float) -> dict:
    metrics = {"data/metrics/evaluate.json": {"test": {"accuracy": accuracy}},
               "data/live/metrics.json": {"validation": {"accuracy": accuracy - 0.01}},
               "data/metrics/gate.json": {"blessed": accuracy >= 0.883}}
    params = {"params.yaml": {"data": {"train": {"recipe": "cpu"}, "base": {"seed": int(name[8])}}}}
    return {"revs": [{"name": name, "data": {"timestamp": timestamp, "params": params, "metrics": {
        path: {"data": data} for path, data in metrics.items()}}}]}


def test_the_newest_experiment_and_its_figures_are_read():
    shown = [{"rev": "workspace", "experiments": None},
             {"rev": "abc", "experiments": [_exp("cpu-seed1-1", "2026-12-01T04:00:00", 0.87),
                                            _exp("cpu-seed2-1", "2026-12-01T05:00:00", 0.89)]}]
    assert ttacc.newest_experiment(shown) == {
        "experiment": "cpu-seed2-1", "recipe": "cpu", "seed": 2, "test_accuracy": 0.89,
        "validation_accuracy": 0.88, "blessed": True}


def test_no_experiment_is_an_error_that_says_so():
    with pytest.raises(SystemExit, match="no experiment"):
        ttacc.newest_experiment([{"rev": "workspace", "experiments": None}])


def test_the_bench_needs_the_photos():
    with pytest.raises(SystemExit, match="--data"):
        ttacc.main(["--data", "/nonexistent/book.zip"])


def test_the_seeds_recipe_stops_at_its_budget_and_is_tested(split_project):
    got = ttacc.seed_recipe(split_project.split, seconds=0.5, seed=0)
    assert got["epochs"] == 1  # the first batch past the deadline ends training
    assert 0.0 <= got["test_accuracy"] <= 1.0 and 0.0 <= got["best_validation_accuracy"] <= 1.0
    assert got["train_s"] > 0.5
    assert len(got["val_loss"]) == len(got["val_accuracy"]) == 1


def test_the_seeds_recipe_stops_after_its_epochs(split_project):
    got = ttacc.seed_recipe(split_project.split, seconds=3600, seed=0, epochs=2)
    assert got["epochs"] == 2 and len(got["val_accuracy"]) == 2
