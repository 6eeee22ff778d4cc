"""Train: a real (tiny) fit that leaves the best checkpoint and DVCLive's per-epoch logs."""
from __future__ import annotations

import json
import re
import time
import zipfile

import keras
import pytest

from tasks import train
from tasks.core.errors import StageError
from tasks.core.paths import Paths

from .conftest import tiny_params


def test_training_writes_checkpoint_and_dvclive_logs(validated_project: Paths):
    result = train.run(tiny_params(train={"epochs": 2, "model": "xception_mini"}), validated_project)
    assert result.epochs == 2 and 1 <= result.best_epoch <= 2 and result.parameters > 0
    model = keras.saving.load_model(validated_project.model, safe_mode=True)
    assert model.input_shape == (None, 32, 32, 3)
    assert not any("Random" in layer.__class__.__name__ for layer in model.layers)
    live = validated_project.live
    metrics = json.loads((live / "metrics.json").read_text())
    assert metrics["step"] == 1 and metrics.keys() == {"train", "validation", "step"}
    for split in ("train", "validation"):
        for name in ("accuracy", "loss"):
            rows = (live / "plots" / "metrics" / split / f"{name}.tsv").read_text().splitlines()
            assert rows[0].split("\t") == ["step", name] and len(rows) == 3
    assert list(validated_project.data.glob(".model.tmp-*")) == []


def test_training_without_validated_data_names_the_file(paths: Paths):
    with pytest.raises(StageError, match="validate/manifest.csv: not found"):
        train.run(tiny_params(), paths)
    assert not paths.model_dir.exists()


def test_saved_model_bytes_depend_only_on_the_model(tmp_path):
    from tasks.core.config import Train
    from tasks.networks import zoo
    from tasks.runtime.resume import save_reproducibly

    keras.utils.set_random_seed(0)
    model = zoo.build(Train(model="residual", image_size=32))
    a = save_reproducibly(model, tmp_path / "a.keras")
    time.sleep(1.1)  # Keras stamps the save time to the second
    assert save_reproducibly(model, tmp_path / "b.keras").read_bytes() == a.read_bytes()
    with zipfile.ZipFile(a) as zf:
        ids = re.findall(r'"shared_object_id": (\d+)', zf.read("config.json").decode())
        assert "date_saved" not in zf.read("metadata.json").decode()
    assert ids and max(map(int, ids)) < len(ids)  # renumbered from 0, not Python id()s
    assert keras.saving.load_model(a, safe_mode=True).count_params() == 297_697
