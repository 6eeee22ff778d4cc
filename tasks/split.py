"""Split stage: the book's make_subset. Per class, in numeric index order, the first
split.train images go to train, the next split.validation to validation, the next split.test to
test. Writes data/split/{train,validation,test}/{cat,dog}/ and a manifest of every image."""
from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.core.cli import stage_main
from tasks.core.config import Params, Split
from tasks.core.errors import StageError
from tasks.core.io import atomic_dir, link_or_copy
from tasks.core.paths import LABELS, RAW_NAME, SPLITS, Paths

log = logging.getLogger("tasks.split")
MANIFEST_COLUMNS = ("split", "label", "path", "bytes", "sha256", "width", "height", "mode", "format")


@dataclass(frozen=True)
class SplitResult:
    strategy: str
    counts: dict[str, dict[str, int]]
    manifest: str


def raw_images(raw: Path) -> dict[str, list[tuple[int, Path]]]:
    """Every image in data/raw per label, as (index, path) sorted by numeric index."""
    if not raw.is_dir():
        raise StageError(f"{raw}: not found; run the download stage first")
    found: dict[str, list[tuple[int, Path]]] = {label: [] for label in LABELS}
    for path in raw.iterdir():
        if m := RAW_NAME.match(path.name):
            found[m.group(1)].append((int(m.group(2)), path))
    return {label: sorted(items) for label, items in found.items()}


def assign(images: dict[str, list[tuple[int, Path]]], cfg: Split, seed: int
           ) -> dict[str, dict[str, list[Path]]]:
    """Choose each split's files per label: index order (the book) or a seeded shuffle."""
    sizes = {"train": cfg.train, "validation": cfg.validation, "test": cfg.test}
    need = sum(sizes.values())
    plan: dict[str, dict[str, list[Path]]] = {s: {} for s in SPLITS}
    for label, items in images.items():
        if len(items) < need:
            raise StageError(
                f"data/raw has {len(items)} {label} images, but the split needs {need} per class "
                f"(train {cfg.train} + validation {cfg.validation} + test {cfg.test}); lower "
                "split.* in params.yaml or provide more images")
        paths = [p for _, p in items]
        if cfg.strategy == "random":
            order = np.random.default_rng([seed, LABELS.index(label)]).permutation(len(paths))
            paths = [paths[i] for i in order]
        start = 0
        for split in SPLITS:
            plan[split][label] = paths[start:start + sizes[split]]
            start += sizes[split]
    return plan


def describe(path: Path) -> dict[str, object]:
    """Size, sha256 and header facts of one image, from a single read (no pixel decode)."""
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height, mode, fmt = img.width, img.height, img.mode, img.format
    except Exception:  # unreadable, not an image, or a decompression bomb
        width = height = None
        mode = fmt = ""  # left for the validate stage to reject, with the file named
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "width": width,
            "height": height, "mode": mode, "format": fmt}



def run(params: Params, paths: Paths) -> SplitResult:
    """Split data/raw into train/validation/test per class and write the manifest."""
    plan = assign(raw_images(paths.raw), params.split, params.base.seed)
    with atomic_dir(paths.split) as out:
        rows = []
        for split, by_label in plan.items():
            for label, files in by_label.items():
                (out / split / label).mkdir(parents=True)
                for src in files:
                    link_or_copy(src, out / split / label / src.name)
                    rel = f"{split}/{label}/{src.name}"
                    rows.append({"split": split, "label": label, "path": rel, **describe(src)})
        with open(out / paths.manifest.name, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    counts = {s: {label: len(files) for label, files in by_label.items()}
              for s, by_label in plan.items()}
    log.info("split (%s): %s; manifest %s rows", params.split.strategy, counts, len(rows))
    return SplitResult(params.split.strategy, counts, str(paths.manifest))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.split`: see --help."""
    return stage_main("split", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
