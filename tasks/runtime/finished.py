"""Finished training runs, kept by run key, so that going back to a run that already finished
(params switched back, a params.yaml typo fixed after DVC deleted train's outputs) restores its
outputs in seconds instead of training again.

DVC's run-cache cannot do this for train: its DVCLive outputs are `cache: false` (committed to
git so that branches compare), and DVC restores only stages whose outputs are all cached. So
train keeps its own store under the untracked cache, `Paths.train_runs`: one folder per run key
(the resume state's, tasks/runtime/resume.py) holding `model.keras`, the DVCLive files of
data/live, and `run.json`, written last, with the run's result and every file's sha256. A
restore verifies every hash first: a corrupted entry is reported, deleted and trained afresh.
The KEEP most recently finished or restored runs are kept; deleting the folder is always safe.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from tasks.core.io import atomic_dir, sha256_file, write_json
from tasks.runtime.resume import verify

log = logging.getLogger("tasks.runtime.finished")
RECORD = "run.json"
MODEL = "model.keras"
LIVE = "live"  # the DVCLive files, under this folder of an entry
KEEP = 5  # finished runs kept; each is one model (~3 MB at the defaults) and its small logs


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class FinishedRuns:
    """The store: `save` a finished run's outputs under its key, `restore` them."""

    def __init__(self, directory: Path):
        self.dir = directory

    def save(self, key: str, model: Path, live: Path, result: dict) -> None:
        """Keep `model` and every file under `live` as run `key`, with `result` (JSON)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=self.dir))
        try:
            shutil.copyfile(model, tmp / MODEL)
            for rel in _files(live):
                (tmp / LIVE / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(live / rel, tmp / LIVE / rel)
            write_json(tmp / RECORD, {"result": result, "sha256": {
                rel: sha256_file(tmp / rel) for rel in _files(tmp)}})
            shutil.rmtree(self.dir / key, ignore_errors=True)  # an earlier copy of the same run
            os.replace(tmp, self.dir / key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._prune()

    def restore(self, key: str, model: Path, live: Path) -> dict | None:
        """Put run `key`'s model at `model` (its folder replaced atomically) and its DVCLive files into `live`,
        exactly as that run wrote them; return its result, or None if there is no such run or
        it is corrupted (then it is deleted, with a warning naming the file)."""
        entry = self.dir / key
        if not (entry / RECORD).is_file():
            return None
        try:
            meta = json.loads((entry / RECORD).read_text())
            hashes, result = meta["sha256"], dict(meta["result"])
            if set(hashes) != set(_files(entry)) - {RECORD}:
                raise ValueError(f"its files differ from those {entry / RECORD} lists")
            for rel, sha256 in hashes.items():
                verify(entry / rel, sha256)
        except (KeyError, OSError, TypeError, ValueError) as err:
            log.warning("ignoring the finished run in %s (%s); training afresh", entry, err)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        with atomic_dir(model.parent) as out:
            shutil.copyfile(entry / MODEL, out / model.name)
        # What DVCLive itself clears when a run starts: its plots and metrics (train's outputs).
        shutil.rmtree(live / "plots", ignore_errors=True)
        (live / "metrics.json").unlink(missing_ok=True)
        for rel in _files(entry / LIVE):
            (live / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry / LIVE / rel, live / rel)
        os.utime(entry)  # most recently used: pruned last
        return result

    def _prune(self) -> None:
        """Keep the KEEP most recently used runs; log what the store holds."""
        for tmp in self.dir.glob(".*.tmp-*"):  # what a killed save left behind
            shutil.rmtree(tmp, ignore_errors=True)
        entries = sorted((p for p in self.dir.iterdir() if p.is_dir()),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
        kept = [p for p in entries[:KEEP] if (p / RECORD).is_file()]
        size = sum(f.stat().st_size for p in kept for f in p.rglob("*") if f.is_file())
        log.info("finished runs kept in %s: %d of at most %d, %.1f MB", self.dir, len(kept), KEEP,
                 size / 1e6)
