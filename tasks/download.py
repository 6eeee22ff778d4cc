"""Download stage: fetch the dogs-vs-cats archive, or generate the embedded sample, and
normalise its labelled photos into data/raw/{cat,dog}.N.jpg."""
from __future__ import annotations

import hashlib
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import gdown

from tasks.core.cli import stage_main
from tasks.core.config import Download, Params
from tasks.core.errors import StageError, write_refused, writing
from tasks.core.io import atomic_dir, sha256_file
from tasks.core.paths import LABELS, Paths
from tasks.sources import sample, url
from tasks.sources.extract import CorruptArchive, Found, copy_folder, extract_zip
from tasks.sources.local import local_source
from tasks.sources.sample import write_sample_archive

log = logging.getLogger("tasks.download")
SYNTHETIC_NOTICE = (
    "download.source=sample: using the embedded SYNTHETIC data set (drawn cats and dogs, not "
    "photos); its accuracy says nothing about real photos. For the real Kaggle data set put "
    "`download.source: gdown` in params.yaml (default file id %s, the book's), or "
    "`download.source: local` with `download.path: /path/to/dogs-vs-cats.zip`.")


@dataclass(frozen=True)
class DownloadResult:
    source: str
    archive: str
    sha256: str
    counts: dict[str, int]
    synthetic: bool
    skipped: int = 0  # files in the source without a cat/dog label and index


def archive_path(cfg: Download, seed: int, paths: Paths) -> Path:
    """Where the sample, gdown and url sources keep their archive, under data/downloads."""
    if cfg.source == "sample":
        # Deterministic, so a cached copy is the same bytes; the generator's own hash is in the
        # name so that editing it never serves a stale archive.
        code = sha256_file(Path(sample.__file__))[:12]
        return paths.downloads / f"sample-{cfg.sample_per_class}-seed{seed}-{code}.zip"
    # One file per id or URL: a whole file there is served without asking the server again, so a
    # shared name would serve the old archive after the URL changed.
    where = cfg.gdrive_id if cfg.source == "gdown" else cfg.url
    return paths.downloads / f"{cfg.source}-{hashlib.sha256(str(where).encode()).hexdigest()[:16]}.zip"


def _discard_if_bad(dest: Path, sha256: str | None) -> None:
    """A file already at `dest` is served as complete. One that is not a whole zip (a copy cut
    short outside the downloader), or not the pinned sha256, is removed and fetched anew."""
    if not dest.is_file():
        return
    if not zipfile.is_zipfile(dest):
        reason = "not a complete zip archive"
    elif sha256 and (digest := sha256_file(dest)) != sha256:
        reason = f"sha256 {digest}, expected {sha256}"
    else:
        return
    log.warning("discarding the cached %s (%s); fetching it again", dest, reason)
    dest.unlink()


def _report_skipped(skipped: list[str]) -> None:
    if skipped:
        log.info("skipped %d files without a cat/dog label and index (e.g. %s)", len(skipped),
                    ", ".join(repr(s) for s in skipped[:3]))


def fetch(params: Params, paths: Paths) -> Path:
    """Return the archive (or folder) for the configured source, fetching it if needed."""
    cfg, seed = params.download, params.base.seed
    if cfg.source == "local":
        return local_source(params, paths)
    paths.downloads.mkdir(parents=True, exist_ok=True)
    dest = archive_path(cfg, seed, paths)
    if cfg.source == "sample":
        log.warning(SYNTHETIC_NOTICE, cfg.gdrive_id)
        if not dest.exists():
            with writing(dest):
                write_sample_archive(dest.with_suffix(".partial"), cfg.sample_per_class, seed
                                     ).replace(dest)
        return dest
    _discard_if_bad(dest, cfg.sha256)
    if dest.is_file():  # a whole archive from an earlier run: no need to ask the server again
        return dest
    if cfg.source == "url":
        return url.fetch(str(cfg.url), dest, url.Limits(cfg.max_bytes, cfg.stall_timeout,
                                                        cfg.deadline))
    where = cfg.gdrive_id
    try:
        # gdown writes to a temp file, retries with backoff resuming from the bytes it has, and
        # renames the file only when complete. use_cookies=False: gdown would otherwise keep a
        # cookie jar in ~/.cache, outside data/.
        got = gdown.download(id=where, output=str(dest), resume=True, retries=3, timeout=60,
                             use_cookies=False)
    except Exception as err:  # gdown raises many types; all mean "no archive"
        if write_refused(err):  # a full disk is not a network failure: name the file
            raise StageError(f"cannot write {dest}: {err.strerror}") from err
        raise StageError(f"download from {where} failed: {err}") from err
    if got is None or not dest.is_file():
        raise StageError(f"download from {where} failed: gdown returned no file")
    return dest


def run(params: Params, paths: Paths) -> DownloadResult:
    """Fetch the configured source, verify it, and atomically replace data/raw with its images."""
    cfg = params.download
    source = fetch(params, paths)
    digest = sha256_file(source) if source.is_file() else ""
    if cfg.sha256 and digest != cfg.sha256:
        if cfg.source in ("gdown", "url"):
            source.unlink()  # the next run fetches it again instead of reusing a bad copy
        raise StageError(f"{source}: sha256 mismatch: expected {cfg.sha256}, got {digest}")
    found = Found()
    try:
        with atomic_dir(paths.raw) as out:
            if source.is_dir():
                copy_folder(source, out, found)
            else:
                extract_zip(source, out, found, str(source))
            _report_skipped(found.skipped)
            counts = {label: sum(1 for k in found.images if k[0] == label) for label in LABELS}
            if not all(counts.values()):
                raise StageError(f"{source}: found {counts} labelled images; expected cats and "
                                 "dogs named cat.N.jpg/dog.N.jpg or in cat(s)/ and dog(s)/ folders")
    except CorruptArchive:
        if cfg.source in ("gdown", "url"):
            source.unlink()  # as for a sha256 mismatch: fetch it again next run
        raise  # any other refusal is about what a whole archive holds: a new copy would be the same
    log.info("data/raw holds %d cats and %d dogs from %s", counts["cat"], counts["dog"], source)
    return DownloadResult(cfg.source, str(source), digest, counts, cfg.source == "sample",
                          len(found.skipped))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.download`: see --help."""
    return stage_main("download", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
