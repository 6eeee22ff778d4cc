"""Where every stage reads and writes: the one place that knows the data/ layout.

Stages take a `Paths` argument instead of hard-coding locations, so tests point a whole
pipeline at `tmp_path`, and dvc.yaml names exactly these files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LABELS = ("cat", "dog")
SPLITS = ("train", "validation", "test")
# The one raw layout every source is normalised to: data/raw/cat.12.jpg, data/raw/dog.7.jpg.
RAW_NAME = re.compile(r"^(cat|dog)\.([0-9]+)\.jpg$")


@dataclass(frozen=True)
class Paths:
    """The data/ layout under a project root. Cached outputs are DVC-managed and git-ignored;
    `metrics/` and `plots/` are small, uncached, and committed so `dvc metrics diff` works."""

    root: Path = Path(".")

    @property
    def data(self) -> Path:
        return self.root / "data"

    # download
    @property
    def downloads(self) -> Path:
        """Fetched or generated archives (a local cache, not a DVC output)."""
        return self.data / "downloads"

    @property
    def raw(self) -> Path:
        """Every labelled image, normalised to `{cat,dog}.N.jpg`."""
        return self.data / "raw"

    # split
    @property
    def split(self) -> Path:
        return self.data / "split"

    @property
    def manifest(self) -> Path:
        return self.split / "manifest.csv"

    # validate
    @property
    def validation(self) -> Path:
        """The accepted manifest (what training may read) and the validation report."""
        return self.data / "validate"

    @property
    def data_docs(self) -> Path:
        """GX Data Docs (HTML). Not a DVC output: it embeds run times, so it is never
        byte-identical, and it is a report to read rather than an input to anything."""
        return self.data / "data_docs"

    @property
    def accepted_manifest(self) -> Path:
        return self.validation / "manifest.csv"

    # train
    @property
    def array_cache(self) -> Path:
        """Decoded, resized uint8 arrays per (split, image size): rebuildable, not tracked."""
        return self.data / "cache"

    def train_state(self, key: str) -> Path:
        """A training run's resumable state (tasks/runtime/resume.py), one folder per run key. It
        sits in the untracked cache because DVC deletes a stage's outputs before rerunning it."""
        return self.array_cache / "train-state" / key

    @property
    def train_runs(self) -> Path:
        """Finished training runs by run key (tasks/runtime/finished.py): their model and DVCLive
        files, restored when the same run comes back. Untracked, for the same reason."""
        return self.array_cache / "train-runs"

    @property
    def model_dir(self) -> Path:
        return self.data / "model"

    @property
    def model(self) -> Path:
        return self.model_dir / "model.keras"

    @property
    def live(self) -> Path:
        """DVCLive's training log: per-epoch metrics and plots (committed)."""
        return self.data / "live"

    # evaluate
    @property
    def metrics(self) -> Path:
        return self.data / "metrics"

    @property
    def plots(self) -> Path:
        return self.data / "plots"

    @property
    def misclassified(self) -> Path:
        """The gallery of confidently wrong test images (a cached output: it holds photos)."""
        return self.data / "evaluate" / "misclassified.png"

    @property
    def gate(self) -> Path:
        return self.metrics / "gate.json"

    # export
    @property
    def export(self) -> Path:
        return self.data / "export"
