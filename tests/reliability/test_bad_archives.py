"""Every bad archive the unit tests refuse, now end to end: `python -m tasks.download` with
`download.source: local` on a project whose data/raw is already good. Each must exit 1 naming
the entry (or the archive), keep data/raw as it was, leave no temp files, and write nothing
anywhere outside data/."""
from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from ..conftest import tiny_params
from ..helpers.badfiles import deflated, forge_sizes, symlink_entry
from .harness import Project

pytestmark = pytest.mark.reliability("archive")
Images = dict[str, bytes]


def flat(path: Path, images: Images, *extra: tuple[zipfile.ZipInfo | str, bytes]) -> Path:
    """A stored zip of train/<name> entries (Kaggle's train.zip), then `extra` entries."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in images.items():
            zf.writestr(f"train/{name}", data)
        for info, data in extra:
            zf.writestr(info, data)
    return path


def nested(path: Path, images: Images, *extra) -> Path:
    """Kaggle's dogs-vs-cats.zip: the flat zip (with `extra`) as train.zip inside another."""
    inner = io.BytesIO()
    flat(inner, images, *extra)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.zip", inner.getvalue())
    return path


def tar_gz(path: Path, images: Images) -> Path:
    """The photos as a .tar.gz: a common archive, but not one the stage reads."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in images.items():
            info = tarfile.TarInfo(f"train/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def bombs_across_levels(path: Path, images: Images) -> Path:
    """The photos, then three nested zips that each declare 3.5 GiB (an unread, unlabelled
    entry, forged): each level is under the 8 GiB cap, the three together are not."""
    parts = []
    for n in range(3):
        forge_sizes(flat(path, {}, (f"junk{n}.bin", bytes(1024))), 7 << 29, 20 << 20)
        parts.append((f"part{n}.zip", path.read_bytes()))
    return flat(path, images, *parts)


def bad_crc(path: Path, images: Images) -> Path:
    flat(path, images)
    data = bytearray(path.read_bytes())
    data[30 + len("train/cat.0.jpg") + 100] ^= 0xFF  # inside the first entry's stored bytes
    path.write_bytes(bytes(data))
    return path


JPEG = b"\xff\xd8 not really"
CASES = {  # case: (archive builder(path, images, tiny_archive), sha256 pin, expected message)
    "zip-slip ../": (lambda p, i, t: flat(p, i, ("../cat.100.jpg", JPEG)), None,
                     "refusing unsafe entry '../cat.100.jpg'"),
    "zip-slip in the nested zip": (lambda p, i, t: nested(p, i, ("../../dog.100.jpg", JPEG)), None,
                                   "!train.zip: refusing unsafe entry '../../dog.100.jpg'"),
    "absolute path": (lambda p, i, t: flat(p, i, ("/tmp/cat.100.jpg", JPEG)), None,
                      "refusing unsafe entry '/tmp/cat.100.jpg'"),
    "symlink entry": (lambda p, i, t: flat(p, i, (symlink_entry("train/dog.100.jpg"), b"/etc/passwd")),
                      None, "refusing symlink entry 'train/dog.100.jpg'"),
    "zip bomb by ratio": (lambda p, i, t: flat(p, i, (deflated("train/dog.100.jpg"), bytes(20 << 20))),
                          None, "refusing entry 'train/dog.100.jpg': compression ratio"),
    "zip bomb by total size": (lambda p, i, t: forge_sizes(flat(p, i), 1 << 30, 6 << 20), None,
                               "refusing archive: it unpacks to more than 8 GiB"),
    "truncated": (lambda p, i, t: p.write_bytes(t.read_bytes()[: t.stat().st_size // 2]) and p,
                  None, "corrupt or truncated archive"),
    "corrupt (bad CRC)": (lambda p, i, t: bad_crc(p, i), None, "Bad CRC-32 for file 'train/cat.0.jpg'"),
    "wrong sha256": (lambda p, i, t: p.write_bytes(t.read_bytes()) and p, "0" * 64,
                     f"sha256 mismatch: expected {'0' * 64}"),
    "one class only": (lambda p, i, t: flat(p, {k: v for k, v in i.items() if k.startswith("cat")}),
                       None, "found {'cat': 12, 'dog': 0} labelled images"),
    "two entries, one name": (lambda p, i, t: flat(p, i, ("cats/1.jpg", i["cat.1.jpg"])), None,
                              "both map to cat.1.jpg (one label and index, two files)"),
    "duplicate index cat.00000.jpg": (lambda p, i, t: flat(p, i, ("train/cat.00000.jpg", i["cat.0.jpg"])),
                                      None, "both map to cat.0.jpg (one label and index, two files)"),
    "a 300-digit index": (lambda p, i, t: flat(p, i, (f"train/dog.{'9' * 300}.jpg", JPEG)), None,
                          "its index has 300 digits (at most 9)"),
    "a 5000-digit index": (lambda p, i, t: flat(p, i, (f"train/dog.{'9' * 5000}.jpg", JPEG)), None,
                           "its index has 5000 digits (at most 9)"),
    "tar.gz as download.path": (lambda p, i, t: tar_gz(p, i), None,
                                "not a zip archive: it is a gzip file (.tar.gz?): tar.gz is not supported, "
                                "unpack it and point download.path at the folder"),
    "a photo as download.path": (lambda p, i, t: p.write_bytes(i["cat.0.jpg"]) and p, None,
                                 "not a zip archive: it is a JPEG photo"),
    "zip bomb by total size across nested zips": (lambda p, i, t: bombs_across_levels(p, i), None,
                                                  "!part2.zip: refusing archive: it unpacks to more than 8 "
                                                  "GiB, counting what the archives around it hold"),
}
CORRUPT = {"truncated", "corrupt (bad CRC)"}  # only these are damaged archives


def _outside_data(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` but not in the project's data/, with its size and mtime."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and "data" not in p.relative_to(root).parts[1:2]}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_archive_is_refused_by_name_and_nothing_is_lost(project: Project, reference: Project,
                                                            sample_images, tiny_archive, tmp_path,
                                                            case):
    build, sha, message = CASES[case]
    archive = build(tmp_path / "bad.zip", sample_images, tiny_archive)
    project.write_params(tiny_params(download={"source": "local", "path": str(archive), "sha256": sha}))
    before, data_before = _outside_data(tmp_path), sorted(p.name for p in project.paths.data.iterdir())
    done = project.stage("download")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: download: {archive}") and message in error, done.stderr
    assert "Traceback" not in done.stderr
    assert ("corrupt or truncated" in error) == (case in CORRUPT), error  # what is actually wrong
    assert project.digest("data/raw") == reference.digest("data/raw")
    assert project.leftovers() == []
    assert _outside_data(tmp_path) == before  # not one file written or touched outside data/
    assert sorted(p.name for p in project.paths.data.iterdir()) == data_before
