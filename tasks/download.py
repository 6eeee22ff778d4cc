"""Download stage: fetch the dogs-vs-cats archive, or generate the embedded sample, and
normalise its labelled photos into data/raw/{cat,dog}.N.jpg."""
from __future__ import annotations

import logging
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import gdown
from tqdm import tqdm

from tasks.cli import stage_main
from tasks.common import StageError, atomic_dir, sha256_file
from tasks.config import Download, Params
from tasks.paths import Paths
from tasks import sample_data
from tasks.sample_data import write_sample_archive

log = logging.getLogger("tasks.download")
# Kaggle names (train/cat.12.jpg) first, then class folders (cats/12.jpg, PetImages/Dog/12.jpg).
KAGGLE_NAME = re.compile(r"^(cat|dog)\.(\d+)\.jpe?g$", re.IGNORECASE)
CLASS_FOLDER = {"cat": "cat", "cats": "cat", "dog": "dog", "dogs": "dog"}
NUMBERED = re.compile(r"^(\d+)\.jpe?g$", re.IGNORECASE)
MAX_TOTAL_BYTES = 8 << 30  # Kaggle's train.zip unpacks to ~0.6 GB; 8 GB means a zip bomb.
MAX_RATIO = 200  # JPEGs barely compress; a member inflating 200x is not a photo.
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


def classify(member: str) -> tuple[str, int] | None:
    """Map an archive path to (label, index), or None for files that carry no label."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if not parts:
        return None
    if m := KAGGLE_NAME.match(parts[-1]):
        return m.group(1).lower(), int(m.group(2))
    if len(parts) >= 2 and (label := CLASS_FOLDER.get(parts[-2].lower())):
        if m := NUMBERED.match(parts[-1]):
            return label, int(m.group(1))
    return None


def _check_member(info: zipfile.ZipInfo, archive: str) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in PurePosixPath(
            name.replace("\\", "/")).parts:
        raise StageError(f"{archive}: refusing unsafe entry {name!r} (it points outside the archive)")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise StageError(f"{archive}: refusing symlink entry {name!r}")
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        raise StageError(f"{archive}: refusing entry {name!r}: compression ratio "
                         f"{info.file_size / info.compress_size:.0f} exceeds {MAX_RATIO} (zip bomb?)")


def _extract_zip(archive: Path, out: Path, seen: dict[tuple[str, int], str], label: str) -> None:
    """Copy every labelled image in `archive` (recursing into nested zips) to `out`."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(info, label)
            if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
                raise StageError(f"{label}: refusing archive: it unpacks to more than "
                                 f"{MAX_TOTAL_BYTES >> 30} GiB (zip bomb?)")
            for info in tqdm(infos, desc=f"extract {Path(label).name}", unit="file", leave=False):
                if info.is_dir():
                    continue
                if info.filename.lower().endswith(".zip"):
                    nested = out / f".nested-{len(seen)}.zip"
                    with zf.open(info) as src, open(nested, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    _extract_zip(nested, out, seen, f"{label}!{info.filename}")
                    nested.unlink()
                elif key := classify(info.filename):
                    _claim(seen, key, f"{label}!{info.filename}")
                    with zf.open(info) as src, open(out / f"{key[0]}.{key[1]}.jpg", "wb") as dst:
                        shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
        raise StageError(f"{label}: corrupt or truncated archive: {err}") from None


def _claim(seen: dict[tuple[str, int], str], key: tuple[str, int], origin: str) -> None:
    if key in seen:
        raise StageError(f"{origin} and {seen[key]} both map to {key[0]}.{key[1]}.jpg")
    seen[key] = origin


def _copy_folder(folder: Path, out: Path, seen: dict[tuple[str, int], str]) -> None:
    for src in tqdm(sorted(folder.rglob("*")), desc=f"copy {folder.name}", unit="file", leave=False):
        if src.is_symlink():
            raise StageError(f"{src}: refusing a symlink in the source folder")
        if src.is_file() and (key := classify(src.relative_to(folder).as_posix())):
            _claim(seen, key, str(src))
            shutil.copyfile(src, out / f"{key[0]}.{key[1]}.jpg")


def fetch(cfg: Download, seed: int, paths: Paths) -> Path:
    """Return the archive (or folder) for the configured source, fetching it if needed."""
    paths.downloads.mkdir(parents=True, exist_ok=True)
    if cfg.source == "sample":
        log.warning(SYNTHETIC_NOTICE, cfg.gdrive_id)
        # Deterministic, so a cached copy is the same bytes; the generator's own hash is in the
        # name so that editing it never serves a stale archive.
        code = sha256_file(Path(sample_data.__file__))[:12]
        dest = paths.downloads / f"sample-{cfg.sample_per_class}-seed{seed}-{code}.zip"
        if not dest.exists():
            tmp = dest.with_suffix(".partial")
            write_sample_archive(tmp, cfg.sample_per_class, seed).replace(dest)
        return dest
    if cfg.source == "local":
        assert cfg.path is not None
        if not cfg.path.exists():
            raise StageError(f"download.path: {cfg.path} does not exist")
        return cfg.path
    dest = paths.downloads / ("dogs-vs-cats.zip" if cfg.source == "gdown" else "download.zip")
    try:
        # gdown writes to a temp file, resumes it on retry and renames it only when complete.
        if cfg.source == "gdown":
            gdown.download(id=cfg.gdrive_id, output=str(dest), resume=True, retries=3, timeout=60)
        else:
            gdown.download(url=cfg.url, output=str(dest), resume=True, retries=3, timeout=60)
    except Exception as err:  # gdown raises many types; all mean "no archive"
        raise StageError(f"download from {cfg.url or cfg.gdrive_id} failed: {err}") from err
    return dest


def run(params: Params, paths: Paths) -> DownloadResult:
    """Fetch the configured source, verify it, and atomically replace data/raw with its images."""
    cfg = params.download
    source = fetch(cfg, params.base.seed, paths)
    digest = sha256_file(source) if source.is_file() else ""
    if cfg.sha256 and digest != cfg.sha256:
        raise StageError(f"{source}: sha256 mismatch: expected {cfg.sha256}, got {digest}")
    seen: dict[tuple[str, int], str] = {}
    with atomic_dir(paths.raw) as out:
        if source.is_dir():
            _copy_folder(source, out, seen)
        else:
            _extract_zip(source, out, seen, str(source))
        counts = {label: sum(1 for k in seen if k[0] == label) for label in ("cat", "dog")}
        if not all(counts.values()):
            raise StageError(f"{source}: found {counts} labelled images; expected cats and dogs "
                             "named cat.N.jpg/dog.N.jpg or in cat(s)/ and dog(s)/ folders")
    log.info("data/raw holds %d cats and %d dogs from %s", counts["cat"], counts["dog"], source)
    return DownloadResult(cfg.source, str(source), digest, counts, cfg.source == "sample")


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.download`: see --help."""
    return stage_main("download", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
