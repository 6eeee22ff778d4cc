"""The memory-mapped array store: written in rows, checked chunk by chunk, published atomically."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.runtime import store


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(store, "CHUNK", 1000)  # many chunks from a small array
    monkeypatch.setattr(store, "PIECE", 333)  # pieces that straddle chunk boundaries


def _write(path, x):
    with store.Writer(path, x.shape) as out:
        for row in x:
            out.append(row)


def test_written_rows_reopen_memory_mapped_and_equal(tmp_path, small_chunks):
    x = np.random.default_rng(0).integers(0, 256, (9, 17, 13, 3), dtype=np.uint8)
    _write(tmp_path / "a.npy", x)
    got = store.open_checked(tmp_path / "a.npy", x.shape)
    assert isinstance(got, np.memmap) and np.array_equal(got, x)
    meta = store.sidecar(tmp_path / "a.npy").read_text()
    assert '"chunk_bytes": 1000' in meta and meta.count('"', meta.index("sha256")) >= 2 * 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy"]  # no temp left


@pytest.mark.parametrize("at", [0, 999, 1000, 5000, -1])
def test_any_flipped_byte_is_caught(tmp_path, small_chunks, at):
    x = np.arange(2 * 40 * 40 * 3, dtype=np.uint8).reshape(2, 40, 40, 3)
    _write(tmp_path / "a.npy", x)
    data = bytearray((tmp_path / "a.npy").read_bytes())
    data[at] ^= 0x10
    (tmp_path / "a.npy").write_bytes(bytes(data))
    with pytest.raises(store.Damaged, match="fails its sha256|header|Error"):
        store.open_checked(tmp_path / "a.npy", x.shape)


def test_a_cut_file_and_a_wrong_shape_are_refused(tmp_path):
    x = np.zeros((3, 4, 4, 3), np.uint8)
    _write(tmp_path / "a.npy", x)
    with pytest.raises(store.Damaged, match=r"holds uint8 \(3, 4, 4, 3\), expected uint8 \(4, 4, 4, 3\)"):
        store.open_checked(tmp_path / "a.npy", (4, 4, 4, 3))
    (tmp_path / "a.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-1])
    with pytest.raises(store.Damaged, match="cut short"):
        store.open_checked(tmp_path / "a.npy", x.shape)


def test_a_failed_write_publishes_nothing_and_leaves_no_temp(tmp_path):
    x = np.zeros((3, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="2 rows written, expected 3"), store.Writer(tmp_path / "a.npy", x.shape) as out:
        out.append(x[0])
        out.append(x[1])
    with pytest.raises(ValueError, match=r"row 0 is float64 \(4, 4, 3\)"), \
            store.Writer(tmp_path / "a.npy", x.shape) as out:
        out.append(np.zeros((4, 4, 3)))
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_temp_is_swept_by_the_next(tmp_path):
    (tmp_path / ".a.npy.tmp-99999").write_bytes(b"half")
    (tmp_path / ".a.json.tmp-99999").write_bytes(b"{")
    _write(tmp_path / "a.npy", np.zeros((1, 2, 2, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy"]
