"""Resumable training state, checkpointed after every finished epoch, and reproducible saves.

A killed run started again with the same inputs goes on after its last finished epoch as if
never stopped: the state holds every variable of the training model (weights, batch-norm
statistics, the augmentation's and dropout's SeedGenerator states) and of the optimizer, the
epoch count, the best val_loss with its model, and the per-epoch logs DVCLive replays. Each
epoch's shuffle is a function of (seed, epoch), so it needs no state.

DVC deletes a stage's outputs before rerunning it, so the state lives in the untracked cache,
`Paths.train_state(key)`; the key hashes everything that determines the run, so changed
params, data, code or backend start afresh. `state.json`, replaced last and atomically, is the
commit point: it names the files it goes with, so a kill at any moment leaves the last epoch's
state whole. A finished run deletes its folder; only a killed run whose key never runs again
leaves one behind (deleting data/cache/train-state is always safe).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import io
import json
import logging
import math
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from tasks.core.config import Params
from tasks.core.deps import ROOT, code_files
from tasks.core.io import atomic_write_bytes, sha256_file, write_json
from tasks.runtime.backend import Knobs
from tasks.runtime.saving import save_reproducibly

log = logging.getLogger("tasks.runtime.resume")
STATE = "state.json"


def run_key(params: Params, knobs: Knobs, manifest: Path) -> str:
    """Hash of what determines a run: train params, base.seed, the accepted manifest (every
    image's sha256), the resolved backend and knobs, the Keras version and the training code."""
    # The code that decides what a run computes (train's dvc.yaml deps, from the same import
    # walk): a change there must not resume an old state.
    material = {"train": params.train.model_dump(mode="json"), "seed": params.base.seed,
                "data": sha256_file(manifest), "keras": importlib.metadata.version("keras"),
                "knobs": {k: v for k, v in dataclasses.asdict(knobs).items() if k != "device"},
                "code": {name: sha256_file(ROOT / name) for name in code_files("tasks.train")}}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class TrainState:
    """Progress after `epochs_done` epochs; `history` holds each epoch's Keras logs."""

    epochs_done: int = 0
    best_epoch: int = 0  # 1-based; 0: no finite val_loss yet
    best_val_loss: float = math.inf
    history: tuple[dict[str, float], ...] = ()

    def after_epoch(self, logs: dict[str, float]) -> tuple[TrainState, bool]:
        """The state once the next epoch ended with `logs`, and whether it is the new best."""
        better = logs["val_loss"] < self.best_val_loss  # False for NaN, as Keras' checkpoint
        epoch = self.epochs_done + 1
        return TrainState(epoch, epoch if better else self.best_epoch,
                          logs["val_loss"] if better else self.best_val_loss,
                          (*self.history, logs)), better


class Store:
    """The state folder of one run key; `variables` (the training model's, then the
    optimizer's) are saved and restored by position, checked by path and shape."""

    def __init__(self, directory: Path, variables: list):
        self.dir, self.variables = directory, variables
        self.best_file: str | None = None  # the best model's file name in `dir`

    def load(self) -> TrainState | None:
        """Restore the variables and return the state, or None (start fresh) if there is none
        or it does not fit these variables."""
        if not (self.dir / STATE).is_file():
            return None
        try:
            meta = json.loads((self.dir / STATE).read_text())
            if meta["paths"] != [v.path for v in self.variables]:
                raise ValueError("the variables differ from this model's")
            with np.load(self.dir / meta["weights"]) as stored:
                values = [stored[f"v{i}"] for i in range(len(self.variables))]
            if any(tuple(a.shape) != tuple(v.shape) for a, v in zip(values, self.variables)):
                raise ValueError("a variable's shape differs")
            if meta["best"] and not (self.dir / meta["best"]).is_file():
                raise ValueError(f"{meta['best']} is missing")
        except (KeyError, OSError, ValueError, zipfile.BadZipFile) as err:
            log.warning("ignoring the unusable training state in %s (%s)", self.dir, err)
            return None
        for variable, value in zip(self.variables, values):
            variable.assign(value)
        self.best_file = meta["best"]
        return TrainState(meta["epochs_done"], meta["best_epoch"], meta["best_val_loss"],
                          tuple(meta["history"]))

    def save(self, state: TrainState, best_model: Any = None) -> None:
        """Checkpoint `state` with the current variables, and `best_model` if this epoch is
        the new best; state.json last, so it never names an incomplete file."""
        k = state.epochs_done
        buf = io.BytesIO()
        np.savez(buf, **{f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(self.variables)})
        atomic_write_bytes(self.dir / f"weights-{k}.npz", buf.getvalue())
        if best_model is not None:
            self.best_file = f"best-{k}.keras"
            save_reproducibly(best_model, self.dir / self.best_file)
        write_json(self.dir / STATE, {
            **dataclasses.asdict(state), "weights": f"weights-{k}.npz", "best": self.best_file,
            "paths": [v.path for v in self.variables]})
        keep = {STATE, f"weights-{k}.npz", self.best_file}
        for old in self.dir.iterdir():  # earlier epochs' files, and temp files of a killed save
            if old.name not in keep:
                old.unlink()

    @property
    def best_path(self) -> Path | None:
        """The best model so far, if any epoch reached a finite val_loss."""
        return self.dir / self.best_file if self.best_file else None

    def clear(self) -> None:
        """Delete the state: the run it belongs to is over."""
        shutil.rmtree(self.dir, ignore_errors=True)
