"""tasks.contract.facts: one full decode per image reports its real format, mode, size and any error."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tasks.contract.facts import gather, inspect
from tasks.core.errors import StageError
from tasks.core.paths import Paths

from ..helpers.badfiles import claims_size

CAP = 40_000_000


@pytest.fixture(autouse=True)
def keep_pillows_bomb_guard(monkeypatch):
    """inspect() switches Pillow's global guard off; put it back for the rest of the session."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


def jpeg(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.linear_gradient("L").convert(mode).resize(size).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_good_jpeg_decodes_with_its_facts(tmp_path: Path):
    facts = inspect((write(tmp_path / "cat.1.jpg", jpeg()), CAP))
    assert facts == {"real_format": "JPEG", "mode": "RGB", "width": 64, "height": 48, "decode_error": None}
    gray = inspect((write(tmp_path / "cat.2.jpg", jpeg("L")), CAP))
    assert (gray["mode"], gray["decode_error"]) == ("L", None)


def test_a_truncated_jpeg_fails_only_on_a_full_decode(tmp_path: Path):
    data = jpeg(size=(300, 200))
    facts = inspect((write(tmp_path / "cat.1.jpg", data[: len(data) // 2]), CAP))
    assert (facts["real_format"], facts["width"], facts["height"]) == ("JPEG", 300, 200)  # header intact
    assert facts["decode_error"].startswith("OSError: ") and "truncated" in facts["decode_error"]


def test_a_png_named_jpg_reports_its_real_format(tmp_path: Path):
    path = tmp_path / "dog.3.jpg"
    Image.new("RGB", (30, 20), 128).save(path, format="PNG")
    facts = inspect((path, CAP))
    assert (facts["real_format"], facts["mode"], facts["decode_error"]) == ("PNG", "RGB", None)


def test_a_cmyk_jpeg_reports_its_mode(tmp_path: Path):
    facts = inspect((write(tmp_path / "cat.4.jpg", jpeg("CMYK")), CAP))
    assert (facts["real_format"], facts["mode"], facts["decode_error"]) == ("JPEG", "CMYK", None)


def test_an_image_over_the_pixel_cap_is_reported_without_decoding(tmp_path: Path):
    path = write(tmp_path / "cat.5.jpg", jpeg(size=(100, 50)))
    assert inspect((path, 5000))["decode_error"] is None  # exactly at the cap: fine
    facts = inspect((path, 4999))
    assert facts["decode_error"] == "100x50 exceeds the pixel cap" and facts["width"] == 100
    claims_size(20_000)(path, jpeg())  # a bomb's header: 400 Mpx claimed in a few kB
    bomb = inspect((path, CAP))
    assert bomb["decode_error"] == "20000x20000 exceeds the pixel cap" and bomb["real_format"] == "JPEG"


@pytest.mark.parametrize("data", [b"", b"hello, I am text"])
def test_a_file_that_is_no_image_is_a_finding_not_a_crash(tmp_path: Path, data: bytes):
    facts = inspect((write(tmp_path / "cat.6.jpg", data), CAP))
    assert facts["real_format"] == "" and (facts["width"], facts["height"]) == (0, 0)
    assert facts["decode_error"].startswith("UnidentifiedImageError: ")
    assert "mode" not in facts  # the manifest's mode column stands (see gather)
    missing = inspect((tmp_path / "absent.jpg", CAP))
    assert missing["decode_error"].startswith("FileNotFoundError: ")


def test_gather_joins_the_manifest_with_the_facts(split_project: Paths):
    columns, rows = gather(split_project, CAP)
    assert columns[:3] == ["split", "label", "path"] and len(rows) == 2 * (4 + 2 + 4)
    for row in rows:
        assert row["real_format"] == "JPEG" and row["decode_error"] is None
        assert row["name_label"] == row["label"] and int(row["width"]) > 0


def test_gather_refuses_a_missing_or_empty_manifest(paths: Paths):
    with pytest.raises(StageError, match="manifest.csv: not found; run the split stage first"):
        gather(paths, CAP)
    paths.manifest.parent.mkdir(parents=True)
    paths.manifest.write_text("split,label,path\n")
    with pytest.raises(StageError, match="manifest.csv: lists no images; rerun the split stage"):
        gather(paths, CAP)
