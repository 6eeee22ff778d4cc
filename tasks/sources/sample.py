"""The embedded offline data source: a deterministic, synthetic two-class photo set.

It stands in for Kaggle's dogs-vs-cats when the real archive cannot be fetched. The images are
drawn, not photographed, so they say nothing about real-photo accuracy; they exist so that every
stage runs the exact code path it runs on real data, offline and in seconds.

Both classes share one palette, one size distribution and the same background clutter, so colour
or size statistics cannot separate them. Only shape does: cats have pointed upright ears and
whiskers, dogs have hanging ears and a muzzle with a dark nose. Heads vary in scale, position and
tilt, and some backgrounds hold triangles and ovals much like ears, so a model must learn shapes.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from tasks.core.paths import LABELS

# A warm, shared fur palette: overlapping on purpose so colour is no cue to the class.
FUR = np.array([[205, 170, 125], [120, 85, 60], [60, 50, 45], [230, 225, 215], [170, 120, 70],
                [140, 140, 140], [95, 70, 50], [215, 190, 160]], dtype=float)
GRAYSCALE_FRACTION = 0.08


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A two-colour gradient with random clutter, including ear-like shapes as distractors."""
    top, bottom = rng.integers(30, 230, 3), rng.integers(30, 230, 3)
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    column = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(np.broadcast_to(column, (h, w, 3))), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 12))):
        x, y = rng.integers(0, w), rng.integers(0, h)
        r = int(rng.integers(8, max(9, min(w, h) // 4)))
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.ellipse([x - r, y - r // 2, x + r, y + r // 2], fill=_colour(rng))
        elif kind == 1:
            draw.rectangle([x - r, y - r, x + r, y + r], fill=_colour(rng))
        elif kind == 2:
            draw.polygon([(x - r // 2, y), (x + r // 2, y), (x, y - r)], fill=_colour(rng))
        else:
            draw.line([x, y, x + r * 2, y + int(rng.integers(-r, r))], fill=_colour(rng), width=3)
    return img


def _animal(rng: np.random.Generator, label: str, s: int) -> Image.Image:
    """One head on a transparent square layer of side 2*s: the class lives only in its shape."""
    layer = Image.new("RGBA", (2 * s, 2 * s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    fur = tuple(int(c) for c in np.clip(FUR[rng.integers(len(FUR))] + rng.normal(0, 12, 3), 0, 255))
    dark = tuple(int(c * 0.35) for c in fur)
    c, r = s, s // 2
    ry = int(r * rng.uniform(0.85, 1.1))
    if label == "cat":
        spread = rng.uniform(0.45, 0.75)
        for side in (-1, 1):
            bx = c + side * int(r * spread)
            draw.polygon([(bx - r // 3, c - ry // 2), (bx + r // 3, c - ry // 2),
                          (bx + side * int(r * 0.15), c - ry - int(r * rng.uniform(0.45, 0.7)))],
                         fill=fur)
    else:
        for side in (-1, 1):
            ex = c + side * int(r * 0.95)
            draw.ellipse([ex - r // 4, c - ry // 2, ex + r // 4, c + int(ry * rng.uniform(0.8, 1.2))],
                         fill=dark)
    draw.ellipse([c - r, c - ry, c + r, c + ry], fill=fur)
    eye_y, eye_dx, eye_r = c - ry // 5, int(r * 0.38), max(2, r // 8)
    for side in (-1, 1):
        draw.ellipse([c + side * eye_dx - eye_r, eye_y - eye_r, c + side * eye_dx + eye_r,
                      eye_y + eye_r], fill=(20, 20, 20))
    if label == "cat":
        for side in (-1, 1):
            for dy in (-1, 0, 1):
                draw.line([c + side * r // 6, c + ry // 3, c + side * int(r * 1.15),
                           c + ry // 3 + dy * r // 6], fill=(235, 235, 235), width=max(1, r // 30))
        draw.polygon([(c - r // 10, c + ry // 5), (c + r // 10, c + ry // 5), (c, c + ry // 3)],
                     fill=(200, 110, 120))
    else:
        mw, mh = int(r * 0.45), int(ry * 0.35)
        draw.ellipse([c - mw, c + ry // 4, c + mw, c + ry // 4 + 2 * mh],
                     fill=tuple(min(255, v + 30) for v in fur))
        draw.ellipse([c - r // 6, c + ry // 4, c + r // 6, c + ry // 4 + r // 6], fill=(15, 15, 15))
    return layer.rotate(float(rng.uniform(-25, 25)), resample=Image.BILINEAR)


def render_image(label: str, index: int, seed: int) -> Image.Image:
    """Render image `index` of class `label`; the same (label, index, seed) gives the same image."""
    rng = np.random.default_rng([seed, LABELS.index(label), index])
    w, h = (int(v) for v in rng.integers(150, 501, 2))
    img = _background(rng, w, h)
    s = int(min(w, h) * rng.uniform(0.3, 0.55))
    head = _animal(rng, label, s)
    x = int(rng.integers(0, max(1, w - 2 * s)))
    y = int(rng.integers(0, max(1, h - 2 * s)))
    img.paste(head, (x - s // 4, y), head)
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 1.2))))
    noise = rng.normal(0, rng.uniform(2, 10), (h, w, 3))
    noise += np.asarray(img)  # in place: the same sums, without two more float copies
    img = Image.fromarray(np.clip(noise, 0, 255, out=noise).astype(np.uint8))
    return img.convert("L") if rng.random() < GRAYSCALE_FRACTION else img


def _render_jpeg(job: tuple[str, int, int]) -> bytes:
    buf = io.BytesIO()
    render_image(*job).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _info(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp keeps the archive byte-identical from run to run; a ZipInfo's members
    # are stored (JPEGs do not deflate).
    return zipfile.ZipInfo(name, date_time=(2013, 9, 25, 0, 0, 0))


def write_sample_archive(dest: Path, per_class: int, seed: int, unlabeled: int = 20) -> Path:
    """Write Kaggle's nested layout to `dest`: train.zip (train/cat.N.jpg, train/dog.N.jpg),
    test1.zip (test1/N.jpg, unlabeled) and sampleSubmission.csv. Returns `dest`.

    Every core renders; each JPEG goes into the inner zips on disk as it comes, in order, so
    memory stays flat however many images (20,000 per class are about 1.5 GB of JPEGs)."""
    jobs = [(label, i, seed) for i in range(per_class) for label in LABELS]
    jobs += [(LABELS[i % 2], per_class + i, seed) for i in range(unlabeled)]
    n = 2 * per_class  # the labelled jobs come first; the unlabeled test1 images follow
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp, \
            ProcessPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        inner = {name: Path(tmp) / name for name in ("train.zip", "test1.zip")}
        with zipfile.ZipFile(inner["train.zip"], "w") as train, zipfile.ZipFile(inner["test1.zip"], "w") as test1:
            for k, ((label, i, _), data) in enumerate(zip(jobs, pool.map(_render_jpeg, jobs, chunksize=32),
                                                          strict=True)):
                if k < n:
                    train.writestr(_info(f"train/{label}.{i}.jpg"), data)
                else:
                    test1.writestr(_info(f"test1/{k - n + 1}.jpg"), data)
        submission = "id,label\n" + "".join(f"{i + 1},0\n" for i in range(unlabeled))
        with zipfile.ZipFile(dest, "w") as outer:
            for name, path in inner.items():
                info = _info(name)
                info.file_size = path.stat().st_size  # so zipfile picks ZIP64 for a large one
                with open(path, "rb") as src, outer.open(info, "w") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            outer.writestr(_info("sampleSubmission.csv"), submission.encode())
    return dest
