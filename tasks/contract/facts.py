"""Per-image facts for the data contract, from one full decode of every file, in parallel."""
from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from tasks.core.errors import StageError
from tasks.core.paths import RAW_NAME, Paths


def inspect(job: tuple[Path, int]) -> dict[str, object]:
    """Fully decode one image (load(), not verify(): truncated JPEGs only fail on load)."""
    path, max_pixels = job
    # Pillow's own bomb guard would raise before our cap is reported; ours is the one in force.
    Image.MAX_IMAGE_PIXELS = None
    facts: dict[str, object] = {"real_format": "", "decode_error": None, "width": 0, "height": 0}
    try:
        with Image.open(path) as img:  # identifies the format by magic bytes, not the name
            facts.update(real_format=img.format or "", mode=img.mode, width=img.width,
                         height=img.height)
            if img.width * img.height > max_pixels:
                facts["decode_error"] = f"{img.width}x{img.height} exceeds the pixel cap"
            else:
                img.load()
    except Exception as err:  # any decoder failure is a finding about this file, not a crash
        facts["decode_error"] = f"{type(err).__name__}: {err}"
    return facts


def gather(paths: Paths, max_pixels: int) -> tuple[list[str], list[dict[str, object]]]:
    """The manifest's columns, and its rows joined with decode facts (all cores, with a
    progress bar and ETA on stderr)."""
    if not paths.manifest.is_file():
        raise StageError(f"{paths.manifest}: not found; run the split stage first")
    with open(paths.manifest, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    if not rows:
        raise StageError(f"{paths.manifest}: lists no images; rerun the split stage")
    with ProcessPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        jobs = [(paths.split / r["path"], max_pixels) for r in rows]
        facts = tqdm(pool.map(inspect, jobs, chunksize=64), total=len(jobs), desc="validate: decode",
                     unit="img", mininterval=1.0, disable=None)
        for row, fact in zip(rows, facts, strict=True):
            row.update(fact)
            name = RAW_NAME.match(Path(str(row["path"])).name)
            row["name_label"] = name.group(1) if name else ""
    return list(reader.fieldnames or []), rows
