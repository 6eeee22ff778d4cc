"""A local HTTP server for download tests: serves one archive with Range support and cuts off
the first responses, as a dropped connection would. Used with conftest.local_server."""
from __future__ import annotations

import http.server
from pathlib import Path


class FlakyRangeServer(http.server.BaseHTTPRequestHandler):
    """Serves one archive with HTTP Range support, cutting the first `cuts` responses off
    just before their end, as a dropped connection would."""

    payload = b""
    cuts = 0
    ranges: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        asked = self.headers.get("Range")
        type(self).ranges.append(asked)
        start = int(asked.split("=")[1].split("-")[0]) if asked else 0
        body = self.payload[start:]
        self.send_response(206 if asked else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if asked:
            end = len(self.payload) - 1
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(self.payload)}")
        self.end_headers()
        self.close_connection = True
        if type(self).cuts > 0:
            type(self).cuts -= 1
            self.wfile.write(body[:-1024])  # then hang up just before the end
            return
        self.wfile.write(body)


def flaky(archive: Path, cuts: int) -> type[FlakyRangeServer]:
    """A handler class serving `archive`, cutting its first `cuts` responses short."""
    return type("Flaky", (FlakyRangeServer,), {"payload": archive.read_bytes(), "cuts": cuts, "ranges": []})
