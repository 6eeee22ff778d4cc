"""tasks.core.io and errors.writing: outputs appear whole or not at all, and refused writes name the file."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest

from tasks.core import io
from tasks.core.errors import StageError, writing


def _raise(code: int):
    raise OSError(code, os.strerror(code))


def siblings(path: Path) -> list[str]:
    """Hidden temp or old copies left beside `path`."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith("."))


def test_atomic_dir_replaces_the_old_output_on_success(tmp_path: Path):
    final = tmp_path / "out"
    (final / "sub").mkdir(parents=True)
    (final / "sub" / "old.txt").write_text("old")
    with io.atomic_dir(final) as tmp:
        assert tmp != final and tmp.parent == final.parent and not any(tmp.iterdir())
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new.txt"] and (final / "new.txt").read_text() == "new"
    assert siblings(final) == []


def test_atomic_dir_leaves_the_old_output_untouched_when_the_block_fails(tmp_path: Path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(ValueError, match="boom"), io.atomic_dir(final) as tmp:
        (tmp / "half.txt").write_text("half")
        raise ValueError("boom")
    assert [p.name for p in final.iterdir()] == ["old.txt"] and (final / "old.txt").read_text() == "old"
    assert siblings(final) == []
    with pytest.raises(StageError, match=re.escape(f"cannot write {tmp_path / 'new'}: No space")), \
            io.atomic_dir(tmp_path / "new"):
        _raise(errno.ENOSPC)  # a full disk is reported naming the output
    assert not (tmp_path / "new").exists() and siblings(final) == []


def test_atomic_dir_sweeps_leftovers_of_a_killed_run_only(tmp_path: Path):
    final = tmp_path / "out"
    (tmp_path / ".out.tmp-a1" / "x").mkdir(parents=True)
    (tmp_path / ".out.old-b2").mkdir()
    (tmp_path / ".out.tmp-c3").write_text("a temp file")
    (tmp_path / ".out.keep-me").write_text("not ours")
    (tmp_path / ".other.tmp-d4").mkdir()
    with io.atomic_dir(final):
        pass
    assert siblings(final) == [".other.tmp-d4", ".out.keep-me"]


def test_a_failed_swap_puts_the_old_output_back(tmp_path: Path, monkeypatch):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    real_replace, calls = os.replace, []

    def second_rename_fails(src, dst):  # old aside works, new in fails
        calls.append(dst)
        return _raise(errno.EXDEV) if len(calls) == 2 else real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="cross-device"), io.atomic_dir(final) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in final.iterdir()] == ["old.txt"] and len(calls) == 3


def test_outputs_honour_the_umask(tmp_path: Path):
    old = os.umask(0o027)
    try:
        path = io.atomic_write_bytes(tmp_path / "a" / "f.bin", b"data")
        with io.atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert path.read_bytes() == b"data" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o750


def test_atomic_write_bytes_is_all_or_nothing(tmp_path: Path, monkeypatch):
    path = tmp_path / "f.json"
    path.write_bytes(b"old")
    (tmp_path / ".f.json.tmp-killed").write_bytes(b"leftover")  # swept
    real_fdopen = os.fdopen

    def full_disk(fd, mode):  # the first 2 bytes land, then the disk is full
        fh = real_fdopen(fd, mode)
        fh.write = lambda data: (fh.raw.write(data[:2]), _raise(errno.ENOSPC))
        return fh

    monkeypatch.setattr(io.os, "fdopen", full_disk)
    with pytest.raises(StageError, match=re.escape(f"cannot write {path}: No space left")):
        io.atomic_write_bytes(path, b"new data")
    assert path.read_bytes() == b"old" and siblings(path) == []
    monkeypatch.undo()
    monkeypatch.setattr(io.os, "replace", lambda *a: _raise(errno.EIO))
    with pytest.raises(OSError, match="Input/output error"):
        io.atomic_write_bytes(path, b"new data")
    assert path.read_bytes() == b"old" and siblings(path) == []


def test_read_json_round_trips_what_write_json_wrote_with_sorted_keys(tmp_path: Path):
    obj = {"b": 1, "a": {"d": [1, 2], "c": None}}
    path = io.write_json(tmp_path / "m" / "x.json", obj)
    text = path.read_text()
    assert text == json.dumps(obj, indent=2, sort_keys=True) + "\n"
    assert text.index('"a"') < text.index('"b"') and text.index('"c"') < text.index('"d"')
    assert io.read_json(path, "evaluate") == obj
    assert io.sha256_file(path, chunk=7) == hashlib.sha256(text.encode()).hexdigest()  # across chunks


def test_read_json_names_the_file_and_the_stage(tmp_path: Path):
    missing, bad = tmp_path / "no.json", tmp_path / "bad.json"
    with pytest.raises(StageError, match=re.escape(f"{missing}: not found; run the split stage first")):
        io.read_json(missing, "split")
    bad.write_text('{"a": ')
    with pytest.raises(StageError, match=re.escape(f"{bad}: not valid JSON (") + ".*rerun the train stage"):
        io.read_json(bad, "train")


def test_link_or_copy_hard_links_and_falls_back_to_a_copy(tmp_path: Path, monkeypatch):
    src = tmp_path / "src.jpg"
    src.write_bytes(b"jpeg")
    io.link_or_copy(src, linked := tmp_path / "a" / "b" / "linked.jpg")
    assert linked.stat().st_ino == src.stat().st_ino and src.stat().st_nlink == 2

    monkeypatch.setattr(io.os, "link", lambda *a: _raise(errno.EXDEV))
    io.link_or_copy(src, copied := tmp_path / "c" / "copied.jpg")
    assert copied.read_bytes() == b"jpeg" and copied.stat().st_ino != src.stat().st_ino
    assert src.stat().st_nlink == 2  # the source is untouched


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS])
def test_writing_turns_a_refused_write_into_a_stage_error_naming_the_path(tmp_path: Path, code):
    with pytest.raises(StageError) as caught, writing(tmp_path / "model.keras"):
        raise OSError(code, os.strerror(code), str(tmp_path / "tmpfile"))
    assert str(caught.value) == f"cannot write {tmp_path / 'model.keras'}: {os.strerror(code)} " \
                                f"(writing {tmp_path / 'tmpfile'})"
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.parametrize("err", [PermissionError(errno.EACCES, "denied"), FileNotFoundError(2, "gone"),
                                 ValueError("not an OSError")])
def test_writing_lets_other_errors_through(tmp_path: Path, err):
    with pytest.raises(type(err)) as caught, writing(tmp_path / "x"):
        raise err
    assert caught.value is err
