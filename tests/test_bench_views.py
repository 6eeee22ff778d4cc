"""bench.views: a trained project scored under each test-time view set, paired on its weights;
a project without a model is refused by name."""
from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from bench import harness, views
from tasks.core.paths import Paths
from tasks.evaluate import score
from tasks.networks import tta
from tasks.runtime.arrays import load_split


def test_each_view_set_is_scored_on_validation_and_written(tmp_path, trained_template, monkeypatch):
    monkeypatch.setattr(harness, "RESULTS", tmp_path / "results")
    root = tmp_path / "project"
    shutil.copytree(trained_template, root)
    views.main([str(root), "--size", "32", "--crop", "0.75"])
    (written,) = (tmp_path / "results").glob("views-*.json")
    runs = {r["name"]: r for r in json.loads(written.read_text())["results"]}
    assert len(runs) == 2 * len(views.VIEWS)  # each view for the project, and its mean
    x, y = load_split(Paths(root), "validation", 32)
    network = tta.load(Paths(root).model)  # the tiny recipe saves the bare network
    zoomed = tta.with_tta(network, mirror=True, crop=0.75).predict(x, verbose=0).ravel()
    assert runs[f"views: centre zoom + mirror, {root}"]["value"] == round(score(y, zoomed)["accuracy"], 4)
    whole = network.predict(x, verbose=0).ravel()
    assert runs["views: whole photo, mean of 1"]["value"] == round(score(y, whole)["accuracy"], 4)
    assert isinstance(network, keras.Model) and np.isfinite(zoomed).all()


def test_a_project_without_a_model_is_named(tmp_path):
    with pytest.raises(SystemExit, match="model.keras: no trained model"):
        views.main([str(tmp_path), "--size", "32"])
