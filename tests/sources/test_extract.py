"""tasks.sources.extract: labelled names map to one flat layout; unsafe or corrupt archives are refused."""
from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest

from tasks.core.errors import StageError
from tasks.sources.extract import CorruptArchive, Found, classify, copy_folder, extract_zip

from ..helpers.badfiles import symlink_entry, zip_with


@pytest.mark.parametrize("member, key", [
    ("train/cat.12.jpg", ("cat", 12)),
    ("dog.7.JPEG", ("dog", 7)),
    ("train\\Cat.3.jpg", ("cat", 3)),
    ("cats/5.jpg", ("cat", 5)),
    ("PetImages/Dog/12.jpg", ("dog", 12)),
    ("dogs/0.jpeg", ("dog", 0)),
    ("train/cat.00000.jpg", ("cat", 0)),  # leading zeros: the same image as cat.0.jpg
    ("cats/000000000000123456789.jpg", ("cat", 123456789)),  # 9 significant digits
])
def test_classify_maps_kaggle_names_and_class_folders(member: str, key: tuple[str, int]):
    assert classify(member) == key


@pytest.mark.parametrize("member", [
    "", "sampleSubmission.csv", "test1/5.jpg", "train/cat.jpg", "train/bird.1.jpg", "cats/x.jpg",
    "train/cat.1.png", "__MACOSX/train/._cat.1.jpg", "PetImages/Dog/Thumbs.db",
    "train/cat.\u0661\u0662\u0663.jpg", "cats/\uff11.jpg", "train/cat 7.jpg", ".DS_Store",
])
def test_classify_returns_none_for_files_without_a_label(member: str):
    assert classify(member) is None


