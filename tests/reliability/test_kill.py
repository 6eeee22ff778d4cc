"""SIGKILL in the middle of each stage. `dvc repro -f -s <stage>` runs the stage as DVC does
(outputs removed first); the stage is frozen at a write deep inside its work and killed with
its whole process group. The next `dvc repro` must finish, leave `dvc status` clean and the
workspace free of temp files, and record exactly the reference run's dvc.lock (every output's
hash: the tiny run is deterministic, model bytes included)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .harness import Project, freeze_env, kill_group, wait_frozen

pytestmark = pytest.mark.reliability("kill")

# stage: (audit event, path glob) of the write the stage is frozen at, and why there.
FREEZE_AT = {
    "download": ("open", "*/data/.raw.tmp-*/*.jpg"),  # first image out of the nested zip
    "split": ("open", "*/data/.split.tmp-*/manifest.csv"),  # every file linked, no manifest yet
    "validate": ("open", "*/data/.validate.tmp-*/manifest.csv"),  # checked; Data Docs half-built
    "train": ("open", "*/data/.model.tmp-*/*"),  # the checkpoint after epoch 1 of 2
    "evaluate": ("os.rename", "*/data/metrics/.gate.json.tmp-*"),  # all written, gate not yet
    "export": ("open", "*/data/.export.tmp-*/model_card.md"),  # model and parity out, no card
}
# Whether train can resume after a kill (another branch adds data/cache/train-state/).
TRAIN_RESUMES = "train_state" in (Path(__file__).parents[2] / "tasks" / "core" / "paths.py").read_text()


@pytest.mark.parametrize("stage", list(FREEZE_AT))
def test_kill_mid_stage_then_repro_recovers(project: Project, reference: Project, stage: str,
                                           tmp_path: Path):
    # A run with params never run before is killed: nothing in DVC's cache to check out, so the
    # rerun must run the stage again (DVC would restore a cached output instead).
    project.forget(stage)
    marker, log = tmp_path / "frozen", tmp_path / "killed.log"
    event, glob = FREEZE_AT[stage]
    proc = project.start("python", "-m", "dvc", "repro", "-f", "-s", stage, log=log,
                         **freeze_env(event, glob, marker))
    _, path = wait_frozen(proc, marker, log)
    assert kill_group(proc) == -9, log.read_text()

    rerun = project.repro()
    assert f"Running stage '{stage}'" in rerun  # DVC saw the stage as not done
    assert project.status() == {}
    assert project.lock() == reference.lock()
    assert project.leftovers() == [], f"killed at {path}"
    # Train-resume branch: once tasks/core/paths.py has the train-state path, the rerun must resume
    # (the kill lands after epoch 1 of 2 ended) rather than start over. Adjust K if its state is
    # written after the checkpoint this test freezes at.
    if stage == "train" and TRAIN_RESUMES:
        assert re.search(r"resuming from epoch \d+ of 2", rerun), rerun
