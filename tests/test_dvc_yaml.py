"""dvc.yaml stays exact: each stage runs its module and depends on every tasks/ file it imports."""
from __future__ import annotations

import ast

import pytest
import yaml

from .conftest import REPO

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def tasks_imports(module: str, seen: set[str] | None = None) -> set[str]:
    """The files of `module` and of every tasks.* module it imports, transitively."""
    seen = set() if seen is None else seen
    path = f"tasks/{module}.py"
    if path in seen:
        return seen
    seen.add(path)
    for node in ast.walk(ast.parse((REPO / path).read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module == "tasks":
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tasks."):
            names = [node.module.split(".", 1)[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".", 1)[1] for a in node.names if a.name.startswith("tasks.")]
        for name in names:
            tasks_imports(name, seen)
    return seen


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_runs_its_module_and_lists_exactly_the_code_it_imports(stage: str):
    spec = STAGES[stage]
    assert spec["cmd"] == f"python -m tasks.{stage}"
    declared = {d for d in spec["deps"] if d.endswith(".py")}
    assert declared == tasks_imports(stage)


def test_the_pipeline_has_the_six_stages_in_order():
    assert list(STAGES) == ["download", "split", "validate", "train", "evaluate", "export"]
