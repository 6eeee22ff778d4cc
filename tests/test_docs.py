"""The README is a guide and docs/ holds the rest: the README stays short, every relative link in
README.md and docs/*.md leads to a file that exists (and an #anchor to a heading of it), every
docs page has a title and is linked from the README, and the generated tables have their place."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import table as bench_table

from .conftest import REPO
from .reliability import table as reliability_table

README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
FILES = [README, *PAGES]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(text: str) -> str:
    """`text` without fenced code blocks and inline code, where a `[x](y)` is not a link."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """The #anchors GitHub gives the headings of `path` (a repeated one gets -1, -2, ...)."""
    found, times = set(), {}
    for line in prose(path.read_text()).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m[1].lower()).replace(" ", "-")
            found.add(f"{slug}-{times[slug]}" if slug in times else slug)
            times[slug] = times.get(slug, 0) + 1
    return found


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path.read_text()))


def relative(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target, flags=re.I)


def test_the_readme_is_at_most_300_lines():
    lines = README.read_text().count("\n")
    assert lines <= 300, f"README.md has {lines} lines: move the detail to a page in docs/"


def test_there_are_docs_pages():
    assert {p.name for p in PAGES} >= {"recipes.md", "results.md", "performance.md", "reliability.md",
                                       "training.md", "prefect.md", "team.md"}


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(REPO)) for p in FILES])
def test_every_relative_link_leads_somewhere(path: Path):
    broken = []
    for target in filter(relative, links(path)):
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(REPO)}")
    assert not broken, f"{path.relative_to(REPO)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_docs_page_has_a_title_and_says_what_it_holds(page: Path):
    lines = page.read_text().splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 2, f"{page.name}: the first line is not a title"
    assert len(lines) > 2 and not lines[1].strip() and lines[2].strip() and not lines[2].startswith("#"), \
        f"{page.name}: no line under the title saying what the page holds"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in filter(relative, links(README))}
    assert [p.name for p in PAGES if p.resolve() not in linked] == []


def test_the_generated_tables_have_their_markers_in_the_docs():
    perf, results = bench_table.PAGE.read_text(), bench_table.ABLATION_PAGE.read_text()
    assert bench_table.PAGE.parent == REPO / "docs" == bench_table.ABLATION_PAGE.parent
    assert perf.count(bench_table.BEGIN) == 1 and perf.count(bench_table.END) == 1
    assert results.count(bench_table.ABLATION_BEGIN) == 1 and results.count(bench_table.ABLATION_END) == 1
    page = reliability_table.PAGE
    assert page.parent == REPO / "docs"
    start, end = reliability_table.page_table(page.read_text())  # where --write puts the table
    assert end > start


def test_the_readme_keeps_the_sections_tests_read():
    """tests/flows/test_schedule.py runs the `prefect ...` lines of the README's "## Prefect"."""
    text = README.read_text()
    assert "\n## Prefect\n" in text
    section = text[text.index("\n## Prefect\n"):]
    section = section[:section.index("\n## ", 1)]
    assert "\nprefect deployment run dogs-vs-cats/scheduled" in section


def test_the_model_table_in_the_docs_is_what_list_models_prints():
    import subprocess
    import sys

    shown = (REPO / "docs" / "models.md").read_text().split("--list-models` prints them:\n\n```\n", 1)[1]
    printed = subprocess.run([sys.executable, "-m", "tasks.train", "--list-models"], cwd=REPO,
                             capture_output=True, text=True, timeout=120).stdout
    assert shown.split("```", 1)[0] == printed
