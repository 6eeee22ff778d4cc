"""A write refused in the middle of each writing stage, as on a full disk: the stage runs as
`python -m tasks.<stage>` on a finished project with RLIMIT_FSIZE below the size of a file it
writes. It must exit 1 with one line naming the output it could not write (no traceback),
leave its previous output whole (atomic_dir) or, for evaluate, withdraw the gate so nothing
half-new passes as blessed; and the next `dvc repro` must bring the project back to the
reference run exactly."""
from __future__ import annotations

import re

import pytest

from .harness import Project, file_size_cap

pytestmark = pytest.mark.reliability("write")

# stage: (file-size cap in bytes: below the file named, the output named in the error, or the
# start of its path)
CAP = {
    "download": (64 << 10, "data/raw"),  # the nested train.zip being unpacked (~700 KB)
    "split": (1 << 10, "data/split"),  # manifest.csv (~4 KB)
    "validate": (4 << 10, "data/data_docs"),  # the GX Data Docs store
    "train": (256 << 10, "data/cache/train-state/"),  # the resume state after epoch 1 (~1.2 MB)
    "evaluate": (16 << 10, "data/evaluate/misclassified.png"),  # the gallery, after the metrics
    "export": (256 << 10, "data/export"),  # the copy of model.keras
}
# What a failed run leaves: the previous output untouched, byte for byte (atomic_dir), or, where
# an old output could pass for the new one, no output: evaluate withdraws its gate first thing
# and export removes an older export on any refusal.
KEPT = {"download": "data/raw", "split": "data/split", "validate": "data/validate",
        "train": "data/model", "evaluate": "data/evaluate"}
GONE = {"evaluate": "data/metrics/gate.json", "export": "data/export"}


@pytest.mark.parametrize("stage", list(CAP))
def test_refused_write_is_named_and_leaves_no_partial_output(project: Project, reference: Project,
                                                             stage: str):
    cap, named = CAP[stage]
    if stage == "train":  # train must train (and write its resume state), not restore its last run
        project.forget("train")
    done = project.stage(stage, preexec_fn=file_size_cap(cap))
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.search(rf"error: {stage}: cannot write {re.escape(named)}\S*: File too large", done.stderr), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    if stage in KEPT:
        assert project.digest(KEPT[stage]) == reference.digest(KEPT[stage])
    if stage in GONE:
        assert not (project.root / GONE[stage]).exists()
        assert stage in project.status()
    assert project.leftovers() == []
    if project.status():  # something was withdrawn or half-logged: the next run repairs it
        project.repro()
        assert project.status() == {}
    assert project.lock() == reference.lock()