def make_zip(path: Path, entries: dict[str | zipfile.ZipInfo, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_extract_zip_flattens_labelled_images_and_recurses_into_nested_zips(tmp_path: Path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("train/dog.9.jpg", b"dog9")
    archive = make_zip(tmp_path / "a.zip", {
        "train/": b"", "train/cat.1.jpg": b"cat1", "PetImages/Dog/2.jpg": b"dog2",
        "readme.txt": b"junk", "train.zip": inner.getvalue()})
    out, found = tmp_path / "raw", Found()
    out.mkdir()
    extract_zip(archive, out, found, "a.zip")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        "cat.1.jpg": b"cat1", "dog.2.jpg": b"dog2", "dog.9.jpg": b"dog9"}  # nested temp zip gone
    assert found.images == {("cat", 1): "a.zip!train/cat.1.jpg", ("dog", 2): "a.zip!PetImages/Dog/2.jpg",
                            ("dog", 9): "a.zip!train.zip!train/dog.9.jpg"}
    assert found.skipped == ["a.zip!readme.txt"]  # counted and reported, not silently dropped


UNSAFE = [
    ("../evil/cat.1.jpg", "refusing unsafe entry"),
    ("train/../../cat.2.jpg", "refusing unsafe entry"),
    ("/etc/cat.3.jpg", "refusing unsafe entry"),
    ("C:/Windows/cat.4.jpg", "refusing unsafe entry"),
    (symlink_entry("train/cat.5.jpg"), "refusing symlink entry"),
]


def refuse(tmp_path: Path, entry) -> tuple[StageError, str]:
    """Extract a zip holding `entry`; the error raised, and the entry's name."""
    archive = zip_with(tmp_path / "bad.zip", entry, b"/etc/passwd")
    (tmp_path / "raw").mkdir()
    with pytest.raises(StageError) as caught:
        extract_zip(archive, tmp_path / "raw", Found(), "bad.zip")
    assert list((tmp_path / "raw").iterdir()) == []  # checked before anything is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "raw"]
    return caught.value, entry.filename if isinstance(entry, zipfile.ZipInfo) else entry


@pytest.mark.parametrize("entry, why", UNSAFE)
def test_extract_zip_refuses_unsafe_entries_by_name_before_writing_anything(tmp_path: Path, entry, why):
    err, name = refuse(tmp_path, entry)
    assert f"bad.zip: {why} {name!r}" in str(err)


@pytest.mark.parametrize("entry, why", UNSAFE[:1] + UNSAFE[-1:])
def test_a_refused_entry_is_not_reported_as_a_corrupt_archive(tmp_path: Path, entry, why):
    err, name = refuse(tmp_path, entry)
    assert not isinstance(err, CorruptArchive) and str(err).startswith(f"bad.zip: {why} {name!r}")


def test_extract_zip_refuses_a_zip_bomb_entry(tmp_path: Path):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/cat.1.jpg", bytes(1 << 20))
    (tmp_path / "raw").mkdir()
    with pytest.raises(StageError, match=r"bomb.zip: refusing entry 'train/cat.1.jpg': compression ratio"):
        extract_zip(tmp_path / "bomb.zip", tmp_path / "raw", Found(), "bomb.zip")


def test_two_entries_for_the_same_image_are_refused_naming_both(tmp_path: Path):
    archive = make_zip(tmp_path / "a.zip", {"train/cat.1.jpg": b"a", "cats/1.jpg": b"b"})
    (tmp_path / "raw").mkdir()
    with pytest.raises(StageError, match=re.escape("a.zip!cats/1.jpg and a.zip!train/cat.1.jpg both map "
                                                   "to cat.1.jpg")):
        extract_zip(archive, tmp_path / "raw", Found(), "a.zip")
    # the same label and index in two sources (the shared `found`) is refused too
    found = Found(images={("dog", 3): "other.zip!dog.3.jpg"})
    with pytest.raises(StageError, match="both map to dog.3.jpg"):
        extract_zip(make_zip(tmp_path / "b.zip", {"dogs/3.jpg": b"x"}), tmp_path / "raw", found, "b.zip")


def test_a_corrupt_archive_is_a_corrupt_archive_error_naming_it(tmp_path: Path):
    good = make_zip(tmp_path / "good.zip", {"train/cat.1.jpg": b"x" * 200, "train/cat.2.jpg": b"y" * 200})
    data = good.read_bytes()
    (tmp_path / "truncated.zip").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.zip").write_bytes(b"this is not a zip")
    (tmp_path / "crc.zip").write_bytes(data.replace(b"y" * 200, b"z" * 200))  # stored: bad CRC
    (tmp_path / "raw").mkdir()
    for name in ("truncated.zip", "text.zip", "crc.zip"):
        with pytest.raises(CorruptArchive, match=rf"^{re.escape(name)}: corrupt or truncated archive"):
            extract_zip(tmp_path / name, tmp_path / "raw", Found(), name)
    assert issubclass(CorruptArchive, StageError)


def test_copy_folder_copies_labelled_images(tmp_path: Path):
    src = tmp_path / "src"
    files = {"cats/1.jpg": b"c1", "Dog/4.jpg": b"d4", "train/dog.5.jpg": b"d5", "notes.txt": b""}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out, found = tmp_path / "raw", Found()
    out.mkdir()
    copy_folder(src, out, found)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        "cat.1.jpg": b"c1", "dog.4.jpg": b"d4", "dog.5.jpg": b"d5"}
    assert found.images[("cat", 1)] == str(src / "cats" / "1.jpg")
    assert found.skipped == [str(src / "notes.txt")]


@pytest.mark.parametrize("target", ["file", "dir"])
def test_copy_folder_refuses_a_symlink_naming_it(tmp_path: Path, target: str):
    src, outside = tmp_path / "src", tmp_path / "outside"
    (src / "cats").mkdir(parents=True)
    outside.mkdir()
    (outside / "cat.9.jpg").write_bytes(b"secret")
    link = src / "cats" / "9.jpg" if target == "file" else src / "dogs"
    link.symlink_to(outside / "cat.9.jpg" if target == "file" else outside)
    (tmp_path / "raw").mkdir()
    with pytest.raises(StageError, match=re.escape(f"{link}: refusing a symlink")):
        copy_folder(src, tmp_path / "raw", Found())
    assert list((tmp_path / "raw").iterdir()) == []


@pytest.mark.parametrize("digits", [10, 300, 5000])
def test_an_index_too_long_to_be_one_is_refused_naming_the_entry(tmp_path: Path, digits: int):
    name = f"train/cat.{'7' * digits}.jpg"
    with pytest.raises(StageError, match=rf"^a\.zip: refusing entry 'train/cat\.7+.*': its index has "
                                         rf"{digits} digits \(at most 9\)"):
        classify(name, "a.zip")
    err, _ = refuse(tmp_path, name)
    assert f"its index has {digits} digits" in str(err) and not isinstance(err, CorruptArchive)


@pytest.mark.parametrize("head, what", [
    (b"\x1f\x8b\x08\x00" + bytes(600), "not a zip archive: it is a gzip file (.tar.gz?): tar.gz is not "
                                       "supported, unpack it and point download.path at the folder"),
    (b"\xff\xd8\xff\xe0" + bytes(600), "not a zip archive: it is a JPEG photo"),
    (bytes(257) + b"ustar\x0000" + bytes(300), "not a zip archive: it is a tar file"),
])
def test_a_file_that_is_no_zip_says_what_it_is(tmp_path: Path, head: bytes, what: str):
    (tmp_path / "x.zip").write_bytes(head)
    with pytest.raises(StageError, match=re.escape(f"x.zip: {what}")) as caught:
        extract_zip(tmp_path / "x.zip", tmp_path, Found(), "x.zip")
    assert not isinstance(caught.value, CorruptArchive)  # a fresh copy would be the same file


def test_the_size_cap_is_one_budget_across_nested_zips(tmp_path: Path, monkeypatch):
    """Three nested zips that each unpack to 5 MB, in an outer zip of 0.5 MB, under an 8 MB
    cap: each level is under it, all of them are not, so extraction stops at the second."""
    monkeypatch.setattr("tasks.sources.extract.MAX_TOTAL_BYTES", 8 << 20)
    sparse = os.urandom(5 << 20).translate(bytes(250) + bytes([1] * 6))
    entries = {}
    for n in range(3):
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"train/cat.{n}.jpg", sparse)  # deflates ~35x: under the ratio cap
        entries[f"part{n}.zip"] = inner.getvalue()
    archive = make_zip(tmp_path / "outer.zip", entries)
    (tmp_path / "raw").mkdir()
    with pytest.raises(StageError, match=r"outer\.zip!part1\.zip: refusing archive: it unpacks to more "
                                         r"than 0\.0078125 GiB, counting what the archives around it hold"):
        extract_zip(archive, tmp_path / "raw", Found(), "outer.zip")
    assert [p.name for p in (tmp_path / "raw").iterdir() if p.suffix == ".jpg"] == ["cat.0.jpg"]
