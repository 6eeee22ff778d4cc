"""Train stage: fit the configured model on the validated train split, keep the checkpoint
with the best val_loss, and log every epoch with DVCLive.

A killed run resumes after its last finished epoch (tasks/runtime/resume.py); a run that
already finished, with the same inputs, is restored instead of trained (tasks/runtime/finished.py)."""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time

from tasks.core.cli import stage_main
from tasks.core.config import Params
from tasks.core.errors import StageError
from tasks.core.io import atomic_dir
from tasks.core.paths import Paths
from tasks.runtime import backend, progress, resume
from tasks.runtime.arrays import load_split
from tasks.runtime.feed import batches, epoch_order
from tasks.runtime.finished import FinishedRuns
from tasks.runtime.live import PipelineLive

# Nothing that imports keras may be imported here at module level: backend.activate must pick
# the backend first. tasks.runtime.trainer (and so keras) is imported inside run().
log = logging.getLogger("tasks.train")


@dataclasses.dataclass(frozen=True)
class TrainResult:
    model: str
    parameters: int
    epochs: int
    best_epoch: int
    best_val_loss: float
    backend: str
    seconds: float
    restored: bool = False  # given back by the finished-run store, not trained


def run(params: Params, paths: Paths) -> TrainResult:
    """Train `train.model` and write data/model/model.keras plus DVCLive logs in data/live,
    resuming a killed run of the same inputs from its state in data/cache/train-state/, or
    restoring a finished one from data/cache/train-runs/."""
    cfg, seed = params.train, params.base.seed
    # 1. activate the backend, before anything imports keras
    name = backend.activate(cfg.backend)
    # 2. load: decoding forks worker processes, so before JAX (fork-unsafe) is loaded
    # (every size progressive resizing trains at, the final one last)
    train = {size: load_split(paths, "train", size) for size in cfg.sizes}
    val = {size: load_split(paths, "validation", size) for size in cfg.sizes}
    # 3. restore: the same run, finished before, gives back its outputs without training
    knobs = backend.resolve_knobs(cfg, name, backend.gpu_names())
    key = resume.run_key(params, knobs, paths.accepted_manifest)
    runs, started = FinishedRuns(paths.train_runs), time.perf_counter()
    if (done := runs.restore(key, paths.model, paths.live)) is not None:
        log.info(progress.RESTORED, key, runs.dir, time.perf_counter() - started, done["epochs"],
                 done["seconds"], done["best_epoch"], done["best_val_loss"])
        return TrainResult(**{**done, "seconds": round(time.perf_counter() - started, 1), "restored": True})
    # 4. build
    from tasks.runtime.trainer import StepBar, assemble

    n_train = len(train[cfg.image_size][0])
    trainer = assemble(cfg, seed, knobs, steps_per_epoch=-(-n_train // cfg.batch_size))
    log.info("%s", trainer.describe())
    # 5. resume
    store = resume.Store(paths.train_state(key), trainer.variables)
    state = store.load() or resume.TrainState()
    if state.epochs_done:
        log.info(progress.RESUMING, state.epochs_done, cfg.epochs, store.dir)
    log.info("training %s (%d parameters, recipe %s) at %s px for %d epochs on %d images",
             cfg.model, trainer.network.count_params(), cfg.recipe,
             "/".join(map(str, cfg.sizes)), cfg.epochs, n_train)
    validation = {size: trainer.placement.validation(*val[size], cfg.batch_size)  # built once
                  for size in cfg.sizes}
    started = time.perf_counter()
    with atomic_dir(paths.model_dir) as out, PipelineLive(str(paths.live)) as live:
        for logs in state.history:  # DVC deleted data/live: rewrite the finished epochs
            live.log_epoch(logs)
        # 6. epochs
        for epoch in range(state.epochs_done, cfg.epochs):
            tick = time.perf_counter()
            size = cfg.size_at(epoch)
            x_train, y_train = train[size]
            order = trainer.placement.trim(epoch_order(seed, epoch, len(x_train)), cfg.batch_size)
            bar = StepBar(len(order), cfg.batch_size, f"epoch {epoch + 1}/{cfg.epochs} {size}px")
            history = trainer.fit_model.fit(
                batches(x_train, y_train, cfg.batch_size, order),
                validation_data=validation[size], initial_epoch=epoch, epochs=epoch + 1,
                shuffle=False, verbose=0, callbacks=[bar])
            logs = {k: float(v[-1]) for k, v in sorted(history.history.items())}
            live.log_epoch(logs)
            # Losses at a smaller size do not compare: the best epoch is one at image_size.
            state, better = state.after_epoch(logs, eligible=size == cfg.image_size)
            if better:
                trainer.keep_best()
            store.save(state, trainer.saved if better else None)
            log.info(progress.EPOCH, epoch + 1, cfg.epochs,
                     " ".join(f"{k} {v:.4f}" for k, v in logs.items()), time.perf_counter() - tick)
        # 7. save the best epoch's model, and keep the finished run
        if store.best_path is None:
            store.clear()  # the same inputs would diverge the same way: nothing worth resuming
            raise StageError(f"no epoch reached a finite val_loss (last logs: {state.history[-1]}); "
                             "no model was saved: lower train.learning_rate or check the data")
        shutil.copyfile(store.best_path, out / paths.model.name)
    seconds = time.perf_counter() - started
    log.info("best epoch %d, val_loss %.4f, %.0f s", state.best_epoch, state.best_val_loss, seconds)
    result = TrainResult(cfg.model, trainer.network.count_params(), cfg.epochs, state.best_epoch,
                         state.best_val_loss, name, round(seconds, 1))
    runs.save(key, paths.model, paths.live, dataclasses.asdict(result))
    store.clear()  # finished: the outputs are complete and kept, the state is no longer needed
    return result


def _list_models(_: Paths) -> str:
    from tasks.networks import zoo  # imports keras: only now, after argument parsing

    return zoo.describe_all()


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.train`: see --help."""
    return stage_main("train", __doc__, run, argv, extras={"--list-models": (
        "print every model's name, default input size and parameter count, then exit",
        _list_models)})


if __name__ == "__main__":
    raise SystemExit(main())
