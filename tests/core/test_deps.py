"""dvc.yaml stays exact: each stage runs its module and depends on every tasks/ file it imports."""
from __future__ import annotations

import pytest
import yaml

from flows.dvc import stages
from tasks.core.deps import code_files

from ..conftest import REPO

SPECS = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", stages(REPO))
def test_stage_runs_its_module_and_lists_exactly_the_code_it_imports(stage: str):
    spec = SPECS[stage]
    assert spec["cmd"] == f"python -m tasks.{stage}"
    assert sorted(d for d in spec["deps"] if d.endswith(".py")) == code_files(f"tasks.{stage}")


def test_the_pipeline_has_the_six_stages_in_order():
    assert stages(REPO) == ("download", "split", "validate", "train", "evaluate", "export")


def test_the_import_walk_follows_relative_and_package_imports(tmp_path):
    pkg = tmp_path / "tasks" / "part"
    pkg.mkdir(parents=True)
    (tmp_path / "tasks" / "__init__.py").write_text('"""doc only"""\n')
    (pkg / "__init__.py").write_text("from .inner import x\n")
    (pkg / "inner.py").write_text("x = 1\n")
    (tmp_path / "tasks" / "stage.py").write_text("from tasks import part\nimport json\n")
    assert code_files("tasks.stage", tmp_path) == [
        "tasks/part/__init__.py", "tasks/part/inner.py", "tasks/stage.py"]
