"""Headless Chromium with no network, for tests that check a page as a browser draws it."""
from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
OFFLINE = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
    # No host name resolves, so a page that needs a CDN fails here as it would offline.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    # Run the page's timers and scripts to the end before the DOM is taken.
    "--virtual-time-budget=15000",
]


def rendered_dom(page: Path, profile: Path) -> str:
    """The DOM of `page` after its scripts ran, serialized; `profile` is a scratch directory."""
    if CHROMIUM is None:
        raise RuntimeError("chromium not found on PATH (Debian: apt-get install chromium)")
    done = subprocess.run([CHROMIUM, *OFFLINE, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


class _Views(HTMLParser):
    """Collects each vega-embed div's drawn SVG text (by div id) and every <img> src."""

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, list[str]] = {}
        self.images: list[str] = []
        self._open: list[str | None] = []  # per open div: the vega-embed id it starts, or None
        self._in_text = False

    def _view(self) -> str | None:
        return next((v for v in reversed(self._open) if v is not None), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div":
            embed = "vega-embed" in (a.get("class") or "").split()
            self._open.append(a.get("id") if embed else None)
        elif tag == "svg" and a.get("class") == "marks" and self._view() is not None:
            self.views[self._view()] = []
        elif tag == "img":
            self.images.append(a.get("src") or "")
        self._in_text = tag == "text" and self._view() in self.views

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._open:
            self._open.pop()
        self._in_text = False

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.views[self._view()].append(data)


def drawn_views(dom: str) -> tuple[dict[str, str], list[str]]:
    """From a rendered DOM: {div id: the text of its SVG} for each Vega view that vega-embed
    drew, and the src of every <img>."""
    parser = _Views()
    parser.feed(dom)
    return {k: " ".join(v) for k, v in parser.views.items()}, parser.images
