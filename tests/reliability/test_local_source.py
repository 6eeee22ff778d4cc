"""A local source (`download.source: local`) as users change it: an archive rebuilt at the same
path, a folder that gains a photo, a relative path run from elsewhere, unlabelled files inside;
and a url download whose content is refused, which must be kept rather than fetched again."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tasks import download

from ..conftest import REPO, local_server, tiny_params
from ..helpers.servers import flaky
from .harness import Project
from .test_bad_archives import flat

CHECKOUT = Project(REPO)  # runs `python -m tasks.*` from the checkout: a cwd other than the project


def _local(project: Project, path: Path | str) -> None:
    project.write_params(tiny_params(download={"source": "local", "path": str(path)}))


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


@pytest.mark.reliability("source")
def test_a_local_archive_rebuilt_at_the_same_path_reruns_download(project: Project, sample_images, tmp_path):
    archive = flat(tmp_path / "photos.zip", sample_images)
    _local(project, archive)
    project.repro("download")  # (evaluate and export, which record download.*, would rerun too)
    assert "download" not in project.status() and _ran(project.repro("download")) == []  # unchanged
    changed = {**sample_images, "cat.0.jpg": sample_images["cat.0.jpg"] + b"\0"}
    flat(tmp_path / "photos.zip", changed)  # rebuilt in place, as `zip` does
    assert "download" in project.status()
    assert _ran(project.repro("download")) == ["download"]
    assert (project.paths.raw / "cat.0.jpg").read_bytes() == changed["cat.0.jpg"]


@pytest.mark.reliability("source")
def test_a_local_folder_that_gains_a_photo_reruns_download(project: Project, sample_images, tmp_path):
    folder = tmp_path / "photos" / "train"
    folder.mkdir(parents=True)
    for name, data in sample_images.items():
        (folder / name).write_bytes(data)
    _local(project, folder.parent)
    project.repro("download")
    assert "download" not in project.status()
    (folder / "dog.99.jpg").write_bytes(sample_images["dog.0.jpg"])
    assert "download" in project.status()
    assert _ran(project.repro("download")) == ["download"]
    assert (project.paths.raw / "dog.99.jpg").is_file()


@pytest.mark.reliability("source")
def test_a_relative_path_is_read_from_the_project_root_whatever_the_cwd(project: Project, sample_images):
    flat(project.root / "data" / "local" / "photos.zip", sample_images)
    _local(project, "data/local/photos.zip")
    done = CHECKOUT.run(sys.executable, "-m", "tasks.download", "--params", project.root / "params.yaml",
                        "--root", project.root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"from {project.root}/data/local/photos.zip" in done.stdout


@pytest.mark.reliability("source")
def test_unlabelled_files_are_counted_and_named_not_taken(project: Project, sample_images, tmp_path):
    odd = [("train/.DS_Store", b"x"), ("__MACOSX/train/._cat.1.jpg", b"x"), ("train/cat 7.jpg", b"x"),
           ("train/cat.\u0661\u0662\u0663.jpg", sample_images["cat.0.jpg"])]  # Arabic-Indic 123
    _local(project, flat(tmp_path / "photos.zip", sample_images, *odd))
    done = project.stage("download")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipped 4 files without a cat/dog label and index (e.g. " in done.stdout
    assert "train/.DS_Store" in done.stdout and "skipped=4" in done.stdout
    assert sorted(p.name for p in project.paths.raw.iterdir()) == sorted(sample_images)  # no cat.123


@pytest.mark.reliability("params")
def test_a_tilde_path_is_refused_naming_the_key(project: Project):
    _local(project, project.root / "data" / "local")  # a valid file to start from, then the ~
    text = (project.root / "params.yaml").read_text().replace(str(project.root / "data/local"), "~/photos.zip")
    (project.root / "params.yaml").write_text(text)
    done = project.stage("download")
    assert done.returncode == 2 and "download.path: Value error, ~ is not expanded" in done.stderr, done.stderr


@pytest.mark.reliability("download")
def test_a_url_download_refused_for_its_content_is_kept_not_fetched_again(project: Project, sample_images,
                                                                          tmp_path):
    archive = flat(tmp_path / "dup.zip", sample_images, ("train/cat.00000.jpg", sample_images["cat.0.jpg"]))
    with local_server(handler := flaky(archive, cuts=0)) as base:
        params = tiny_params(download={"source": "url", "url": f"{base}/dogs-vs-cats.zip"})
        project.write_params(params)
        kept = download.archive_path(params.download, params.base.seed, project.paths)
        for _ in range(2):  # the flow's retry runs it again
            done = project.stage("download")
            assert done.returncode == 1 and "both map to cat.0.jpg" in done.stderr, done.stderr[-2000:]
            assert "corrupt" not in done.stderr and kept.read_bytes() == archive.read_bytes()
    assert len(handler.ranges) == 1  # fetched once, not deleted and fetched on every retry
