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


def test_make_book_runs_the_recipe_on_the_books_split_as_an_experiment():
    plan = make("-n", "book", "DATA=photos.zip", "RECIPE=book", "SEED=3")
    assert "dvc exp run --temp -n book-seed3-" in plan
    for setting in ("train.recipe=book", "base.seed=3", "download.source=local",
                    f"download.path={REPO / 'photos.zip'}", "split.train=1000",
                    "split.validation=500", "split.test=1000", "split.strategy=index",
                    "evaluate.min_accuracy=0.883"):
        assert f"-S {setting}" in plan
    assert "-S download.source=gdown" in make("-n", "book", "DATA=gdrive")
    assert "base.seed" not in make("-n", "book", "DATA=gdrive")
    url = make("-n", "book", "DATA=https://example.org/d.zip")
    assert "-S download.source=url -S download.url=https://example.org/d.zip" in url


def test_make_book_without_data_says_what_to_give():
    done = subprocess.run(["make", "-o", ".venv/.installed-from-lock", "book"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "give DATA=" in done.stderr
