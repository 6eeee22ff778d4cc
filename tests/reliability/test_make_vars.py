"""Make variables (issue 27, item 13): each value given to make reaches its command as exactly one
argument and is never run, whatever it holds; a RECIPE or SEED that is not one is refused (exit 2,
naming it) before anything runs. And `make book` experiments (item 7): two runs never share a name,
and a NAME that exists is refused.

The commands the recipes run (dvc, prefect, rclone, and python where it would reach a server or
this checkout's .dvc/config) are replaced by fakes first on PATH that record their argv as JSON:
the recipes really run, and the tests assert the exact argv. Marker files named under tmp_path
show that nothing in a value was run."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import apply_overrides

from ..conftest import REPO

pytestmark = pytest.mark.reliability("make")
VENV_BIN = REPO / ".venv" / "bin"
BOOK_SPLIT = ["-S", "split.train=1000", "-S", "split.validation=500", "-S", "split.test=1000",
              "-S", "split.strategy=index", "-S", "evaluate.min_accuracy=0.883"]
_COLUMNS = {k: re.search(rf"^{k} := (.*)$", (REPO / "Makefile").read_text(), re.M)[1].replace("$$", "$")
            for k in ("EXPS_KEEP", "EXPS_DROP")}  # the columns of `make exps`, as the Makefile fixes them
EXPS_SHOW = ["exp", "show", "--only-changed", "--keep", _COLUMNS["EXPS_KEEP"], "--drop", _COLUMNS["EXPS_DROP"]]
NAME = re.compile(r"(?P<stem>[a-z]+(-seed\d+)?-\d{8}-\d{6})-[0-9a-f]{6}")
FAKE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as out:
    out.write(json.dumps({{"prog": os.path.basename(sys.argv[0]), "argv": sys.argv[1:],
                          "env": {{k: os.environ.get(k) for k in ("PROJECT_DIR", "GPU_DEVICES")}}}}) + "\\n")
"""


