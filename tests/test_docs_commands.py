"""The commands the README, the Makefile and params.yaml point people at do what they say (issue
28, "Docs and code disagree"): every bench module imports and answers --help without running
anything, `--list-models` lists every model with what it is, `--help` descriptions are whole,
params.yaml's header points at things that exist, and `make exps` shows the decision columns."""
from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.core.cli import describe

from .conftest import REPO, pipeline_env

BENCH = sorted(p.stem for p in (REPO / "bench").glob("*.py") if p.stem != "__init__")
# What people run: each module, and each subcommand of the modules that have them.
HELP_COMMANDS = [[m] for m in BENCH] + [["book", "prepare"], ["book", "run"]]
OURS = {"tasks", "flows", "bench", "tests"}


def test_every_bench_module_lists_the_modules_of_make_bench():
    """The modules `make bench`, `make device-prep` and the README run are all checked below."""
    for name in ("orchestration", "data", "seed", "train", "pipeline", "table", "book"):
        assert name in BENCH


def test_every_name_a_bench_module_imports_exists():
    """Every `from <ours> import <name>` in bench/, those inside functions included (they run only
    when the benchmark does, after minutes of work), names a module or attribute that exists."""
    missing = []
    for path in sorted((REPO / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [(node.module, a.name) for a in node.names]
            else:
                continue
            for module, name in targets:
                if module.split(".")[0] not in OURS:
                    continue
                where = f"bench/{path.name}:{node.lineno}"
                try:
                    mod = importlib.import_module(module)
                except ImportError as err:
                    missing.append(f"{where}: {module}: {err}")
                    continue
                if name and not hasattr(mod, name):
                    try:
                        importlib.import_module(f"{module}.{name}")
                    except ImportError:
                        missing.append(f"{where}: cannot import name {name!r} from {module!r}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=[" ".join(c) for c in HELP_COMMANDS])
def test_bench_module_answers_help_without_running_anything(command: list[str], tmp_path: Path):
    """`python -m bench.<module> [sub] --help` exits 0 quickly with a usage and the module's whole
    first paragraph, and writes nothing where it runs (no training, no results, no scratch)."""
    module = f"bench.{command[0]}"
    env = pipeline_env(PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", module, *command[1:], "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("usage: "), done.stdout[:500]
    if len(command) == 1:  # a subcommand describes itself; the module's paragraph is on the top
        doc = importlib.import_module(module).__doc__
        assert describe(doc) in " ".join(done.stdout.split())
    assert not list(tmp_path.iterdir()), "--help wrote files"
    assert seconds < 30, f"{seconds:.1f} s"


def test_list_models_lists_every_model_once_with_a_description(capsys):
    from tasks import train
    from tasks.core.train_params import MODEL_NAMES

    assert train.main(["--list-models"]) == 0
    header, *rows = capsys.readouterr().out.strip().splitlines()
    assert header.split() == ["model", "input", "parameters", "description"]
    names = [row.split()[0] for row in rows]
    assert sorted(names) == sorted(MODEL_NAMES)  # each once, and nothing else
    for row in rows:
        name, size, count, *what = row.split()
        assert re.fullmatch(r"\d+x\d+", size) and re.fullmatch(r"[\d,]+", count), row
        assert len(" ".join(what)) >= 10, f"{name}: no description"


def test_sweep_help_prints_its_whole_first_paragraph(capsys):
    from flows import sweep

    with pytest.raises(SystemExit) as exit_:
        sweep.main(["--help"])
    assert exit_.value.code == 0
    paragraph = describe(sweep.__doc__)
    assert paragraph.endswith("best test accuracy first.")
    assert paragraph in " ".join(capsys.readouterr().out.split())


def _params_header() -> str:
    text = (REPO / "params.yaml").read_text()
    return text[:text.index("\nbase:")]


def test_params_header_names_only_readme_sections_and_make_targets_that_exist():
    header = " ".join(line.lstrip("# ") for line in _params_header().splitlines())
    readme = (REPO / "README.md").read_text()
    headings = [line.lstrip("#").strip() for line in readme.splitlines() if line.startswith("#")]
    for section in re.findall(r'"([^"]+)" in README', header):
        assert any(h.startswith(section) for h in headings), f'README has no section "{section}"'
    targets = set(re.findall(r"^([a-z0-9-]+):", (REPO / "Makefile").read_text(), re.M))
    named = re.findall(r"`make ([a-z0-9-]+)", header)
    assert "book" in named
    assert set(named) <= targets


def test_params_header_names_only_docs_that_exist():
    docs = re.findall(r"\bdocs/[\w./-]+\.md\b", _params_header())
    assert docs == ["docs/recipes.md"]
    for doc in docs:
        assert (REPO / doc).is_file(), doc


# --- make exps -------------------------------------------------------------------------------
# The decision columns: which experiment, when, the gate's verdict, test accuracy and loss, the
# recipe; then only the params that differ between the rows (here base.seed and train.epochs).
DECISION = ["Experiment", "Created", "blessed", "test.accuracy", "test.loss", "train.recipe"]
# The options proposed for the Makefile (measured here with DVC 3.67): keep the decision columns
# (protected from every drop), drop every column that is not a param's (the metrics, and the hash
# of every file a stage depends on) and DVCLive's train.* metrics, and, of what is left, only the
# params that differ.
PROPOSED_KEEP = r"^(Experiment|Created|blessed|test\.accuracy|test\.loss|train\.recipe)$"
PROPOSED_DROP = (r"(?!(base|download|split|validate|train|evaluate|export|flow|recipes)\.)"
                 r"|train\.(accuracy|loss)$")


def make_variable(makefile: str, name: str) -> str | None:
    """The value of `NAME := value` in the Makefile, as the shell receives it ($$ -> $)."""
    m = re.search(rf"^{name}\s*:?=\s*(.*)$", makefile, re.M)
    return m.group(1).strip().replace("$$", "$") if m else None


def exps_command() -> str:
    """`make exps`'s `dvc exp show` line, with the Makefile's variables put in."""
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^exps:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "Makefile: no exps target"
    line = next(ln.strip() for ln in recipe.group(1).splitlines() if "dvc exp show" in ln)
    return re.sub(r"\$\((\w+)\)", lambda m: make_variable(makefile, m.group(1)) or "", line)


def columns(root: Path, command: str) -> list[str]:
    """The columns `command` (a `dvc exp show` line) shows, read from its markdown form."""
    done = subprocess.run(["bash", "-c", f"{command} --md --no-pager"], cwd=root, env=pipeline_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [c.strip() for c in done.stdout.splitlines()[0].strip("|").split("|")]


@pytest.fixture(scope="module")
def two_experiments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project up to date and committed, and two experiments: another seed, and another
    seed with one more epoch (about 2 min)."""
    from .helpers.projects import new_project, sh

    root = new_project(tmp_path_factory.mktemp("exps") / "project")
    sh(root, "dvc", "repro")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "up to date")
    epochs = int(re.search(r"^  epochs: (\d+)", (root / "params.yaml").read_text(), re.M).group(1))
    sh(root, "dvc", "exp", "run", "-S", "base.seed=1", "-n", "seed1")
    sh(root, "dvc", "exp", "run", "-S", "base.seed=2", "-S", f"train.epochs={epochs + 1}", "-n", "seed2")
    return root


def test_exps_without_options_shows_every_column(two_experiments: Path):
    """What `make exps` is for: `dvc exp show` alone lists every param, metric and dependency."""
    assert len(columns(two_experiments, "dvc exp show")) > 60


def test_proposed_exps_options_show_only_the_decision_columns(two_experiments: Path):
    shown = columns(two_experiments, f"dvc exp show --only-changed --keep '{PROPOSED_KEEP}' "
                                     f"--drop '{PROPOSED_DROP}'")
    assert shown == [*DECISION[:5], "base.seed", "train.epochs", "train.recipe"]


def test_make_exps_shows_only_the_decision_columns(two_experiments: Path):
    """The Makefile's own `exps` line (its variables put in) shows the decision columns and the
    params that differ: 8 here, where it showed 16 (every differing metric and file hash)."""
    shown = columns(two_experiments, exps_command())
    assert shown == [*DECISION[:5], "base.seed", "train.epochs", "train.recipe"]


# Every command the README and docs/ show in a code block: each `make` line as make plans it (-n:
# nothing runs, nothing trains; the venv step left out), each `python -m` module's --help.
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_BLOCKS = [block for page in DOCS for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", page.read_text(), re.S)]
MAKE_LINES = sorted({line.split("#")[0].strip() for block in _BLOCKS for line in block.splitlines()
                     if line.strip().startswith("make ")})
MODULES = sorted({m for block in _BLOCKS for m in re.findall(r"^\s*python -m ([a-z_.]+)", block, re.M)})


def test_the_docs_show_commands_to_check():
    assert len(MAKE_LINES) >= 10 and {"flows.pipeline", "tasks.predict"} <= set(MODULES)


@pytest.mark.parametrize("line", MAKE_LINES)
def test_each_make_command_the_docs_show_is_a_real_plan(line: str, tmp_path: Path):
    import shlex

    args = [a.replace("$HOME", str(tmp_path)) for a in shlex.split(line)[1:]]
    done = subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.installed-from-lock", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=pipeline_env())
    assert done.returncode == 0, f"{line}: {done.stderr[-2000:]}"
    assert done.stdout.strip(), f"{line}: plans nothing"


@pytest.mark.parametrize("module", MODULES)
def test_each_module_the_docs_run_answers_help(module: str, tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=pipeline_env(PYTHONPATH=str(REPO)))
    assert done.returncode == 0 and done.stdout.startswith("usage:"), f"{module}: {done.stderr[-2000:]}"
    assert list(tmp_path.iterdir()) == []  # --help ran nothing
