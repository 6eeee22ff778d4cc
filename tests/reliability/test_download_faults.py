"""Downloads that go wrong on the way, through `python -m tasks.download` with
`download.source: url` against a local server: a transfer cut off, a partial file a killed run
left, a truncated archive at the destination, bytes that are not the pinned sha256. Each run
ends with the archive verified and data/raw equal to the reference run's (the same images)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks import download
from tasks.core.io import sha256_file
from tasks.sources import url as url_source

from ..conftest import local_server, tiny_params
from ..helpers.servers import flaky
from .harness import Project

pytestmark = pytest.mark.reliability("download")


def _params(url: str, sha256: str | None = None):
    return tiny_params(download={"source": "url", "url": url, "sha256": sha256})


def _dest(project: Project, url: str) -> Path:
    """Where the download stage keeps the archive of `url` (created empty, for a test to fill)."""
    params = _params(url)
    dest = download.archive_path(params.download, params.base.seed, project.paths)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _fetch(project: Project, url: str, sha256: str | None):
    """Point params at `url` and run the download stage; returns (result, archive path)."""
    project.write_params(_params(url, sha256))
    return project.stage("download"), _dest(project, url)


def _verified(project: Project, reference: Project, done, archive: Path, tiny_archive: Path):
    assert done.returncode == 0, done.stderr[-3000:]
    assert sha256_file(archive) == sha256_file(tiny_archive)
    assert project.digest("data/raw") == reference.digest("data/raw")  # the same 24 images
    assert not list(archive.parent.glob("*.part"))  # no partial left behind


def test_transfer_cut_off_is_resumed(project, reference, tiny_archive):
    handler = flaky(tiny_archive, cuts=1)
    with local_server(handler) as base:
        done, archive = _fetch(project, f"{base}/dogs-vs-cats.zip", sha256_file(tiny_archive))
    _verified(project, reference, done, archive, tiny_archive)
    assert len(handler.ranges) == 2 and handler.ranges[1].startswith("bytes="), handler.ranges


def test_partial_file_of_a_killed_run_is_resumed(project, reference, tiny_archive):
    with local_server(handler := flaky(tiny_archive, cuts=0)) as base:
        url = f"{base}/dogs-vs-cats.zip"
        kept = tiny_archive.read_bytes()[:600_000]
        url_source.partial(_dest(project, url)).write_bytes(kept)
        done, archive = _fetch(project, url, sha256_file(tiny_archive))
    _verified(project, reference, done, archive, tiny_archive)
    assert f"bytes={len(kept)}-" in handler.ranges, handler.ranges  # resumed, not restarted


@pytest.mark.parametrize("pinned", [True, False], ids=["sha256 pinned", "no sha256"])
def test_truncated_archive_at_the_destination_is_fetched_again(project, reference, tiny_archive,
                                                               pinned):
    with local_server(flaky(tiny_archive, cuts=0)) as base:
        url = f"{base}/dogs-vs-cats.zip"
        sha = sha256_file(tiny_archive) if pinned else None
        # a file at the destination is served as complete, whatever it holds, unless checked
        _dest(project, url).write_bytes(tiny_archive.read_bytes()[:300_000])
        done, archive = _fetch(project, url, sha)
    _verified(project, reference, done, archive, tiny_archive)
    assert "discarding the cached" in done.stdout


def test_wrong_bytes_are_refused_removed_and_fetched_again(project, reference, tiny_archive,
                                                           tmp_path):
    other = tmp_path / "other.zip"
    other.write_bytes(tiny_archive.read_bytes()[:-4] + b"\0\0\0\0")  # a different archive
    sha = sha256_file(tiny_archive)
    with local_server(flaky(other, cuts=0)) as base:
        done, archive = _fetch(project, f"{base}/dogs-vs-cats.zip", sha)
    assert done.returncode == 1 and f"sha256 mismatch: expected {sha}" in done.stderr
    assert not archive.exists()  # not kept to be served again
    assert project.digest("data/raw") == reference.digest("data/raw")  # old raw intact
    with local_server(flaky(tiny_archive, cuts=0)) as base:  # same URL path, a new port
        done, archive = _fetch(project, f"{base}/dogs-vs-cats.zip", sha)
    _verified(project, reference, done, archive, tiny_archive)