class Make:
    """`make` in the checkout, with fakes for `progs` first on PATH."""

    def __init__(self, tmp_path: Path, progs: tuple[str, ...] = ("dvc",)):
        self.bin, self.log = tmp_path / "fakebin", tmp_path / "calls.jsonl"
        self.bin.mkdir()
        for prog in progs:
            (self.bin / prog).write_text(FAKE.format(python=sys.executable))
            (self.bin / prog).chmod(0o755)
        self.path = f"{self.bin}{os.pathsep}{VENV_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin"
        self.env = {**os.environ, "PATH": self.path, "FAKE_LOG": str(self.log)}
        self.env.pop("MAKEFLAGS", None)

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        # PATH on make's command line too: the Makefile puts .venv/bin first otherwise.
        return subprocess.Popen(["make", "-o", ".venv/.installed-from-lock", "--no-print-directory",
                                 f"PATH={self.path}", *args], cwd=REPO, env={**self.env, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def __call__(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        proc = self.popen(*args, env=env)
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def exp_run(make: Make, *args: str, env: dict | None = None) -> list[str]:
    """The argv of the one `dvc exp run` that `make book <args>` ran (then `make exps` ran), its
    name replaced by "NAME" where it has the pattern <recipe>[-seed<n>]-<date>-<time>-<random>."""
    ok(make("book", *args, env=env))
    calls = [c["argv"] for c in make.calls()]
    assert len(calls) == 2 and calls[1] == EXPS_SHOW, calls
    argv = calls[0]  # the name as NAME when it is one of the pattern, so that a test compares the rest
    return [*argv[:4], "NAME" if NAME.fullmatch(argv[4]) else argv[4], *argv[5:]]


@pytest.fixture
def make(tmp_path: Path) -> Make:
    return Make(tmp_path)


def test_book_data_with_spaces_is_one_absolute_path(make: Make, tmp_path: Path):
    photos = tmp_path / "my photos" / "x.zip"
    assert exp_run(make, f"DATA={photos}") == [
        "exp", "run", "--temp", "-n", "NAME", "-S", "train.recipe=cpu", "-S", "download.source=local",
        "-S", f"download.path={photos}", *BOOK_SPLIT]
    make.log.unlink()
    # relative: against the directory make runs in (`$(abspath)` before)
    assert exp_run(make, "DATA=my photos/x.zip", "RECIPE=book", "SEED=7")[5:11] == [
        "-S", "train.recipe=book", "-S", "base.seed=7", "-S", "download.source=local"]
    assert make.calls()[0]["argv"][12] == f"download.path={REPO / 'my photos' / 'x.zip'}"


@pytest.mark.parametrize("data", ['{m}/a"; touch {m}; echo "', "{m}/it's `touch {m}` $(touch {m})",
                                  "{m}/a,b ${{x}}\\\n; touch {m}"])
def test_book_data_with_quotes_backticks_or_newlines_reaches_dvc_as_written(make: Make, tmp_path: Path,
                                                                            data: str):
    marker = tmp_path / "PWNED"
    data = data.format(m=marker)
    argv = exp_run(make, f"DATA={data}")
    assert argv[:10] == ["exp", "run", "--temp", "-n", "NAME", "-S", "train.recipe=cpu", "-S",
                         "download.source=local", "-S"] and argv[11:] == BOOK_SPLIT, argv
    assert argv[10].startswith("download.path='") and not marker.exists()
    # DVC's -S (Hydra) reads the quoted value back as DATA, byte for byte
    params = tmp_path / "params.yaml"
    params.write_text("download:\n  path: x\n")
    apply_overrides(params, [argv[10]])
    assert yaml.safe_load(params.read_text())["download"]["path"] == data


def test_book_refuses_a_recipe_with_backticks_before_anything_runs(make: Make, tmp_path: Path):
    marker = tmp_path / "PWNED2"
    for dry in ((), ("-n",)):
        done = make(*dry, "book", "DATA=gdrive", f"RECIPE=x`touch {marker}`")
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"RECIPE='x`touch {marker}`' is not a recipe name" in done.stderr
    assert not marker.exists() and make.calls() == []


@pytest.mark.parametrize("seed", ["abc", "-1", "3.0", "017", "1 2", "1; touch {m}", "$$(touch {m})"])
def test_book_refuses_a_seed_that_is_not_a_non_negative_integer(make: Make, tmp_path: Path, seed: str):
    marker = tmp_path / "PWNED"
    seed = seed.format(m=marker)
    done = make("book", "DATA=gdrive", f"SEED={seed}")
    assert done.returncode == 2 and f"SEED={seed!r} is not a non-negative integer" in done.stderr
    assert not marker.exists() and make.calls() == []


def test_book_shell_function_in_a_value_is_never_run(make: Make, tmp_path: Path):
    """make expands `$(shell ...)` in a command-line value wherever it is read, and when it exports
    it to any recipe: the value stays text."""
    markers = [tmp_path / f"PWNED{i}" for i in range(4)]
    ok(make("-s", "help", f"SECRET=$(shell touch {markers[0]})"))
    argv = exp_run(make, f"DATA=$(shell touch {markers[1]})", "RECIPE=book",
                   env={"CRON": f"$(shell touch {markers[2]})"})  # from the environment too
    assert argv[10] == f"download.path='{REPO}/$(shell touch {markers[1]})'"
    done = make("book", "DATA=gdrive", f"NAME=$(shell touch {markers[3]})")
    assert done.returncode == 2 and "is not an experiment name" in done.stderr
    assert not any(m.exists() for m in markers)


def test_exps_columns_are_not_a_setting(make: Make, tmp_path: Path):
    """EXPS_KEEP is pasted into `make exps` (quoted, a constant): given from outside it is refused."""
    marker = tmp_path / "PWNED"
    for value in (f"x'; touch {marker}; echo '", f"$(shell touch {marker})"):
        done = make("exps", f"EXPS_KEEP={value}")
        assert done.returncode == 2 and "EXPS_KEEP and EXPS_DROP are fixed" in done.stderr
    assert not marker.exists() and make.calls() == []
    ok(make("exps"))
    assert [c["argv"] for c in make.calls()] == [EXPS_SHOW]


def test_remote_secret_with_quotes_is_one_argument(tmp_path: Path):
    marker = tmp_path / "PWNED3"
    secret = f'a"; touch {marker}; echo "'
    make = Make(tmp_path, ("python",))
    plan = ok(make("-n", "remote", "URL=s3://dvc/x", f"SECRET={secret}")).stdout
    assert "touch" not in plan and '--secret="$SECRET"' in plan  # the plan names it, never pastes it
    ok(make("remote", "URL=-s3://x y", "ENDPOINT=http://h:1/$(id)", "KEY=k`id`", f"SECRET={secret}"))
    assert [c["argv"] for c in make.calls()] == [
        ["-m", "flows.remote", "--endpoint=http://h:1/$(id)", "--key=k`id`", f"--secret={secret}",
         "--", "-s3://x y"]]
    assert not marker.exists()


def test_serve_pools_deploy_worker_and_s3_local_pass_each_value_as_one_argument(tmp_path: Path):
    marker = tmp_path / "PWNED"
    evil = f'a b"; touch {marker}; echo "\'`touch {marker}`$(touch {marker})'
    make = Make(tmp_path, ("python", "prefect", "rclone"))
    store = tmp_path / f"store {evil}"
    ok(make("serve", f"CRON={evil}"))
    ok(make("deploy", f"CPU_LIMIT={evil}", "GPU_LIMIT=3", f"PROJECT_DIR={evil}", f"GPU_DEVICES={evil}"))
    ok(make("worker", f"POOL={evil}"))
    ok(make("s3-local", f"DIR={store}", f"PORT={evil}", f"KEY={evil}", "SECRET=s"))
    calls = make.calls()
    hostname = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    assert [(c["prog"], c["argv"]) for c in calls] == [
        ("python", ["-m", "flows.serve", f"--cron={evil}"]),
        ("python", ["-m", "flows.pools", f"--project-dir={evil}", f"--gpu-devices={evil}", f"cpu={evil}",
                    "gpu=3"]),
        ("prefect", ["--no-prompt", "deploy", "--all"]),
        ("prefect", ["worker", "start", f"--pool={evil}", f"--name={evil}-{hostname}",
                     "--no-create-pool-if-not-found"]),
        ("rclone", ["serve", "s3", f"--addr=127.0.0.1:{evil}", f"--auth-key={evil},s", "--", str(store)])]
    assert calls[2]["env"] == {"PROJECT_DIR": evil, "GPU_DEVICES": evil}
    assert (store / "dvc").is_dir() and not marker.exists()
    # the defaults still apply (mkdir faked too: the default store is in the checkout)
    (tmp_path / "defaults").mkdir()
    make = Make(tmp_path / "defaults", ("python", "rclone", "mkdir"))
    ok(make("pools"))
    ok(make("s3-local"))
    assert [c["argv"] for c in make.calls()] == [
        ["-m", "flows.pools", f"--project-dir={REPO}", "--gpu-devices=0", "cpu=2", "gpu=1"],
        ["-p", "--", ".s3-local/dvc"],
        ["serve", "s3", "--addr=127.0.0.1:9000", "--auth-key=key,secret", "--", ".s3-local"]]


# Item 7: two experiments with one name.

@pytest.mark.reliability("consistency")
def test_two_books_started_in_one_second_get_two_names(make: Make):
    time.sleep(1.05 - time.time() % 1)  # just after a second starts: both name it alike
    runs = [make.popen("book", "DATA=gdrive", "SEED=4") for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out + err
    names = [c["argv"][4] for c in make.calls() if c["argv"][:2] == ["exp", "run"]]
    assert len(names) == 2 and names[0] != names[1], names
    stems = {NAME.fullmatch(n)["stem"] for n in names}
    assert len(stems) == 1 and next(iter(stems)).startswith("cpu-seed4-"), names


def _repo_with_experiment(root: Path, name: str) -> Path:
    """A git repository holding an experiment `name` (a ref as DVC writes it)."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    root.mkdir()
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "base")
    git("update-ref", f"refs/exps/ab/{'c' * 38}/{name}", "HEAD")
    return root / ".git"


@pytest.mark.reliability("consistency")
def test_book_refuses_a_name_that_exists(make: Make, tmp_path: Path):
    git_dir = _repo_with_experiment(tmp_path / "repo", "taken")
    done = make("book", "DATA=gdrive", "NAME=taken", env={"GIT_DIR": str(git_dir)})
    assert done.returncode == 2 and "an experiment named 'taken' already exists" in done.stderr
    assert make.calls() == []
    argv = ok(make("book", "DATA=gdrive", "NAME=mine", env={"GIT_DIR": str(git_dir)}))
    assert [c["argv"] for c in make.calls()] == [
        ["exp", "run", "--temp", "-n", "mine", "-S", "train.recipe=cpu", "-S", "download.source=gdown",
         *BOOK_SPLIT], EXPS_SHOW], argv
    # NAME from the environment is not taken (WSL sets one in every shell)
    make.log.unlink()
    assert exp_run(make, "DATA=gdrive", env={"NAME": "taken", "GIT_DIR": str(git_dir)})[4] == "NAME"


@pytest.mark.reliability("consistency")
def test_book_refuses_a_name_another_run_holds(tmp_path: Path):
    """While one `make book NAME=x` runs (its claim holds a live PID), a second is refused; a dead
    run's claim is taken over and removed when the run ends."""
    make = Make(tmp_path)
    root = tmp_path / "repo"
    _repo_with_experiment(root, "other")
    claims = root / ".dvc" / "tmp" / "book-names"
    claims.mkdir(parents=True)
    (claims / "x").write_text(str(os.getpid()))
    book = [sys.executable, "-m", "flows.book", "--root", str(root), "--data", "gdrive", "--name", "x"]
    done = subprocess.run(book, cwd=REPO, env=make.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"an experiment named 'x' is running (PID {os.getpid()}" in done.stderr
    assert make.calls() == []
    (claims / "x").write_text("999999999")  # past pid_max: no such process
    done = subprocess.run(book, cwd=REPO, env=make.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [c["argv"][4] for c in make.calls()] == ["x"] and not (claims / "x").exists()
