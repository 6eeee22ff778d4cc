"""Download: every source lands in one raw layout; bad archives are refused, naming the entry."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tasks import download
from tasks.core.errors import StageError
from tasks.core.io import sha256_file
from tasks.core.paths import Paths
from tasks.sources import extract

from .conftest import local_server, tiny_params
from .helpers.badfiles import deflated, symlink_entry, zip_with
from .helpers.servers import flaky


def _raw_names(paths: Paths) -> set[str]:
    return {p.name for p in paths.raw.iterdir()}


def test_sample_source_generates_and_normalises(paths: Paths, caplog):
    result = download.run(tiny_params(), paths)
    assert result.synthetic and result.counts == {"cat": 12, "dog": 12}
    assert _raw_names(paths) == {f"{label}.{i}.jpg" for label in ("cat", "dog") for i in range(12)}
    assert "SYNTHETIC" in caplog.text and "download.source: gdown" in caplog.text


def test_local_folder_with_class_folders(paths: Paths, tmp_path: Path, tiny_archive: Path):
    folder = tmp_path / "PetImages"
    with zipfile.ZipFile(tiny_archive) as outer:
        outer.extract("train.zip", tmp_path)
    with zipfile.ZipFile(tmp_path / "train.zip") as train:
        for name in train.namelist()[:6]:
            label, index, _ = Path(name).name.split(".")
            target = folder / label.capitalize() / f"{index}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(train.read(name))
    result = download.run(tiny_params(download={"source": "local", "path": str(folder)}), paths)
    assert result.counts == {"cat": 3, "dog": 3}


def test_symlink_in_a_source_folder_is_refused(paths: Paths, tmp_path: Path):
    folder = tmp_path / "photos" / "cats"
    folder.mkdir(parents=True)
    (folder / "1.jpg").write_bytes(b"x")
    (folder / "2.jpg").symlink_to("/etc/hostname")
    with pytest.raises(StageError, match=r"cats/2.jpg: refusing a symlink"):
        download.run(tiny_params(download={"source": "local", "path": str(folder.parent)}), paths)
    assert not paths.raw.exists()


def test_url_source_streams_from_a_local_server(paths: Paths, tiny_archive: Path):
    handler = flaky(tiny_archive, cuts=0)
    with local_server(handler) as base:
        params = tiny_params(download={"source": "url", "url": f"{base}/dogs-vs-cats.zip",
                                       "sha256": sha256_file(tiny_archive)})
        result = download.run(params, paths)
    assert result.counts == {"cat": 12, "dog": 12} and not result.synthetic
    assert result.sha256 == sha256_file(tiny_archive) and handler.ranges == [None]


def test_cut_off_download_resumes_and_is_verified(paths: Paths, tiny_archive: Path):
    assert tiny_archive.stat().st_size > 600_000  # so a cut leaves a partial file well past 0
    handler = flaky(tiny_archive, cuts=2)
    with local_server(handler) as base:
        params = tiny_params(download={"source": "url", "url": f"{base}/dogs-vs-cats.zip",
                                       "sha256": sha256_file(tiny_archive)})
        result = download.run(params, paths)
    assert result.counts == {"cat": 12, "dog": 12}
    # Two cut-offs, each retried with a Range request from the bytes the partial file holds.
    assert len(handler.ranges) == 3 and handler.ranges[0] is None
    assert all(r and int(r.split("=")[1].split("-")[0]) > 0 for r in handler.ranges[1:]), handler.ranges
    assert [p.name for p in paths.downloads.iterdir()] == [Path(result.archive).name]  # no partials


def test_download_that_never_completes_fails_cleanly(paths: Paths, tiny_archive: Path):
    with local_server(flaky(tiny_archive, cuts=99)) as base:
        params = tiny_params(download={"source": "url", "url": f"{base}/dogs-vs-cats.zip"})
        failed = r"download from http://127\.0\.0\.1:\d+/dogs-vs-cats.zip failed"
        with pytest.raises(StageError, match=failed):
            download.run(params, paths)
    assert not paths.raw.exists()


def test_sha256_mismatch_names_both_hashes_and_writes_nothing(paths: Paths, tiny_archive: Path):
    wrong = "0" * 64
    params = tiny_params(download={"source": "local", "path": str(tiny_archive), "sha256": wrong})
    with pytest.raises(StageError, match=f"expected {wrong}, got {sha256_file(tiny_archive)}"):
        download.run(params, paths)
    assert not paths.raw.exists()


def test_missing_local_path_is_named(paths: Paths, tmp_path: Path):
    params = tiny_params(download={"source": "local", "path": str(tmp_path / "gone.zip")})
    with pytest.raises(StageError, match="download.path: .*gone.zip does not exist"):
        download.run(params, paths)


@pytest.mark.parametrize("entry", ["../evil.jpg", "/etc/cat.1.jpg", "train/../../cat.2.jpg"])
def test_unsafe_entries_are_refused_by_name(paths: Paths, tmp_path: Path, entry: str):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("train/cat.0.jpg", b"x")
        zf.writestr(entry, b"x")
    params = tiny_params(download={"source": "local", "path": str(bad)})
    with pytest.raises(StageError, match=f"unsafe entry '{entry}'"):
        download.run(params, paths)
    assert not paths.raw.exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [bad]  # nothing written anywhere


def test_symlink_entry_is_refused(paths: Paths, tmp_path: Path):
    bad = zip_with(tmp_path / "link.zip", symlink_entry("train/dog.1.jpg"), b"/etc/passwd")
    with pytest.raises(StageError, match="refusing symlink entry 'train/dog.1.jpg'"):
        download.run(tiny_params(download={"source": "local", "path": str(bad)}), paths)
    assert not paths.raw.exists()


def test_zip_bomb_is_refused_by_ratio_and_by_total_size(paths: Paths, tmp_path: Path, monkeypatch):
    zeros = b"\0" * (20 << 20)  # 20 MiB of zeros deflate to ~20 KiB
    bad = zip_with(tmp_path / "bomb.zip", deflated("train/dog.2.jpg"), zeros)
    with pytest.raises(StageError, match=r"refusing entry 'train/dog.2.jpg': compression ratio \d+"):
        download.run(tiny_params(download={"source": "local", "path": str(bad)}), paths)
    monkeypatch.setattr(extract, "MAX_RATIO", 10**6)
    monkeypatch.setattr(extract, "MAX_TOTAL_BYTES", 10 << 20)
    with pytest.raises(StageError, match="bomb.zip: refusing archive: it unpacks to more than"):
        download.run(tiny_params(download={"source": "local", "path": str(bad)}), paths)
    assert not paths.raw.exists()


def test_truncated_archive_is_refused_and_old_raw_kept(paths: Paths, tmp_path: Path, tiny_archive: Path):
    download.run(tiny_params(download={"source": "local", "path": str(tiny_archive)}), paths)
    before = _raw_names(paths)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(tiny_archive.read_bytes()[: tiny_archive.stat().st_size // 2])
    with pytest.raises(StageError, match="cut.zip: corrupt or truncated"):
        download.run(tiny_params(download={"source": "local", "path": str(cut)}), paths)
    assert _raw_names(paths) == before  # the last good data/raw survives intact
    assert not [p for p in paths.data.iterdir() if p.name.startswith(".raw")]


def test_classify_names():
    assert extract.classify("train/cat.12.jpg") == ("cat", 12)
    assert extract.classify("PetImages/Dog/7.jpg") == ("dog", 7)
    assert extract.classify("cats/3.jpeg") == ("cat", 3)
    assert extract.classify("test1/5.jpg") is None
    assert extract.classify("sampleSubmission.csv") is None
