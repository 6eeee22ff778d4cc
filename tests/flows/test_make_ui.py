"""`make ui PORT=...` serves the Prefect UI on that port, and the UI talks to the API beside it
(not to the default 4200, which showed "Can't connect to Server API")."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ..conftest import REPO
from ..helpers.prefect_server import free_port, prefect_env, started, wait_for

pytestmark = pytest.mark.slow


def test_make_ui_on_another_port_points_the_ui_at_its_own_api(tmp_path: Path):
    port = free_port()
    log = tmp_path / "ui.log"
    cmd = ["make", "-s", "-o", ".venv/.installed-from-lock", "ui", f"PORT={port}"]
    with started(cmd, REPO, prefect_env(tmp_path / "home"), log):
        settings = wait_for("the UI's settings", lambda: (got := httpx.get(
            f"http://127.0.0.1:{port}/ui-settings", timeout=5)).is_success and got.json(), 180, [log])
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert settings["api_url"] == f"http://127.0.0.1:{port}/api"
    assert page.status_code == 200 and "<html" in page.text.lower()
