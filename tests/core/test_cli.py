"""The command line as users meet it: `--help` describes each tool in whole sentences.

`main(["--help"])` is what `python -m <module> --help` runs; called in this process, because
three of these modules import TensorFlow at module level (30 s each on a loaded 2-core machine)."""
from __future__ import annotations

import ast
import importlib

import pytest

from flows.dvc import stages

from ..conftest import REPO


@pytest.mark.parametrize("module", [f"tasks.{s}" for s in stages(REPO)] + ["tasks.predict", "flows.serve"])
def test_help_describes_the_tool_with_the_docstrings_whole_first_paragraph(
        module: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    doc = ast.get_docstring(ast.parse((REPO / f"{module.replace('.', '/')}.py").read_text()))
    paragraph = " ".join(doc.split("\n\n")[0].split())
    monkeypatch.setenv("COLUMNS", "10000")  # argparse wraps to the terminal: no wrapping
    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main(["--help"])
    help_text = capsys.readouterr().out
    assert done.value.code == 0 and help_text.startswith(f"usage: python -m {module} ")
    description = help_text.split("\n\n")[1]  # after the usage line
    assert description == paragraph and description.endswith("."), help_text
