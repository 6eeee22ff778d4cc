"""Download: every source lands in one raw layout; bad archives are refused, naming the entry."""
from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from tasks import download, extract
from tasks.common import StageError, sha256_file
from tasks.paths import Paths

from .conftest import tiny_params


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


def test_url_source_goes_through_gdown_to_a_local_server(paths: Paths, tiny_archive: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tiny_archive.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{tiny_archive.name}"
        params = tiny_params(download={"source": "url", "url": url,
                                       "sha256": sha256_file(tiny_archive)})
        result = download.run(params, paths)
    finally:
        server.shutdown()
        thread.join(5)
    assert result.counts == {"cat": 12, "dog": 12} and not result.synthetic


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
