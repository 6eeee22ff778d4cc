"""Servers that answer the url source with too much, too slowly, or with a web page: a 10 GiB
Content-Length, a body without one that runs past `download.max_bytes`, a drip of a byte a
second, a steady trickle past `download.deadline`, a login page. `python -m tasks.download` must
exit 1 in one line naming the URL and the limit, delete what it got, and keep data/raw."""
from __future__ import annotations

import http.server
import time

import pytest

from ..conftest import local_server, tiny_params
from .harness import Project

pytestmark = pytest.mark.reliability("download")
LOGIN = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><form>...</form></body></html>\n"


class Server(http.server.BaseHTTPRequestHandler):
    """Answers every GET with `headers`, then `blocks` bytes `block` at a time, `pause` s apart
    (a bounded loop: it stops when the client hangs up)."""

    headers_out: dict[str, str] = {}
    block, blocks, pause = b"", 0, 0.0

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.send_response(200)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for _ in range(self.blocks):
                self.wfile.write(self.block)
                self.wfile.flush()
                time.sleep(self.pause)
        except OSError:  # the client hung up: what the test wants
            pass


def server(block: bytes, blocks: int, pause: float = 0.0, **headers: str) -> type[Server]:
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return type("Answer", (Server,), {"headers_out": headers, "block": block, "blocks": blocks,
                                      "pause": pause})


def _refused(project: Project, reference: Project, handler: type[Server], expected: str,
             **limits: int) -> float:
    """Run download against `handler`; check the refusal and the state; return its seconds."""
    with local_server(handler) as base:
        url = f"{base}/dogs-vs-cats.zip"
        project.write_params(tiny_params(download={"source": "url", "url": url, **limits}))
        start = time.monotonic()
        done = project.stage("download", timeout=60)
        took = time.monotonic() - start
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert last.startswith(f"error: download: download from {url} refused: "), last
    assert expected in last, last
    assert sorted(p.name for p in project.paths.downloads.iterdir()) == sorted(
        p.name for p in reference.paths.downloads.iterdir())  # nothing of this URL kept
    assert project.digest("data/raw") == reference.digest("data/raw")
    assert not project.leftovers()
    return took


def test_an_announced_10_gib_is_refused_before_reading(project, reference):
    zeros = server(bytes(1 << 16), 64, Content_Length=str(10 << 30))
    took = _refused(project, reference, zeros, f"it announces {10 << 30} bytes (Content-Length), "
                    f"over download.max_bytes = {8 << 30}")
    assert took < 15


def test_a_body_without_length_is_cut_at_max_bytes(project, reference):
    zeros = server(bytes(1 << 16), 400)  # 25 MiB, no Content-Length: ends when it closes
    _refused(project, reference, zeros, "more than download.max_bytes = 1000000 bytes sent",
             max_bytes=1_000_000)


def test_a_drip_is_a_stall(project, reference):
    drip = server(b"\0", 30, pause=1.0, Content_Length=str(1 << 20))
    took = _refused(project, reference, drip, "stalled, under 1024 bytes in "
                    "download.stall_timeout = 2 s", stall_timeout=2)
    assert took < 15


def test_a_steady_trickle_stops_at_the_deadline(project, reference):
    trickle = server(bytes(4096), 400, pause=0.05, Content_Length=str(1 << 30))  # 80 KiB/s
    took = _refused(project, reference, trickle, "not complete within download.deadline = 3 s",
                    stall_timeout=1, deadline=3)
    assert took < 15


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_a_login_page_is_named_as_one(project, reference, content_type):
    page = server(LOGIN, 1, Content_Type=content_type, Content_Length=str(len(LOGIN)))
    _refused(project, reference, page, "is a web page (HTML), not an archive: a login or error page?")
