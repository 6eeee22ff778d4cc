"""Resumable training state, checkpointed after every finished epoch, and reproducible saves.

A killed run started again with the same inputs goes on after its last finished epoch as if
never stopped: the state holds every variable of the training model (weights, batch-norm
statistics, the augmentation's and dropout's SeedGenerator states) and of the optimizer, the
epoch count, the best val_loss with its model, and the per-epoch logs DVCLive replays. Each
epoch's shuffle is a function of (seed, epoch), so it needs no state.

DVC deletes a stage's outputs before rerunning it, so the state lives in the untracked cache,
`Paths.train_state(key)`; the key hashes everything that determines the run, so changed
params, data, code or backend start afresh. `state.json`, replaced last and atomically, is the
commit point: it names the files it goes with and their sha256, so a kill at any moment leaves
the last epoch's state whole, and a file corrupted since is noticed (a warning naming it, and a
fresh start) instead of being resumed from or copied into the stage's output. A finished run deletes its folder; only a killed run whose key never runs again
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


def verify(path: Path, sha256: str) -> None:
    """A ValueError naming `path` unless its content hashes to `sha256` (hex)."""
    if sha256_file(path) != sha256:
        raise ValueError(f"{path}: corrupted (its sha256 differs from the one written with it)")


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

    def after_epoch(self, logs: dict[str, float], eligible: bool = True) -> tuple[TrainState, bool]:
        """The state once the next epoch ended with `logs`, and whether it is the new best
        (only an `eligible` epoch can be)."""
        better = eligible and logs["val_loss"] < self.best_val_loss  # False for NaN, as Keras' checkpoint
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
        self.best_sha256: str | None = None  # and its hash, written with every state.json

    def load(self) -> TrainState | None:
        """Restore the variables and return the state, or None (start fresh) if there is none
        or it does not fit these variables."""
        if not (self.dir / STATE).is_file():
            return None
        try:
            meta = json.loads((self.dir / STATE).read_text())
            if meta["paths"] != [v.path for v in self.variables]:
                raise ValueError("the variables differ from this model's")
            best = meta["best"]
            for name in filter(None, (meta["weights"], best)):
                verify(self.dir / name, meta["sha256"][name])
            with np.load(self.dir / meta["weights"]) as stored:
                values = [stored[f"v{i}"] for i in range(len(self.variables))]
            if any(tuple(a.shape) != tuple(v.shape) for a, v in zip(values, self.variables)):
                raise ValueError("a variable's shape differs")
            state = TrainState(int(meta["epochs_done"]), int(meta["best_epoch"]),
                               float(meta["best_val_loss"]), tuple(map(dict, meta["history"])))
        except (KeyError, OSError, TypeError, ValueError, zipfile.BadZipFile) as err:
            log.warning("ignoring the unusable training state in %s (%s); starting afresh", self.dir, err)
            return None
        for variable, value in zip(self.variables, values):  # only once all of it was read
            variable.assign(value)
        self.best_file, self.best_sha256 = best, meta["sha256"][best] if best else None
        return state

    def save(self, state: TrainState, best_model: Any = None) -> None:
        """Checkpoint `state` with the current variables, and `best_model` if this epoch is
        the new best; state.json last, so it never names an incomplete file."""
        k = state.epochs_done
        buf = io.BytesIO()
        np.savez(buf, **{f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(self.variables)})
        atomic_write_bytes(self.dir / f"weights-{k}.npz", buf.getvalue())
        sha256 = {f"weights-{k}.npz": hashlib.sha256(buf.getvalue()).hexdigest()}
        if best_model is not None:
            self.best_file = f"best-{k}.keras"
            self.best_sha256 = sha256_file(save_reproducibly(best_model, self.dir / self.best_file))
        if self.best_file:
            sha256[self.best_file] = self.best_sha256
        write_json(self.dir / STATE, {
            **dataclasses.asdict(state), "weights": f"weights-{k}.npz", "best": self.best_file,
            "sha256": sha256, "paths": [v.path for v in self.variables]})
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
