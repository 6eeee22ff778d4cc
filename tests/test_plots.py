"""`dvc plots show` and `dvc plots diff <rev>` as a user opens them: the page DVC writes, drawn in
headless Chromium where no host resolves, shows every plot of dvc.yaml (Vega, from the vendored
template .dvc/config names), also in a fresh clone
whose DVC cache is empty."""
from __future__ import annotations

import configparser
import re
import shutil
from pathlib import Path

import pytest
import yaml
from dvc_render.vega import VegaRenderer
from PIL import Image

from .conftest import REPO
from .helpers.browser import CHROMIUM, drawn_views, rendered_dom
from .helpers.projects import new_project, sh, write_params

chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get "
                              "install chromium; .ci/run installs it): the plots page was not drawn")


def html_template(root: Path) -> Path:
    """The plots page template .dvc/config names (DVC resolves it relative to .dvc/)."""
    config = configparser.ConfigParser()
    config.read(root / ".dvc" / "config")
    return root / ".dvc" / config["plots"]["html_template"]


def plot_titles(root: Path) -> tuple[set[str], set[str]]:
    """The Vega plots (by title) and the image files that dvc.yaml's top-level `plots` define."""
    plots = yaml.safe_load((root / "dvc.yaml").read_text())["plots"]
    return ({next(iter(p)) for p in plots if isinstance(p, dict)},
            {p for p in plots if isinstance(p, str)})


def draw(root: Path, profile: Path, *cmd: str) -> tuple[dict[str, str], list[Path]]:
    """Run `dvc plots <cmd>` in `root`, draw its page offline: {title: view text}, image files."""
    out = sh(root, "dvc", "plots", *cmd)
    assert "failed to load" not in out, out
    page = root / "dvc_plots" / "index.html"
    views, images = drawn_views(rendered_dom(page, profile))
    vega, _ = plot_titles(root)
    # Vega draws a view's title last.
    titles = {title: text for text in views.values() for title in vega if text.endswith(title)}
    return titles, [page.parent / src for src in images]


def test_template_inlines_the_libraries_dvc_render_loads():
    page = html_template(REPO).read_text(encoding="utf8")
    cdn = re.findall(r'src="https://cdn\.jsdelivr\.net/npm/([\w-]+)@([\d.]+)"', VegaRenderer.SCRIPTS)
    assert [name for name, _ in cdn] == ["vega", "vega-lite", "vega-embed"]
    for name, version in cdn:  # a dvc-render upgrade that moves a version must update the page
        assert f"/*! {name} {version}, build/{name}.min.js" in page, (name, version)
    assert "{plot_divs}" in page
    assert "{scripts}" not in page  # DVC would put its CDN <script> tags there
    assert not re.search(r"<script[^>]+src=", page)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project with this repo's DVC config and plots template, run through evaluate (export
    draws no plot) and committed on main (train.epochs 1), then on branch more-epochs (2)."""
    root = new_project(tmp_path_factory.mktemp("plots"))
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copy(html_template(REPO), html_template(root))
    for branch, epochs in (("main", 1), ("more-epochs", 2)):
        sh(root, "git", "checkout", "-q", "-B", branch)
        write_params(root, train={"epochs": epochs})
        sh(root, "dvc", "repro", "evaluate")
        sh(root, "git", "add", "-A")
        sh(root, "git", "commit", "-q", "-m", f"epochs {epochs}")
    return root


@pytest.mark.slow
@chromium
def test_plots_show_draws_every_plot_offline(project: Path, tmp_path: Path):
    titles, images = draw(project, tmp_path, "show")
    vega, files = plot_titles(project)
    assert set(titles) == vega and all("workspace" in text for text in titles.values())
    assert len(images) == len(files)
    for image in images:
        with Image.open(image) as png:
            png.verify()


@pytest.mark.slow
@chromium
def test_plots_diff_main_in_a_fresh_clone_draws_both_revisions(project: Path, tmp_path: Path):
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(project), str(clone))  # checks out more-epochs
    sh(clone, "git", "branch", "-q", "main", "origin/main")
    assert not (clone / ".dvc" / "cache").exists()  # every plot of main must come from git
    titles, images = draw(clone, tmp_path / "profile", "diff", "main")
    assert set(titles) == plot_titles(clone)[0]
    for title, text in titles.items():
        assert "workspace" in text and "main" in text, (title, text)
    _, files = plot_titles(clone)  # DVC names each rev's copy <rev>_<path with _ for />
    assert sorted(p.name for p in images) == sorted(f"{rev}_{file.replace('/', '_')}"
                                                    for rev in ("main", "workspace") for file in files)
    for image in images:
        with Image.open(image) as png:
            png.verify()
