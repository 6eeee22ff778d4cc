"""Train on TensorFlow and JAX, and the mixed-precision and XLA knobs (resolved on a CPU)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from tasks import train
from tasks.core.config import Train
from tasks.core.errors import StageError
from tasks.core.paths import Paths
from tasks.networks import zoo
from tasks.runtime import backend, feed

from ..conftest import REPO, tiny_params


def test_the_jax_backend_trains_from_the_environment_and_its_model_loads_on_tensorflow(
        validated_project: Paths, tmp_path: Path):
    params = tmp_path / "params.yaml"  # backend auto: KERAS_BACKEND decides
    params.write_text(yaml.safe_dump(tiny_params(train={"backend": "auto", "epochs": 2}).model_dump(
        mode="json", by_alias=True)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-m", "tasks.train", "--root", str(validated_project.root),
                           "--params", str(params)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backend jax on CPU" in done.stdout and "XLA jit_compile on" in done.stdout
    assert "backend='jax'" in done.stdout and done.stdout.count("INFO [train] epoch ") == 2
    model = keras.saving.load_model(validated_project.model, safe_mode=True)  # here: TensorFlow
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    p = model.predict(x, verbose=0)
    assert p.shape == (4, 1) and np.all((p >= 0) & (p <= 1))


def test_a_backend_other_than_the_loaded_one_is_refused(validated_project: Paths):
    assert keras.backend.backend() == "tensorflow"
    with pytest.raises(StageError, match="already runs Keras on 'tensorflow'"):
        train.run(tiny_params(train={"backend": "jax"}), validated_project)
    assert backend.activate("auto") == os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.parametrize("knob, gpus, name, mixed, jit", [
    ({}, [], "tensorflow", False, False),           # auto on a CPU: both off
    ({}, [], "jax", False, True),                   # but JAX always jits
    ({}, ["NVIDIA H100"], "tensorflow", True, True),
    ({"mixed_precision": "on", "jit_compile": "on"}, [], "tensorflow", True, True),
    ({"mixed_precision": False, "jit_compile": "off"}, ["NVIDIA H100"], "jax", False, False),
])
def test_knobs_resolve_auto_by_hardware(knob, gpus, name, mixed, jit):
    knobs = backend.resolve_knobs(Train(**knob), name, gpus)
    assert (knobs.mixed_precision, knobs.jit_compile, knobs.gpu) == (mixed, jit, bool(gpus))
    assert knobs.device == (gpus[0] if gpus else backend.cpu_name())


def test_knobs_accept_yaml_booleans():
    knobs = Train(mixed_precision=True, jit_compile=False)
    assert (knobs.mixed_precision, knobs.jit_compile) == ("on", "off")
    assert yaml.safe_load("k: on")["k"] is True  # why: YAML 1.1 reads an unquoted on as true
    assert Train(**yaml.safe_load("mixed_precision: on")).mixed_precision == "on"


def test_mixed_precision_computes_in_bfloat16_with_a_float32_head():
    with backend.dtype_policy("mixed_bfloat16"):
        model = zoo.build(Train(model="residual", image_size=32))
    assert keras.config.dtype_policy().name == "float32"  # restored after the block
    policies = {layer.dtype_policy.name for layer in model.layers[1:-1]}
    assert policies == {"mixed_bfloat16"} and model.layers[-1].dtype_policy.name == "float32"
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float32
    assert {v.dtype for v in model.trainable_variables} == {"float32"}  # bfloat16 only computes


def test_mixed_precision_on_trains_and_saves_a_float32_model(validated_project: Paths, caplog):
    with caplog.at_level(logging.INFO, logger="tasks.train"):
        result = train.run(tiny_params(train={"mixed_precision": "on"}), validated_project)
    assert "mixed precision on (policy mixed_bfloat16)" in caplog.text
    assert result.best_epoch == 1 and np.isfinite(result.best_val_loss)
    with zipfile.ZipFile(validated_project.model) as zf:
        config = zf.read("config.json").decode()
    assert "mixed_bfloat16" not in config and '"name": "float32"' in config


def _batches_of(data) -> list[tuple]:
    """What Keras would draw from `data`, as numpy tuples."""
    if isinstance(data, keras.utils.PyDataset):
        items = [data[i] for i in range(len(data))]
    else:
        items = [tuple(t.numpy() for t in item) if isinstance(item, tuple) else item.numpy()
                 for item in data]
    return [item if isinstance(item, tuple) else (item,) for item in items]


@pytest.mark.parametrize("backend", ["tensorflow", "jax"], ids=["tf.data", "PyDataset"])
def test_batches_keep_the_order_and_the_last_partial_batch(backend, monkeypatch):
    # Only the choice of feed is patched: a PyDataset is what JAX (or torch) training draws.
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    make = feed.batches
    x = np.arange(7 * 2 * 2 * 3, dtype=np.uint8).reshape(7, 2, 2, 3)
    y = np.arange(7, dtype=np.float32)
    got = _batches_of(make(x, y, 3))
    assert [len(b[0]) for b in got] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    assert got[0][0].dtype == np.uint8  # no float copy of the images on the host
    alone = _batches_of(make(x, None, 4))  # predict: images only
    assert [b[0].shape[0] for b in alone] == [4, 3] and all(len(b) == 1 for b in alone)


def test_the_tensorflow_feed_runs_without_tf_data_autotuning():
    # Autotuning's thread held every fit() at its end for up to 10 s (docs/performance.md).
    assert feed.batches(np.zeros((2, 1), np.uint8), None, 1).options().autotune.enabled is False
