"""Train stage: fit the configured model on the validated train split, keep the checkpoint
with the best val_loss, and log every epoch with DVCLive."""
from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
from dvclive import Live

from tasks import models
from tasks.cli import stage_main
from tasks.common import StageError, atomic_dir, atomic_write_bytes
from tasks.config import Params
from tasks.data import load_split
from tasks.paths import Paths

log = logging.getLogger("tasks.train")


@dataclass(frozen=True)
class TrainResult:
    model: str
    parameters: int
    epochs: int
    best_epoch: int
    best_val_loss: float
    backend: str
    seconds: float


def _renumber(node: object, ids: dict[int, int]) -> object:
    # Keras writes Python id()s as shared_object_id; number them in order of appearance instead.
    if isinstance(node, dict):
        return {k: ids.setdefault(v, len(ids)) if k == "shared_object_id" else _renumber(v, ids)
                for k, v in node.items()}
    return [_renumber(v, ids) for v in node] if isinstance(node, list) else node


def save_reproducibly(model: keras.Model, path: Path) -> Path:
    """`model.save`, minus what varies between identical models (the save time, object ids,
    zip timestamps), written atomically.

    The same weights then give the same bytes, so DVC sees a retrained-but-identical model as
    unchanged and a fresh clone reproduces the committed dvc.lock.
    """
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    buf = io.BytesIO()
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta.pop("date_saved", None)
                data = json.dumps(meta).encode()
            elif info.filename == "config.json":
                data = json.dumps(_renumber(json.loads(data), {})).encode()
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data,
                         compress_type=info.compress_type)
    tmp.unlink()
    return atomic_write_bytes(path, buf.getvalue())


class PipelineLive(Live):
    """DVCLive writing only its files. dvc.yaml already declares these metrics and plots, so
    DVCLive's own DVC/git integration (experiment naming, auto-init) is not wanted here, and it
    crashes in a git repo that has no commit yet (scmrepo: "Empty git repo")."""

    def _init_dvc(self) -> None:
        self._dvc_file = self._init_dvc_file()


class EpochLog(keras.callbacks.Callback):
    """Log each epoch to DVCLive and keep the best model (by val_loss) on disk.

    dvclive's own DVCLiveCallback imports TensorFlow, so it cannot run on the JAX backend on a
    machine without TF; this one is backend-neutral.
    """

    def __init__(self, live: Live, best_model: keras.Model, checkpoint: Path):
        super().__init__()
        self.live, self.best_model, self.checkpoint = live, best_model, checkpoint
        self.best_val_loss, self.best_epoch = float("inf"), 0
        self.last_logs: dict = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = self.last_logs = logs or {}
        for name, value in logs.items():
            split, metric = ("eval", name[4:]) if name.startswith("val_") else ("train", name)
            self.live.log_metric(f"{split}/{metric}", float(value))
        if logs["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.best_epoch = float(logs["val_loss"]), epoch + 1
            save_reproducibly(self.best_model, self.checkpoint)
        self.live.next_step()


def run(params: Params, paths: Paths) -> TrainResult:
    """Train `train.model` and write data/model/model.keras plus DVCLive logs in data/live."""
    cfg = params.train
    keras.utils.set_random_seed(params.base.seed)
    x_train, y_train = load_split(paths, "train", cfg.image_size)
    x_val, y_val = load_split(paths, "validation", cfg.image_size)
    model = models.build(cfg)
    trainer = model
    if cfg.augment:  # a wrapper, so the saved model itself holds no random layers
        inputs = keras.Input(shape=model.input_shape[1:])
        trainer = keras.Model(inputs, model(models.augmentation(params.base.seed)(inputs)))
    trainer.compile(optimizer=keras.optimizers.RMSprop(cfg.learning_rate),
                    loss="binary_crossentropy", metrics=["accuracy"])
    log.info("training %s (%d parameters) at %d px for %d epochs on %d images; backend %s",
             cfg.model, model.count_params(), cfg.image_size, cfg.epochs, len(x_train),
             keras.backend.backend())
    started = time.perf_counter()
    with atomic_dir(paths.model_dir) as out, PipelineLive(
            str(paths.live), dvcyaml=None, report=None, save_dvc_exp=False) as live:
        keeper = EpochLog(live, model, out / paths.model.name)
        trainer.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=cfg.epochs,
                    batch_size=cfg.batch_size, callbacks=[keeper], verbose=2)
        if keeper.best_epoch == 0:
            raise StageError(f"no epoch reached a finite val_loss (last logs: {keeper.last_logs}); "
                             "no model was saved: lower train.learning_rate or check the data")
    seconds = time.perf_counter() - started
    log.info("best epoch %d, val_loss %.4f, %.0f s", keeper.best_epoch, keeper.best_val_loss, seconds)
    return TrainResult(cfg.model, model.count_params(), cfg.epochs, keeper.best_epoch,
                       keeper.best_val_loss, keras.backend.backend(), round(seconds, 1))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.train`: see --help."""
    return stage_main("train", __doc__, run, argv, extras={"--list-models": (
        "print every model's name, default input size and parameter count, then exit",
        models.describe_all)})


if __name__ == "__main__":
    raise SystemExit(main())
