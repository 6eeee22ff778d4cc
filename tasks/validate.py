"""Validate stage: a Great Expectations data contract over the split manifest, with per-image
facts from a full decode. Bad data stops here, with the offending files named."""
from __future__ import annotations

import csv
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tasks import contract
from tasks.cli import stage_main
from tasks.common import RAW_NAME, StageError, atomic_dir, write_json
from tasks.config import Params
from tasks.paths import Paths

log = logging.getLogger("tasks.validate")
SHOW_FILES = 10  # offending files listed per failed expectation; the count says the rest


@dataclass(frozen=True)
class ValidateResult:
    images: int
    evaluated: int
    passed: int
    failed: int
    data_docs: str


def inspect(job: tuple[Path, int]) -> dict[str, object]:
    """Fully decode one image (load(), not verify(): truncated JPEGs only fail on load)."""
    path, max_pixels = job
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


def gather(params: Params, paths: Paths) -> list[dict[str, object]]:
    """Manifest rows joined with decode facts, decoded in parallel over all cores."""
    if not paths.manifest.is_file():
        raise StageError(f"{paths.manifest}: not found; run the split stage first")
    with open(paths.manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cap = params.validate.max_pixels
    # Pillow's own bomb guard would raise before our cap is reported; ours is the one in force.
    Image.MAX_IMAGE_PIXELS = None
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        facts = pool.map(inspect, [(paths.split / r["path"], cap) for r in rows], chunksize=64)
        for row, fact in zip(rows, facts, strict=True):
            row.update(fact)
            name = RAW_NAME.match(Path(str(row["path"])).name)
            row["name_label"] = name.group(1) if name else ""
    return rows


def _summary(failures: list[dict[str, object]]) -> str:
    lines = []
    for f in failures:
        shown = ", ".join(map(str, f["files"][:SHOW_FILES]))
        more = f" and {len(f['files']) - SHOW_FILES} more" if len(f["files"]) > SHOW_FILES else ""
        lines.append(f"  - {f['check']} ({f['count']} failing): {shown}{more}")
    return "\n".join(lines)


def run(params: Params, paths: Paths) -> ValidateResult:
    """Check every image and the split counts; write the report, metrics and Data Docs."""
    rows = gather(params, paths)
    with atomic_dir(paths.validation) as out, atomic_dir(paths.data_docs) as docs:
        outcome = contract.check(rows, params, docs)
        if outcome.success:
            shutil.copyfile(paths.manifest, out / paths.accepted_manifest.name)
        write_json(out / "report.json", outcome.report)
    write_json(paths.metrics / "validate.json", {
        "images": len(rows), "expectations": outcome.evaluated, "passed": outcome.passed,
        "failed": outcome.evaluated - outcome.passed})
    docs = paths.data_docs / "index.html"
    log.info("%d images, %d/%d expectations passed; Data Docs: %s", len(rows), outcome.passed,
             outcome.evaluated, docs)
    if not outcome.success:
        raise StageError(f"{outcome.evaluated - outcome.passed} of {outcome.evaluated} "
                         f"expectations failed on {paths.split}:\n{_summary(outcome.failures)}\n"
                         f"Details: {paths.validation / 'report.json'}, {docs}")
    return ValidateResult(len(rows), outcome.evaluated, outcome.passed,
                          outcome.evaluated - outcome.passed, str(docs))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.validate`: see --help."""
    return stage_main("validate", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
