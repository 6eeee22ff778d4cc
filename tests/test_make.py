"""`make help` lists every target with its description; `make` alone still runs the pipeline."""
from __future__ import annotations

import re
import subprocess

from .conftest import REPO


def make(*args: str) -> str:
    done = subprocess.run(["make", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_help_lists_every_target_with_a_description():
    phony = re.search(r"^\.PHONY:(.*)$", (REPO / "Makefile").read_text(), re.M)[1].split()
    listed = dict(line.split(None, 1) for line in make("-s", "help").splitlines())
    assert {"run", "test", "ui", "serve", "bench", "help"} <= set(phony)
    assert set(listed) == set(phony)
    assert all(description.strip() for description in listed.values())


def test_make_alone_still_runs_the_pipeline():
    plan = make("-n")  # -n: print the commands, run none
    assert "dvc repro" in plan and "awk" not in plan
