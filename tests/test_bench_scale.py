"""bench.scale's parts (distinct copies, the RssAnon peak, the flatness ratio) and bench.draft's
comparison on the real photos. Timings themselves are not tested."""
from __future__ import annotations

import hashlib
import io
import sys

import numpy as np
import pytest
from PIL import Image

from bench import draft, scale
from tasks.core.params_file import ParamsError
from tasks.sources.sample import _render_jpeg

from .conftest import SHARED_ZIP


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def test_a_commented_copy_has_the_same_pixels_and_other_bytes():
    jpeg = _render_jpeg(("cat", 0, 0))
    copy = scale.with_comment(jpeg, "copy 1")
    assert copy != jpeg and np.array_equal(_pixels(copy), _pixels(jpeg))
    with pytest.raises(ValueError, match="not a JPEG"):
        scale.with_comment(b"\x89PNG....", "copy 1")


def test_replicate_fills_every_index_with_distinct_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for label in ("cat", "dog"):
        for i in range(2):
            (src / f"{label}.{i}.jpg").write_bytes(_render_jpeg((label, i, 0)))
    scale.replicate(src, tmp_path / "raw", 5)
    names = sorted(p.name for p in (tmp_path / "raw").iterdir())
    assert names == sorted(f"{label}.{i}.jpg" for label in ("cat", "dog") for i in range(5))
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "raw").iterdir()}
    assert len(digests) == 10  # no two identical: validate's duplicate rules stay quiet
    assert np.array_equal(_pixels((tmp_path / "raw" / "cat.4.jpg").read_bytes()),
                          _pixels((src / "cat.0.jpg").read_bytes()))


def test_the_peak_private_memory_of_a_child_is_seen_and_a_failure_raised():
    grow = "import time; b = bytearray(300 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.5)"
    assert 290 <= scale.peak_rss_anon_mb([sys.executable, "-c", grow]) < 400
    with pytest.raises(RuntimeError, match="exited 3"):
        scale.peak_rss_anon_mb([sys.executable, "-c", "raise SystemExit(3)"])


def test_main_adds_the_memory_ratio_of_the_last_size_to_the_first(monkeypatch, capsys):
    def fake_measure(images, root, base_raw, steps, batch, repeats):
        assert (base_raw is None) == (images == 10)  # the first size draws, the next replicate
        return [scale.record(f"scale {images:,}: train peak RssAnon, {steps} steps", 1000 + images, "MB")]

    monkeypatch.setattr(scale, "measure", fake_measure)
    results = scale.main(["--sizes", "10", "40", "--steps", "2", "--no-write"])
    assert results[-1]["name"] == "scale: train peak RssAnon, 40 / 10 images"
    assert results[-1]["value"] == round(1040 / 1010, 4) and results[-1]["target"] == "<= 1.20"
    assert "written" not in capsys.readouterr().out


def test_params_split_each_class_80_10_10():
    params = scale.params_for(25_000)
    assert params.download.sample_per_class == 12_500
    assert (params.split.train, params.split.validation, params.split.test) == (10_000, 1_250, 1_250)


def test_a_size_past_the_sample_sources_cap_is_valid_when_replicated():
    with pytest.raises(ParamsError, match="sample_per_class"):
        scale.params_for(100_000)
    assert scale.params_for(100_000, drawn=False).split.train == 40_000


@pytest.mark.skipif(not SHARED_ZIP.is_file(), reason=f"{SHARED_ZIP} is absent")
def test_draft_stays_near_the_full_decode_on_real_photos():
    got = draft.compare(draft.photos(SHARED_ZIP, 30), 180)
    assert got["photos"] > 20 and got["full_s"] > 0 and got["draft_s"] > 0
    assert got["mean_diff"] < 8 and got["max_diff"] <= 255


def test_draft_needs_a_photo_larger_than_the_target():
    small = io.BytesIO()
    Image.new("RGB", (200, 120)).save(small, format="JPEG")
    with pytest.raises(ValueError, match="no photo larger than 180 px"):
        draft.compare([small.getvalue()], 180)
