"""Train stage: fit the configured model on the validated train split, keep the checkpoint
with the best val_loss, and log every epoch with DVCLive. A killed run resumes after its last
finished epoch (tasks/checkpoint.py)."""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass

import numpy as np
from dvclive import Live

from tasks import backend
from tasks.cli import stage_main
from tasks.common import StageError, atomic_dir
from tasks.config import Params
from tasks.data import load_split
from tasks.paths import Paths

# Nothing that imports keras may be imported here at module level: backend.activate must pick
# the backend first. tasks.models, tasks.augment and keras itself are imported inside run().
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


class PipelineLive(Live):
    """DVCLive writing only its files. dvc.yaml already declares these metrics and plots, so
    DVCLive's own DVC/git integration (experiment naming, auto-init) is not wanted here, and it
    crashes in a git repo that has no commit yet (scmrepo: "Empty git repo")."""

    def _init_dvc(self) -> None:
        self._dvc_file = self._init_dvc_file()

    def log_epoch(self, logs: dict[str, float]) -> None:
        """One epoch's Keras logs as train/<metric> and eval/<metric>, then the next step."""
        for name, value in logs.items():
            split, metric = ("eval", name[4:]) if name.startswith("val_") else ("train", name)
            self.log_metric(f"{split}/{metric}", value)
        self.next_step()


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffle of one epoch, a function of (seed, epoch) only: a resumed run draws exactly
    the order the uninterrupted run would have (fit(shuffle=True) uses a global RNG)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def run(params: Params, paths: Paths) -> TrainResult:
    """Train `train.model` and write data/model/model.keras plus DVCLive logs in data/live,
    resuming a killed run of the same inputs from its state in data/cache/train-state/."""
    cfg, seed = params.train, params.base.seed
    name = backend.activate(cfg.backend)
    # Decoding forks worker processes: do it before JAX (multithreaded, fork-unsafe) is loaded.
    x_train, y_train = load_split(paths, "train", cfg.image_size)
    x_val, y_val = load_split(paths, "validation", cfg.image_size)
    import keras

    from tasks import checkpoint, models

    keras.backend.clear_session()  # fresh layer names: they are saved in model.keras
    knobs = backend.resolve_knobs(cfg, name, backend.gpu_names())
    keras.utils.set_random_seed(seed)
    # Under mixed precision the saved model is a float32 twin with the trained weights, so
    # evaluate and export (on any hardware) never see bfloat16 layers.
    saved = model = models.build(cfg)
    if knobs.mixed_precision:
        with backend.dtype_policy("mixed_bfloat16"):
            model = models.build(cfg)
    trainer = model
    if cfg.augment:  # a wrapper, so the saved model itself holds no random layers
        inputs = keras.Input(shape=model.input_shape[1:])
        augment = models.augmentation(seed, xla=knobs.jit_compile)
        trainer = keras.Model(inputs, model(augment(inputs)))
    trainer.compile(optimizer=keras.optimizers.RMSprop(cfg.learning_rate),
                    loss="binary_crossentropy", metrics=["accuracy"],
                    jit_compile=knobs.jit_compile)
    trainer.optimizer.build(trainer.trainable_variables)  # its variables exist to be restored
    # Keras turns XLA off if a layer cannot be compiled, so log what it kept, not what was asked.
    jit = "on" if trainer.jit_compile else f"off (a layer has no XLA kernel on {name})" \
        if knobs.jit_compile else "off"
    deterministic = backend.make_deterministic(knobs, trainer.jit_compile)
    log.info("backend %s on %s; mixed precision %s (policy %s); XLA jit_compile %s; TF op "
             "determinism %s", name, knobs.device, "on" if knobs.mixed_precision else "off",
             model.dtype_policy.name, jit, "on" if deterministic else "off")
    key = checkpoint.run_key(params, knobs, paths.accepted_manifest)
    ckpt = checkpoint.Checkpoint(paths.train_state(key),
                                 trainer.variables + trainer.optimizer.variables)
    state = ckpt.load() or checkpoint.TrainState()
    if state.epochs_done:
        log.info("resuming from epoch %d of %d (state %s)", state.epochs_done, cfg.epochs, ckpt.dir)
    log.info("training %s (%d parameters) at %d px for %d epochs on %d images", cfg.model,
             model.count_params(), cfg.image_size, cfg.epochs, len(x_train))
    validation = backend.batches(x_val, y_val, cfg.batch_size)  # the same every epoch: built once
    started = time.perf_counter()
    with atomic_dir(paths.model_dir) as out, PipelineLive(
            str(paths.live), dvcyaml=None, report=None, save_dvc_exp=False) as live:
        for logs in state.history:  # DVC deleted data/live: rewrite the finished epochs
            live.log_epoch(logs)
        for epoch in range(state.epochs_done, cfg.epochs):
            tick = time.perf_counter()
            order = epoch_order(seed, epoch, len(x_train))
            history = trainer.fit(backend.batches(x_train[order], y_train[order], cfg.batch_size),
                                  validation_data=validation,
                                  initial_epoch=epoch, epochs=epoch + 1, shuffle=False, verbose=0)
            logs = {k: float(v[-1]) for k, v in sorted(history.history.items())}
            live.log_epoch(logs)
            state, better = state.after_epoch(logs)
            if better and saved is not model:
                saved.set_weights(model.get_weights())
            ckpt.save(state, saved if better else None)
            log.info("epoch %d/%d: %s (%.1f s)", epoch + 1, cfg.epochs,
                     " ".join(f"{k} {v:.4f}" for k, v in logs.items()), time.perf_counter() - tick)
        if ckpt.best_path is None:
            ckpt.clear()  # the same inputs would diverge the same way: nothing worth resuming
            raise StageError(f"no epoch reached a finite val_loss (last logs: {state.history[-1]}); "
                             "no model was saved: lower train.learning_rate or check the data")
        shutil.copyfile(ckpt.best_path, out / paths.model.name)
    ckpt.clear()  # finished: the outputs are complete, the state is no longer needed
    seconds = time.perf_counter() - started
    log.info("best epoch %d, val_loss %.4f, %.0f s", state.best_epoch, state.best_val_loss, seconds)
    return TrainResult(cfg.model, model.count_params(), cfg.epochs, state.best_epoch,
                       state.best_val_loss, name, round(seconds, 1))


def _list_models() -> str:
    from tasks import models  # imports keras: only now, after argument parsing

    return models.describe_all()


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.train`: see --help."""
    return stage_main("train", __doc__, run, argv, extras={"--list-models": (
        "print every model's name, default input size and parameter count, then exit",
        _list_models)})


if __name__ == "__main__":
    raise SystemExit(main())
