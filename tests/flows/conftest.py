"""A tiny project already brought up to date by `dvc repro` and committed, built once per session
(a few minutes on a busy 2-core machine): flow runs on a copy of it run no stage."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..helpers.projects import new_project, sh


@pytest.fixture(scope="session")
def current_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = new_project(tmp_path_factory.mktemp("current") / "project")
    sh(root, "dvc", "repro")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "up to date")
    return root


def copy_project(template: Path, root: Path) -> Path:
    """A copy of `template` at `root`; DVC rehashes the copied files and finds them up to date."""
    shutil.copytree(template, root, symlinks=True)
    return root


@pytest.fixture
def current_project(current_template: Path, tmp_path: Path) -> Path:
    return copy_project(current_template, tmp_path / "project")
