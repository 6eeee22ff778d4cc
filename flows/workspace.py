"""Where a flow run works, and how runs keep out of each other's way.

A run with the workspace's own params works in the workspace, like `dvc repro`. A run with other
params works in a scratch clone of the last commit plus the uncommitted changes (what
`dvc exp run --temp` does) and is saved as a DVC experiment, so params.yaml is never touched.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ruamel.yaml import YAML

from flows.dvc import DvcError, call, dvc
from flows.parameters import check

LOCK = Path(".dvc/tmp/prefect-flow.lock")
SCRATCH = Path(".dvc/tmp/flow-exps")  # DVC's own temp experiments live beside it, also ignored
KEPT_DOCS = Path("data/experiments")  # the Data Docs of each experiment, kept for the UI link


class WorkspaceError(DvcError):
    """Another flow run holds the workspace, or a run cannot be set up in it."""


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` (argument list, never a shell string); raise on failure."""
    return call(cwd, "git", *args)


def commit_of(root: Path, rev: str) -> str | None:
    """The commit `rev` names in `root`, or None when it names none (or there is no commit)."""
    try:
        return git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except DvcError:
        return None


@contextlib.contextmanager
def workspace_lock(root: Path, wait: int, say: Callable[[str], None] = print, run_id: str | None = None,
                   on_dead: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the workspace for a whole run. Another run waits up to `wait` seconds, then fails.

    DVC's own lock only covers one command; a run is six of them, and two runs interleaving
    stages would each see the other's half-updated params and outputs. The file names the
    holder's flow run and is emptied when it ends: a run id left in it belongs to a run whose
    process died, and is passed to `on_dead`.
    """
    path = root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline, said = time.monotonic() + wait, 0.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    raise WorkspaceError(f"another flow run holds {path} ({path.read_text().strip()}); "
                                         f"gave up after flow.lock_wait={wait} s") from None
                if now - said >= 60:  # say so at once, then once a minute
                    say(f"waiting for the flow run that holds {path} ({path.read_text().strip()})")
                    said = now
                time.sleep(min(1.0, deadline - now))
        handle.seek(0)
        if (dead := re.search(r"^flow run (\S+)$", handle.read(), re.M)) and on_dead is not None:
            on_dead(dead[1])
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                     + (f"flow run {run_id}\n" if run_id else ""))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def inside(folder: Path, name: str) -> Path:
    """`folder / name` for an experiment name (flows/parameters.py), refused unless it is a plain
    name: the name comes from whoever started the run, and the path is later removed."""
    try:
        check("experiment", name)
    except ValueError as err:
        raise WorkspaceError(f"refused experiment name: {err}") from None
    return folder / name


def remove(folder: Path, path: Path) -> None:
    """Remove `path`, which must lie inside `folder` (both resolved, so neither `..` nor a symlink
    leads out): cleanup can never delete anything else."""
    top, target = folder.resolve(), path.resolve()
    if top == target or top not in target.parents or path.is_symlink():
        raise WorkspaceError(f"refused to remove {path}: not inside {folder}")
    shutil.rmtree(target, ignore_errors=True)


def experiment_ref(root: Path, name: str) -> str:
    """The git ref of the repo's experiment `name` (DVC keeps them under refs/exps/), or ""."""
    return git(root, "for-each-ref", "--format=%(refname)", f"refs/exps/*/*/{name}")


def set_params(path: Path, overrides: dict[str, object]) -> None:
    """Set dotted keys in a params file, keeping its comments and layout (what `-S` does)."""
    # ruamel's round-trip mode keeps comments and builds only plain YAML types, never Python
    # objects (PyYAML's unsafe yaml.load is what tests/reliability/test_security.py forbids).
    round_trip = YAML(typ="rt")
    doc = round_trip.load(path)
    for key, value in overrides.items():
        section, leaf = key.split(".")
        doc[section][leaf] = value
    round_trip.dump(doc, path)


@contextlib.contextmanager
def experiment_workspace(root: Path, name: str, overrides: dict[str, object]) -> Iterator[Path]:
    """A scratch clone of `root` (HEAD plus uncommitted changes) sharing its DVC cache, with
    `overrides` applied to params.yaml. Outputs of unchanged stages are checked out from the
    cache, so DVC reruns only what the overrides change. Removed afterwards."""
    head = commit_of(root, "HEAD")
    if head is None:
        raise WorkspaceError(f"{root}: a run with parameters becomes a DVC experiment, and "
                             "experiments need a git commit to start from: commit first")
    # Git 2.39's `stash create` exits 1, silently, while the index's stat data is stale: refresh it.
    git(root, "update-index", "-q", "--refresh")
    changes = git(root, "stash", "create")  # a commit of uncommitted edits; the workspace stays as is
    work = inside(root / SCRATCH, name)
    if taken := experiment_ref(root, name):
        raise WorkspaceError(f"an experiment named {name!r} already exists ({taken}): choose another "
                             "name, or `dvc exp remove` it first")
    remove(root / SCRATCH, work)
    try:
        git(root, "clone", "--quiet", "--shared", "--no-checkout", str(root), str(work))
        git(work, "checkout", "--quiet", "--detach", head)
        if changes:
            git(work, "stash", "apply", "--quiet", changes)
        dvc(work, "cache", "dir", "--local", str((root / dvc(root, "cache", "dir")).resolve()))
        dvc(work, "checkout", "--quiet", "--allow-missing")
        set_params(work / "params.yaml", overrides)
        yield work
    finally:
        remove(root / SCRATCH, work)


def save_experiment(root: Path, work: Path, name: str) -> tuple[str, Path]:
    """Save the scratch run as DVC experiment `name` of the workspace's repo. Returns its git ref
    and the Data Docs index that shows its validation. Its outputs are already in the shared
    cache, so `dvc exp apply` restores them."""
    dvc(work, "exp", "save", "--name", name)
    ref = experiment_ref(work, name)  # the scratch clone holds this experiment only
    git(root, "fetch", "--quiet", str(work), f"{ref}:{ref}")
    docs = work / "data/data_docs"
    if not docs.is_dir():  # validate was unchanged, so the workspace's Data Docs show this data
        return ref, root / "data/data_docs/index.html"
    kept = inside(root / KEPT_DOCS, name) / "data_docs"
    remove(root / KEPT_DOCS, kept)
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(docs, kept)
    return ref, kept / "index.html"
