"""train.devices: data-parallel training on 2 and 4 virtual CPU devices of JAX and TensorFlow
gives the one-device loss curve, an uneven last batch trains, and a killed run resumes."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from tasks import download, split, validate
from tasks.core.config import Train
from tasks.core.errors import StageError
from tasks.core.paths import Paths
from tasks.runtime import backend, devices, resume
from tasks.runtime.backend import Knobs
from tasks.runtime.trainer import compile_for_training

from ..conftest import REPO, tiny_params

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TIMEOUT = 300
# JAX: the book's model with augmentation, dropout and batch norm: its global arrays make every
# draw and statistic the one device's. TensorFlow: each replica draws its own random numbers,
# not the one device's (docs/training.md), so the end-to-end check leaves random layers out; batch norm
# and the replicas' draws are checked apart below.
MODELS = {"jax": {"model": "xception_mini", "augment": True},
          "tensorflow": {"model": "residual", "augment": False}}
EPOCHS = 4


def params_for(backend_name: str, count: int, per_class: int = 4, **train: object):
    return tiny_params(split={"train": per_class, "validation": 3, "test": 2}, train={
        **MODELS[backend_name], "backend": backend_name, "devices": count, "epochs": EPOCHS, **train})


def make_template(root: Path, archive: Path, per_class: int) -> Path:
    """A project through validate with `per_class` train and 3 validation images per class."""
    params = tiny_params(download={"source": "local", "path": str(archive)},
                         split={"train": per_class, "validation": 3, "test": 2})
    for stage in (download, split, validate):
        stage.run(params, Paths(root))
    return root


@pytest.fixture(scope="module")
def even(tmp_path_factory: pytest.TempPathFactory, tiny_archive: Path) -> Path:
    """8 train images: batches of 4 split over 2 or 4 devices; 6 validation images: the last
    batch of 2 does not split over 4."""
    return make_template(tmp_path_factory.mktemp("even"), tiny_archive, 4)


def command(root: Path, count: int, params) -> list[str]:
    file = root / "params.yaml"
    file.write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True)))
    return [sys.executable, "-m", "tests.helpers.virtual_devices", str(count),
            params.train.backend, "--root", str(root), "--params", str(file)]


def train_on(template: Path, root: Path, count: int, params) -> tuple[Paths, str]:
    """A copy of `template` trained on `count` virtual devices; its paths and log."""
    shutil.copytree(template, root)
    done = subprocess.run(command(root, count, params), check=False, cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Paths(root), done.stdout


def curve(paths: Paths) -> dict[str, list[float]]:
    """Every metric of every epoch, from DVCLive's plots."""
    out = {}
    for tsv in sorted((paths.live / "plots" / "metrics").rglob("*.tsv")):
        rows = tsv.read_text().splitlines()[1:]
        out[f"{tsv.parent.name}/{tsv.stem}"] = [float(r.split("\t")[1]) for r in rows]
    return out


@pytest.fixture(scope="module")
def runs(even: Path, tmp_path_factory: pytest.TempPathFactory):
    """Runs on (backend, device count), each trained once for the module."""
    done: dict[tuple[str, int], tuple[Paths, str]] = {}

    def get(name: str, count: int) -> tuple[Paths, str]:
        if (name, count) not in done:
            root = tmp_path_factory.mktemp(f"{name}-{count}") / "p"
            done[name, count] = train_on(even, root, count, params_for(name, count))
        return done[name, count]
    return get


