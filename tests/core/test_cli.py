"""The command line as users meet it: `--help` describes each tool in whole sentences.

`main(["--help"])` is what `python -m <module> --help` runs; called in this process, because
three of these modules import TensorFlow at module level (30 s each on a loaded 2-core machine)."""
from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys

import pytest

from flows.dvc import stages

from ..conftest import REPO


@pytest.mark.parametrize("module", [f"tasks.{s}" for s in stages(REPO)] + ["tasks.predict", "flows.serve"])
def test_help_describes_the_tool_with_the_docstrings_whole_first_paragraph(
        module: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    doc = ast.get_docstring(ast.parse((REPO / f"{module.replace('.', '/')}.py").read_text()))
    paragraph = " ".join(doc.split("\n\n")[0].split())
    monkeypatch.setenv("COLUMNS", "10000")  # argparse wraps to the terminal: no wrapping
    if module.startswith("flows."):  # Prefect's log handlers would keep capsys's stream past the test
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "COLUMNS": "10000"})
        code, help_text = done.returncode, done.stdout
    else:
        with pytest.raises(SystemExit) as exited:
            importlib.import_module(module).main(["--help"])
        code, help_text = exited.value.code, capsys.readouterr().out
    assert code == 0 and help_text.startswith(f"usage: python -m {module} ")
    description = help_text.split("\n\n")[1]  # after the usage line
    assert description == paragraph and description.endswith("."), help_text
