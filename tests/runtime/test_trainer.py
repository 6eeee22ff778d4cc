"""The trainer's recipe ingredients: schedules, progressive resizing, the crop augmentation, a
saved model that averages over mirrored photos, and the per-step progress bar."""
from __future__ import annotations

import io
import json
import time

import keras
import numpy as np
import pytest

from tasks import evaluate, export, train
from tasks.core.config import Train
from tasks.core.paths import Paths
from tasks.networks import tta
from tasks.networks.augment import augmentation
from tasks.runtime.trainer import StepBar, optimizer

from ..conftest import tiny_params

RECIPE = {"model": "xception_fast", "image_size": 48, "epochs": 3, "batch_size": 4,
          "learning_rate": 0.002, "optimizer": "adamw", "weight_decay": 0.05, "schedule": "cosine",
          "warmup_epochs": 1, "label_smoothing": 0.1, "augment": True, "augmentation": "crop",
          "rotation": 0.05, "crop_area": 0.3, "progressive": [[32, 1]], "tta": True,
          "test_crop": 0.875, "bn_momentum": 0.9}


def test_the_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    cfg = Train(learning_rate=0.01, schedule="cosine", warmup_epochs=2, epochs=10, optimizer="adamw")
    rate = optimizer(cfg, steps_per_epoch=10).learning_rate  # the schedule, read at each step
    schedule = optimizer(cfg, steps_per_epoch=10)._learning_rate
    at = [float(schedule(step)) for step in (0, 10, 20, 60, 100)]
    assert at[0] == 0.0 and at[1] == pytest.approx(0.005) and at[2] == pytest.approx(0.01)
    assert at[2] > at[3] > at[4] and at[4] == pytest.approx(0.0, abs=1e-7)
    assert float(rate) == 0.0  # no step taken yet
    book = optimizer(Train(), steps_per_epoch=10)
    assert isinstance(book, keras.optimizers.RMSprop) and float(book.learning_rate) == pytest.approx(1e-3)


def test_the_crop_augmentation_keeps_the_size_and_varies_per_image_but_not_at_inference():
    layer = augmentation(seed=1, kind="crop", rotation=0.05, crop_area=0.3)
    images = np.random.default_rng(0).integers(0, 256, (6, 40, 40, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(images, training=True))
    assert out.shape == images.shape and not np.allclose(out, images)
    assert out.min() >= 0 and out.max() <= 255  # bilinear, reflected: no values from outside
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images)), images)
    with pytest.raises(ValueError):
        Train(augmentation="jitter")


def test_a_recipe_with_every_ingredient_trains_evaluates_and_exports_what_it_promised(
        validated_project: Paths):
    params = tiny_params(train={"recipe": "every"}, recipes={"every": RECIPE},
                         export={"formats": ["keras", "savedmodel", "tflite", "onnx"]})
    result = train.run(params, validated_project)
    assert result.epochs == 3 and result.best_epoch >= 2  # the 32 px epoch cannot be the best
    model = tta.load(validated_project.model)
    assert model.input_shape == (None, 48, 48, 3)  # the saved model is at image_size
    inner = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    x = np.random.default_rng(1).integers(0, 256, (3, 48, 48, 3)).astype("float32")
    centre = keras.ops.convert_to_numpy(keras.ops.image.resize(x[:, 3:45, 3:45], (48, 48)))  # 0.875
    both = (inner.predict(centre, verbose=0) + inner.predict(centre[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(model.predict(x, verbose=0), both, atol=1e-6)
    evaluate.run(params, validated_project)
    done = export.run(params, validated_project)
    assert all(check["passed"] for check in done.parity.values())
    card = json.loads((validated_project.export / "model_card.json").read_text())
    assert card["recipe"] == "every" and card["params"]["train"]["progressive"] == [[32, 1]]
    assert card["views"] == "the centre 0.875 of each side, resized back, averaged with its mirror image"
    page = (validated_project.export / "model_card.md").read_text()
    assert f"- Views, inside the model: {card['views']}" in page


def test_the_step_bar_shows_images_per_second_and_the_loss_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    bar = StepBar(images=10, batch_size=4, label="epoch 1/2 32px")
    bar.on_train_begin()
    for step in range(3):
        time.sleep(0.15)  # tqdm redraws at most every 0.1 s
        bar.on_train_batch_end(step, {"loss": 0.5 - step / 10})
    bar.on_train_end()
    text = screen.getvalue()
    assert "epoch 1/2 32px" in text and "img/s" in text and "/10 [" in text and "loss=0.4000" in text
    quiet = io.StringIO()  # not a terminal: DVC's and Prefect's logs stay clean
    monkeypatch.setattr("sys.stderr", quiet)
    bar.on_train_begin()
    bar.on_train_batch_end(0, {"loss": 0.5})
    bar.on_train_end()
    assert quiet.getvalue() == ""
