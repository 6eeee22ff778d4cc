"""A corrupted cache or resume state: one byte flipped in what train keeps under data/cache/,
the checkpoint a killed run resumes from or a finished run it restores. Train must notice
(each file's sha256 is written with it), name the file in a warning and train afresh, never
resume from it or copy it into data/model; the next `dvc repro` then ends exactly as the
uninterrupted reference run (dvc.lock: every output's hash)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .harness import Project, freeze_env, kill_group, wait_frozen

pytestmark = pytest.mark.reliability("a corrupted cache or resume state")


def flip_a_byte(project: Project, pattern: str) -> Path:
    """Flip one bit in the middle of the one file matching `pattern` under data/cache/."""
    [path] = project.paths.array_cache.glob(pattern)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def assert_trained_afresh(project: Project, reference: Project, corrupted: Path, rerun: str) -> None:
    named = re.escape(str(corrupted.relative_to(project.root)))  # the stage names paths from its root
    assert re.search(rf"WARNING \[train\] .*{named}: corrupted", rerun), rerun
    assert "resuming from epoch" not in rerun and "restored finished run" not in rerun
    assert "[train] epoch 1/2:" in rerun and "[train] epoch 2/2:" in rerun
    assert project.status() == {}
    assert project.lock() == reference.lock()
    assert project.leftovers() == []


@pytest.mark.parametrize("pattern", ["train-state/*/best-*.keras", "train-state/*/weights-*.npz"])
def test_a_corrupted_resume_checkpoint_is_named_and_trained_afresh(project: Project, reference: Project,
                                                                   tmp_path: Path, pattern: str):
    # The repro of issue 17: train killed after its epochs, its checkpoint then damaged.
    project.forget("train")
    marker, log = tmp_path / "frozen", tmp_path / "killed.log"
    proc = project.start("python", "-m", "dvc", "repro", "-f", "-s", "train", log=log,
                         **freeze_env("open", "*/data/.model.tmp-*/*", marker))
    wait_frozen(proc, marker, log)
    assert kill_group(proc) == -9, log.read_text()
    corrupted = flip_a_byte(project, pattern)
    assert_trained_afresh(project, reference, corrupted, project.repro())


@pytest.mark.parametrize("pattern", ["train-runs/*/model.keras", "train-runs/*/live/metrics.json"])
def test_a_corrupted_finished_run_is_named_and_trained_afresh(project: Project, reference: Project,
                                                              pattern: str):
    # The reference run's own finished run, which a rerun of the same params would restore.
    project.forget("train", finished_runs=False)
    corrupted = flip_a_byte(project, pattern)
    (project.paths.model).unlink()  # so that train must run
    assert_trained_afresh(project, reference, corrupted, project.repro())
