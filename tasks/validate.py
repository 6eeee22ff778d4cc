"""Validate stage: a Great Expectations data contract over the split manifest, with per-image
facts from a full decode (facts.py, suite.py). Bad data stops here, with the offending files
named, or is quarantined when validate.on_failure says so."""
from __future__ import annotations

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass

from tasks.contract import suite
from tasks.contract.facts import gather
from tasks.core.cli import stage_main
from tasks.core.config import Params
from tasks.core.errors import StageError
from tasks.core.io import atomic_dir, link_or_copy, write_json
from tasks.core.paths import SPLITS, Paths

log = logging.getLogger("tasks.validate")
SHOW_FILES = 10  # offending files listed per failed expectation; the count says the rest


@dataclass(frozen=True)
class ValidateResult:
    accepted: int
    evaluated: int
    passed: int
    failed: int
    quarantined: int
    data_docs: str


def _summary(results: list[dict[str, object]]) -> str:
    lines = []
    for f in results:
        shown = ", ".join(map(str, f["files"][:SHOW_FILES]))
        more = f" and {len(f['files']) - SHOW_FILES} more" if len(f["files"]) > SHOW_FILES else ""
        lines.append(f"  - {f['check']} ({f['count']} failing): {shown}{more}")
    return "\n".join(lines)


def offending(failures: list[dict[str, object]], rows: list[dict[str, object]]) -> dict[str, str]:
    """Path -> reason for every image a critical image rule flagged. Of identical copies in
    several splits, the copies in the earliest of those splits stay."""
    by_path = {r["path"]: r for r in rows}
    bad: dict[str, str] = {}
    for failure in (f for f in failures if f["table"] == "images"):
        files = list(failure["files"])
        if failure["check"] == suite.LEAKAGE:
            copies = defaultdict(list)
            for path in files:
                copies[by_path[path]["sha256"]].append(path)
            first = {sha: min(SPLITS.index(by_path[p]["split"]) for p in group)
                     for sha, group in copies.items()}
            keep = {p for p in files if SPLITS.index(by_path[p]["split"]) == first[by_path[p]["sha256"]]}
            files = [p for p in files if p not in keep]
        for path in files:
            bad.setdefault(path, str(failure["check"]))
    return bad



def run(params: Params, paths: Paths) -> ValidateResult:
    """Check every image and the split counts; with validate.on_failure=quarantine, set the
    offending images aside and re-check. Writes the accepted manifest, report, metrics and
    Data Docs, and fails (naming the files) if the data is still not acceptable."""
    columns, rows = gather(paths, params.validate.max_pixels)
    quarantined: dict[str, str] = {}
    with atomic_dir(paths.validation) as out, atomic_dir(paths.data_docs) as docs:
        ctx = suite.context(docs)
        first = outcome = suite.check(rows, params, ctx)
        if not outcome.success and params.validate.on_failure == "quarantine":
            quarantined = offending(outcome.failures, rows)
        if quarantined:  # count failures alone are not quarantined: they stand as they are
            rows = [r for r in rows if r["path"] not in quarantined]
            if not rows:
                raise StageError(f"quarantine would set aside all {len(quarantined)} images:\n"
                                 f"{_summary(outcome.failures)}")
            outcome = suite.check(rows, params, ctx, after_quarantine=True)
        if outcome.success:
            with open(out / paths.accepted_manifest.name, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
            for path in quarantined:
                link_or_copy(paths.split / path, out / "quarantine" / path)
        write_json(out / "report.json", {
            "success": outcome.success, "on_failure": params.validate.on_failure,
            "quarantined": [{"path": p, "reason": r} for p, r in sorted(quarantined.items())],
            "checks": outcome.report, "first_checks": first.report if quarantined else None})
    failed = outcome.evaluated - outcome.passed - len(outcome.warnings)
    write_json(paths.metrics / "validate.json", {
        "images": len(rows) + len(quarantined), "accepted": len(rows) if outcome.success else 0,
        "quarantined": len(quarantined), "expectations": outcome.evaluated,
        "passed": outcome.passed, "failed": failed, "warnings": len(outcome.warnings)})
    docs = paths.data_docs / "index.html"
    log.info("%d images, %d/%d expectations passed, %d warnings, %d quarantined; Data Docs: %s",
             len(rows) + len(quarantined), outcome.passed, outcome.evaluated,
             len(outcome.warnings), len(quarantined), docs)
    if outcome.warnings:
        log.warning("warnings (not failing):\n%s", _summary(outcome.warnings))
    if quarantined:
        log.warning("quarantined %d images into %s:\n%s", len(quarantined),
                    paths.validation / "quarantine", _summary(first.failures))
    if not outcome.success:
        raise StageError(f"{failed} of {outcome.evaluated} expectations failed on {paths.split}"
                         f"{' after quarantine' if quarantined else ''}:\n{_summary(outcome.failures)}\n"
                         f"Details: {paths.validation / 'report.json'}, {docs}")
    return ValidateResult(len(rows), outcome.evaluated, outcome.passed, failed, len(quarantined),
                          str(docs))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.validate`: see --help."""
    return stage_main("validate", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
