"""The reliability table of docs/reliability.md is generated from this suite (table.py) and must
match it: a new case or class changes the counts, and this test says how to rewrite the table."""
from __future__ import annotations

import pytest

from . import table


@pytest.fixture(scope="module")
def counts() -> dict[str, int]:
    return table.count_cases()


def test_every_case_has_a_known_class(counts: dict[str, int]):
    assert {c for c in counts if c not in table.CLASSES} == set()  # "unmarked: <test>" lands here
    assert all(counts.get(c) for c in table.CLASSES), counts  # no class without a case


def test_the_docs_table_is_in_step(counts: dict[str, int]):
    text = table.PAGE.read_text()
    start, end = table.page_table(text)
    assert text[start:end] == table.render(counts), "run: python -m tests.reliability.table --write"
