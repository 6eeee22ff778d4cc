"""The url source: stream an http(s) URL to a file, resuming a cut-off transfer with a Range
request, and refuse what is too big, too slow or a web page, deleting what it got."""
from __future__ import annotations

import glob
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3

from tasks.core.errors import StageError, writing

log = logging.getLogger("tasks.download")
CHUNK = 1 << 16
STALL_BYTES = 1024  # less than this in a whole stall_timeout window is a drip, not a download
ATTEMPTS = 4  # a cut-off transfer is resumed this often per run; the flow retries the stage too
HTML_HEADS = (b"<!doctype html", b"<html")


@dataclass(frozen=True)
class Limits:
    """download.max_bytes, download.stall_timeout and download.deadline (seconds)."""
    max_bytes: int
    stall_timeout: float
    deadline: float


class Refused(StageError):
    """The server's answer is not one to keep: the partial file is deleted."""


def partial(dest: Path) -> Path:
    """The file a transfer to `dest` grows in; renamed to `dest` only when whole."""
    return dest.with_name(dest.name + ".part")


def _adopt_older_partials(dest: Path, part: Path) -> None:
    """gdown, which fetched this source before, left `<name><8 chars>.part`: resume from one,
    delete the others (each may hold gigabytes)."""
    for old in dest.parent.glob(glob.escape(dest.name) + "?*.part"):
        if old != part:
            old.replace(part) if not part.exists() else old.unlink()


def fetch(url: str, dest: Path, limits: Limits) -> Path:
    """Download `url` to `dest` within `limits`; a refusal deletes the partial file, a network
    failure keeps it for the next run to resume."""
    part = partial(dest)
    _adopt_older_partials(dest, part)
    end = time.monotonic() + limits.deadline
    failure = ""
    try:
        for attempt in range(ATTEMPTS):
            if attempt:
                log.warning("download from %s: %s; resuming (attempt %d of %d)", url, failure,
                            attempt + 1, ATTEMPTS)
                time.sleep(min(0.25 * 2 ** attempt, max(0.0, end - time.monotonic())))
            try:
                with writing(part):
                    failure = _attempt(url, part, limits, end)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
                if time.monotonic() >= end:
                    raise Refused(_over_deadline(url, part, limits)) from None
                if isinstance(err, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
                    raise Refused(_stalled(url, part, limits)) from None
                if not isinstance(err, requests.ConnectionError | urllib3.exceptions.ProtocolError):
                    raise StageError(f"download from {url} failed: {err}") from None
                failure = f"connection failed or cut ({type(err).__name__})"
                continue
            if not failure:
                part.replace(dest)
                return dest
    except Refused:
        part.unlink(missing_ok=True)
        raise
    kept = f" ({part} is kept: the next run resumes it)" if part.exists() else ""
    raise StageError(f"download from {url} failed after {ATTEMPTS} attempts: {failure}{kept}")


def _size(part: Path) -> int:
    return part.stat().st_size if part.exists() else 0


def _over_deadline(url: str, part: Path, limits: Limits) -> str:
    return (f"download from {url} refused: not complete within download.deadline = "
            f"{limits.deadline:g} s ({_size(part)} bytes received); deleted")


def _stalled(url: str, part: Path, limits: Limits) -> str:
    return (f"download from {url} refused: stalled, under {STALL_BYTES} bytes in "
            f"download.stall_timeout = {limits.stall_timeout:g} s ({_size(part)} bytes "
            "received); deleted")


def _attempt(url: str, part: Path, limits: Limits, end: float) -> str:
    """One request, appending to `part`; returns "" when the file is whole, else why not."""
    have = _size(part)
    headers = {"Accept-Encoding": "identity"}  # the bytes themselves: Range counts those
    if have:
        headers["Range"] = f"bytes={have}-"
    wait = max(0.1, min(limits.stall_timeout, end - time.monotonic()))
    with requests.get(url, headers=headers, stream=True, timeout=(wait, wait)) as resp:
        if resp.status_code == 200:
            have = 0  # a whole body: a server that ignores Range starts over
        elif resp.status_code in (206, 416) and have:
            if resp.status_code == 416 or not resp.headers.get("Content-Range", "").startswith(
                    f"bytes {have}-"):
                part.unlink()  # no resuming from what we have: start over
                return "the server did not resume where the partial file ends"
        else:
            raise StageError(f"download from {url} failed: HTTP {resp.status_code} {resp.reason}")
        _refuse_html(url, resp.headers.get("Content-Type", ""), b"")
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if total is not None and total > limits.max_bytes:
            raise Refused(f"download from {url} refused: it announces {total} bytes "
                          f"(Content-Length), over download.max_bytes = {limits.max_bytes}")
        return _stream(url, resp, part, have, total, limits, end)


def _stream(url: str, resp: requests.Response, part: Path, have: int, total: int | None,
            limits: Limits, end: float) -> str:
    """Append the body to `part`, checking size, stall and deadline after every read."""
    window, window_start = 0, time.monotonic()
    with open(part, "ab" if have else "wb") as fh:
        while chunk := resp.raw.read1(CHUNK):  # what arrived, without waiting for a full chunk
            if not have:
                _refuse_html(url, "", chunk)
            have += len(chunk)
            if have > limits.max_bytes:
                raise Refused(f"download from {url} refused: more than download.max_bytes = "
                              f"{limits.max_bytes} bytes sent")
            fh.write(chunk)
            now, window = time.monotonic(), window + len(chunk)
            if now >= end:
                raise Refused(_over_deadline(url, part, limits))
            if now - window_start >= limits.stall_timeout:
                if window < STALL_BYTES:
                    raise Refused(_stalled(url, part, limits))
                window, window_start = 0, now
    if total is not None and have < total:
        return f"cut off at {have} of {total} bytes"
    return ""


def _refuse_html(url: str, content_type: str, head: bytes) -> None:
    """A login or error page answered with 200 is no archive: say so, not 'corrupt'."""
    if content_type.split(";")[0].strip().lower() == "text/html" or \
            head.lstrip(b"\xef\xbb\xbf \t\r\n")[:14].lower().startswith(HTML_HEADS):
        raise Refused(f"download from {url} refused: {url} is a web page (HTML), not an archive: "
                      "a login or error page?")
