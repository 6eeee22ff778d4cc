"""The per-epoch training log, written with DVCLive into data/live (metrics and plots)."""
from __future__ import annotations

from dvclive import Live


class PipelineLive(Live):
    """DVCLive writing only its files. dvc.yaml already declares these metrics and plots, so
    DVCLive's own DVC/git integration (experiment naming, auto-init) is not wanted here, and it
    crashes in a git repo that has no commit yet (scmrepo: "Empty git repo")."""

    def __init__(self, directory: str):
        super().__init__(directory, dvcyaml=None, report=None, save_dvc_exp=False)

    def _init_dvc(self) -> None:
        self._dvc_file = self._init_dvc_file()

    def log_epoch(self, logs: dict[str, float]) -> None:
        """One epoch's Keras logs as train/<metric> and validation/<metric> (Keras' val_*),
        then the next step. Named for the split, so `dvc metrics show` cannot mistake
        validation/accuracy for evaluate's test.accuracy."""
        for name, value in logs.items():
            split, metric = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            self.log_metric(f"{split}/{metric}", value)
        self.next_step()
