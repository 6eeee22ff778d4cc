"""A local source against the pipeline's own outputs: `download.path` pointing into data/ (where
download would rebuild data/raw from the last split, and be dirty again at once) is refused,
naming the key and the output; and what a refused download leaves of data/raw under `dvc repro`
(DVC has removed it before the stage runs) and how `dvc checkout download` brings it back."""
from __future__ import annotations

import pytest

from ..conftest import tiny_params
from .harness import Project

pytestmark = pytest.mark.reliability("source")


@pytest.mark.parametrize("path, output", [("data", "data/raw"), ("data/split", "data/split"),
                                          ("data/raw/cat.0.jpg", "data/raw")])
def test_a_source_inside_the_outputs_is_refused(project: Project, reference: Project, path, output):
    project.write_params(tiny_params(download={"source": "local", "path": path}))
    done = project.stage("download")
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: download: download.path: {path} overlaps {output}, an output "
                           "of the "), last
    assert project.digest("data/raw") == reference.digest("data/raw")
    assert not project.leftovers()


def test_a_refused_download_under_dvc_repro_is_restored_by_checkout(project: Project,
                                                                    reference: Project, tmp_path,
                                                                    tiny_archive):
    cut = tmp_path / "cut.zip"  # a truncated archive: download refuses it
    cut.write_bytes(tiny_archive.read_bytes()[: tiny_archive.stat().st_size // 2])
    project.write_params(tiny_params(download={"source": "local", "path": str(cut)}))
    done = project.dvc("repro", "download")
    assert done.returncode != 0 and "corrupt or truncated" in done.stderr, done.stderr[-2000:]
    # DVC removes a stage's outputs before running it: a refusal leaves no data/raw behind
    assert not project.paths.raw.exists()
    done = project.dvc("checkout", "download")
    assert done.returncode == 0, done.stderr[-2000:]
    assert project.digest("data/raw") == reference.digest("data/raw")  # the last good raw, back
