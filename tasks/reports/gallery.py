"""The gallery of the test images the model got most confidently wrong, as one PNG."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tasks.core.paths import LABELS

THUMB = 160
CAPTION = 30


def misclassified(files: list[Path], y_true: np.ndarray, p_dog: np.ndarray, limit: int = 16
                  ) -> list[tuple[Path, str, float]]:
    """(file, true label, p(dog)) of the wrong predictions, most confident first."""
    wrong = np.flatnonzero((p_dog >= 0.5) != (y_true == 1))
    confidence = np.abs(p_dog[wrong] - 0.5)
    return [(files[i], LABELS[y_true[i]], float(p_dog[i])) for i in wrong[np.argsort(-confidence)][:limit]]


def render(items: list[tuple[Path, str, float]], columns: int = 4) -> bytes:
    """A PNG grid of thumbnails captioned with the true label and p(dog)."""
    rows = max(1, -(-len(items) // columns))
    sheet = Image.new("RGB", (columns * THUMB, rows * (THUMB + CAPTION)), "white")
    draw = ImageDraw.Draw(sheet)
    if not items:
        draw.text((10, THUMB // 2), "no misclassified test images", fill="black")
    for k, (path, truth, p) in enumerate(items):
        x, y = (k % columns) * THUMB, (k // columns) * (THUMB + CAPTION)
        with Image.open(path) as img:
            thumb = img.convert("RGB")
            thumb.thumbnail((THUMB - 8, THUMB - 8))
        sheet.paste(thumb, (x + (THUMB - thumb.width) // 2, y + (THUMB - thumb.height) // 2))
        draw.text((x + 6, y + THUMB + 2), f"true {truth}, p(dog) {p:.2f}", fill="firebrick")
        draw.text((x + 6, y + THUMB + 15), path.name, fill="gray")
    buf = io.BytesIO()
    # A 256-colour palette: the gallery is committed (dvc plots diff needs every rev's copy), and
    # this makes it about 5x smaller than full RGB (at most slight banding in smooth gradients).
    sheet.quantize(256).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
