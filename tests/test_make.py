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
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    phony = re.search(r"^\.PHONY:(.*)$", text, re.M)[1].split()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, re.M))  # every rule a person can name
    listed = dict(line.split(None, 1) for line in make("-s", "help").splitlines())
    assert {"run", "test", "ui", "serve", "bench", "help", "pools", "deploy", "worker"} <= set(phony)
    assert set(listed) == set(phony) == targets
    assert all(description.strip() for description in listed.values())


def test_make_alone_still_runs_the_pipeline():
    plan = make("-n")  # -n: print the commands, run none
    assert "dvc repro" in plan and "awk" not in plan


def test_make_book_runs_the_recipe_on_the_books_split_as_an_experiment():
    plan = make("-n", "book", "DATA=photos.zip", "RECIPE=book", "SEED=3")
    # named after the recipe, the seed and the time, with a random suffix: two runs never share one
    assert re.search(r"^dvc exp run --temp -n book-seed3-\d{8}-\d{6}-[0-9a-f]{6} ", plan, re.M)
    for setting in ("train.recipe=book", "base.seed=3", "download.source=local",
                    f"download.path={REPO / 'photos.zip'}", "split.train=1000",
                    "split.validation=500", "split.test=1000", "split.strategy=index",
                    "evaluate.min_accuracy=0.883"):
        assert f"-S {setting}" in plan
    assert "-S download.source=gdown" in make("-n", "book", "DATA=gdrive")
    assert "base.seed" not in make("-n", "book", "DATA=gdrive")
    url = make("-n", "book", "DATA=https://example.org/d.zip")
    assert "-S download.source=url -S download.url=https://example.org/d.zip" in url
    # a path with spaces: one argument, shell-quoted in the plan
    spaced = make("-n", "book", "DATA=my photos/x.zip")
    assert f"-S 'download.path={REPO / 'my photos' / 'x.zip'}'" in spaced
    assert "-n NAME1 " in make("-n", "book", "DATA=gdrive", "NAME=NAME1")


def test_make_book_without_data_says_what_to_give():
    done = subprocess.run(["make", "-o", ".venv/.installed-from-lock", "book"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "give DATA=" in done.stderr
