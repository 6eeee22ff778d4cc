"""The code a stage's result comes from: its module and every tasks.* module it imports,
transitively, less the modules no result depends on (NOT_RESULTS).

One import walk serves two facts: the `deps` dvc.yaml must list for each stage (a test checks
them) and the code whose hash keys train's resume state and finished runs.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project root, holding tasks/
# Modules no result can depend on: a stage reruns only when its result can change, so editing
# one of these, or what only they import (reading params.yaml, whose values DVC tracks itself
# as each stage's params; the params guard), reruns nothing.
NOT_RESULTS = {
    "tasks.core.cli": "the command line: argv, --help text, exit codes, the params guard",
    "tasks.core.flow_params": "the Prefect flow's settings, which no stage reads",
    "tasks.core.native_log": "which of TensorFlow's start-up lines reach stderr",
}


def _module_file(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:  # relative: resolve against package
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            node_module = f"{base}.{node.module}" if node.module else base
        elif isinstance(node, ast.ImportFrom):
            node_module = node.module or ""
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tasks."))
            continue
        else:
            continue
        if node_module == "tasks" or node_module.startswith("tasks."):
            found.add(node_module)
            found.update(f"{node_module}.{a.name}" for a in node.names)  # `from pkg import module`
    return found


def code_files(module: str, root: Path = ROOT) -> list[str]:
    """Relative paths of `module` (e.g. "tasks.train") and of every tasks.* module it imports,
    sorted. Package __init__ files count only where they hold code beyond a docstring."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_file(name, root)
        if path is None or name in seen or name in NOT_RESULTS:
            continue
        seen[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo.extend(_imports(path, package))
    return sorted(str(p.relative_to(root)) for p in seen.values() if not _docstring_only(p))


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)