@pytest.mark.parametrize("name", ["jax", "tensorflow"])
@pytest.mark.parametrize("count", [2, 4])
def test_several_devices_give_the_one_device_loss_curve(runs, name: str, count: int):
    paths, log = runs(name, count)
    assert f"{count} device(s), data-parallel" in log
    one, several = curve(runs(name, 1)[0]), curve(paths)
    assert one.keys() == several.keys() and len(one["train/loss"]) == EPOCHS
    for key in one:
        # The first epoch to float precision; later ones within 2e-3: the per-device batch
        # shapes round differently (XLA on AVX-512 most), and training amplifies it.
        np.testing.assert_allclose(several[key][0], one[key][0], rtol=1e-5, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(several[key], one[key], rtol=2e-3, atol=1e-4, err_msg=key)


@pytest.mark.parametrize("name", ["jax", "tensorflow"])
def test_a_last_batch_that_does_not_split_trains(name: str, tiny_archive: Path, tmp_path: Path):
    # 10 train images in batches of 4 end with 2, which 4 devices cannot split.
    template = make_template(tmp_path / "uneven", tiny_archive, 5)
    paths, log = train_on(template, tmp_path / "p", 4, params_for(name, 4, 5, epochs=2))
    assert log.count("INFO [train] epoch ") == 2 and "on 10 images" in log
    assert all(np.isfinite(v).all() for v in curve(paths).values())


@pytest.mark.parametrize("name", ["jax", "tensorflow"])
def test_a_killed_run_on_two_devices_resumes(runs, even: Path, name: str, tmp_path: Path):
    uninterrupted, _ = runs(name, 2)
    shutil.copytree(even, tmp_path / "p")
    paths, cmd = Paths(tmp_path / "p"), command(tmp_path / "p", 2, params_for(name, 2))
    states = paths.array_cache / "train-state"
    with open(tmp_path / "out", "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while not list(states.glob("*/state.json")) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "out").read_text()[-3000:]
    done = subprocess.run(cmd, check=False, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming from epoch" in done.stdout
    assert paths.model.read_bytes() == uninterrupted.model.read_bytes()
    assert curve(paths) == curve(uninterrupted)


def test_batch_norm_is_synchronized_over_tensorflow_replicas():
    # A network with batch norm and no random layer, fitted over 2 replicas and on one device.
    code = """if True:
        from tests.helpers.virtual_devices import setup
        setup(2, "tensorflow")
        import keras, numpy as np
        from tasks.runtime import devices
        from tasks.runtime.backend import Knobs
        x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
        y = (x[:, 0] > 0).astype("float32")
        def build():
            keras.utils.set_random_seed(1)
            i = keras.Input((6,))
            h = keras.layers.BatchNormalization()(keras.layers.Dense(4)(i))
            return keras.Model(i, keras.layers.Dense(1, activation="sigmoid")(h))
        losses = []
        for count in (1, 2):
            placement = devices.place(Knobs("tensorflow", "CPU", False, False, False, count), 4)
            with placement.scope():
                saved = build()
                model = placement.for_training(saved, saved, build)
                model.compile(optimizer="rmsprop", loss="binary_crossentropy")
            assert (model is saved) == (count == 1) and saved.layers[2].synchronized is False
            losses.append(model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0
                                    ).history["loss"])
        np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    """
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]


def test_each_tensorflow_replica_draws_its_own_augmentation_and_dropout():
    # 4 identical images over 2 replicas: MirroredStrategy alone gives both replicas the same
    # seeds, so replica 1 would repeat replica 0's flips, crops and dropout masks exactly.
    code = """if True:
        from tests.helpers.virtual_devices import setup
        setup(2, "tensorflow")
        import keras, numpy as np, tensorflow as tf
        from tasks.networks.augment import augmentation
        from tasks.runtime import devices
        from tasks.runtime.backend import Knobs
        def build():
            i = keras.Input((8, 8, 3))
            return keras.Model(i, keras.layers.Dropout(0.5, seed=3)(augmentation(0, kind="crop",
                                                                                 crop_area=0.3)(i)))
        placement = devices.place(Knobs("tensorflow", "CPU", False, False, False, 2), 4)
        strategy = placement.distribution
        with placement.scope():
            saved = build()
            model = placement.for_training(saved, saved, build)
        assert model is not saved and all(type(g) is keras.random.SeedGenerator
                                          for g in devices._seed_generators(saved))
        x = np.tile(np.arange(192, dtype="float32").reshape(1, 8, 8, 3), (4, 1, 1, 1))
        batch = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(x))))
        step = tf.function(lambda b: strategy.run(lambda t: model(t, training=True), args=(b,)))
        first, second = [t.numpy() for t in strategy.experimental_local_results(step(batch))]
        assert first.shape == second.shape == (2, 8, 8, 3)
        assert not np.allclose(first, second), "the replicas drew the same numbers"
        np.testing.assert_array_equal(model(x[:1], training=False), x[:1])  # inference: as is
    """
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]


def test_an_epoch_drops_only_what_the_devices_cannot_split():
    four = devices.Placement("jax", ("cpu:0", "cpu:1", "cpu:2", "cpu:3"))
    order = np.arange(10)
    assert four.trim(order, 4).tolist() == list(range(8))  # 4, 4, and 2 of 4 devices: dropped
    assert len(four.trim(order, 8)) == 8 and len(four.trim(np.arange(12), 4)) == 12
    assert len(devices.Placement("jax", ("cpu:0", "cpu:1")).trim(order, 4)) == 10


@pytest.mark.parametrize("name", ["jax", "tensorflow"])
def test_padded_validation_scores_every_image_as_unpadded(name: str):
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3)).astype("uint8")
    y = np.array([0, 1, 1, 0, 1, 1], np.int32)
    feed = devices.Placement(name, ("a", "b", "c", "d")).validation(x, y, 4)
    last = feed[len(feed) - 1]
    assert [len(part) for part in last] == [4, 4, 4] and last[2].tolist()[2:] == [0, 0]
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    compile_for_training(model, 1e-3, False)
    padded = model.evaluate(feed, verbose=0, return_dict=True)
    plain = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert padded.keys() == plain.keys()
    for key in plain:
        assert padded[key] == pytest.approx(plain[key], rel=1e-6), key


def test_devices_resolve_and_are_part_of_the_run_key(validated_project: Paths):
    assert backend.resolve_knobs(Train(), "jax", []).devices == 1  # auto, no GPU: one device
    assert backend.resolve_knobs(Train(), "jax", ["H100", "H100"]).devices == 2
    assert backend.resolve_knobs(Train(devices=3), "tensorflow", []).devices == 3
    one, two = (Knobs("tensorflow", "CPU", False, False, False, n) for n in (1, 2))
    manifest = validated_project.accepted_manifest
    assert resume.run_key(tiny_params(), one, manifest) != resume.run_key(tiny_params(), two, manifest)


def test_devices_beyond_those_present_or_an_unsplittable_batch_are_refused():
    with pytest.raises(StageError, match=r"train.devices 2: tensorflow sees 1 device\(s\) here"):
        devices.place(Knobs("tensorflow", "CPU", False, False, False, 2), 4)
    with pytest.raises(StageError, match="train.batch_size 6 does not split evenly over 4"):
        devices.place(Knobs("tensorflow", "CPU", False, False, False, 4), 6)
    one = devices.place(Knobs("tensorflow", "CPU", False, False, False, 1), 6)
    assert one.distribution is None and one.describe() == "1 device(s), /device:CPU:0"
