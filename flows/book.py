"""Run a recipe on real photos, split as the book splits them, as a DVC experiment.

    python -m flows.book --data PATH|URL|gdrive [--recipe cpu] [--seed N] [--name NAME] [--dry-run]

`make book DATA=... RECIPE=... SEED=... NAME=...` runs this. Every value is one argument here and
is never run by a shell: RECIPE and SEED are refused unless they are a name and a non-negative
integer, DATA becomes one `-S download.*=...` setting (quoted for DVC's -S parser, which is
Hydra's, when it holds anything but plain path characters), and the experiment's name is unique:
the recipe, the seed, the time and a random suffix; or NAME, refused when an experiment of that
name already exists in the repository (DVC itself refuses one only on the same baseline commit
and only when the first has finished: two runs of one name started together both exit 0 and one
is lost) or when another `make book` is running under it.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path

from flows.parameters import check

RECIPE = re.compile(r"[A-Za-z0-9_-]+")
SEED = re.compile(r"0|[1-9][0-9]*")
# DVC keeps an experiment as refs/exps/<baseline sha, split 2/38>/<name>.
EXP_REF = re.compile(r"refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/(?P<name>.+)")
# A -S value Hydra reads unquoted as this very string: a path or URL of plain characters (spaces
# inside, not at either end: Hydra trims those).
PLAIN = re.compile(r"[A-Za-z_/](?:[A-Za-z0-9_./:@+ -]*[A-Za-z0-9_./:@+-])?")
HYDRA_WORDS = {"true", "false", "null", "inf", "nan"}
BOOK_SPLIT = ("-S", "split.train=1000", "-S", "split.validation=500", "-S", "split.test=1000",
              "-S", "split.strategy=index", "-S", "evaluate.min_accuracy=0.883")
RESERVED = Path(".dvc") / "tmp" / "book-names"  # a name in use by a running `make book`


class BookError(Exception):
    """A value refused: the message names it."""


def hydra_value(value: str) -> str:
    """`value` as a Hydra override value that DVC's -S writes into params.yaml unchanged: plain
    paths and URLs as they are, anything else single-quoted, with quotes, `${` (interpolation)
    and the backslashes before them or at the end escaped."""
    if PLAIN.fullmatch(value) and value.lower() not in HYDRA_WORDS:
        return value
    body = re.sub(r"(\\*)('|\$\{|\Z)", lambda m: m[1] * 2 + ("\\" + m[2] if m[2] else ""), value)
    return f"'{body}'"


def source_settings(data: str, cwd: Path) -> list[str]:
    """The -S settings for DATA: `gdrive`, an http(s) URL, or a zip or folder (made absolute
    against `cwd`, as the experiment runs in a temporary copy of the project)."""
    if data == "gdrive":
        return ["-S", "download.source=gdown"]
    if data.startswith(("http://", "https://")):
        return ["-S", "download.source=url", "-S", f"download.url={hydra_value(data)}"]
    path = os.path.normpath(os.path.join(cwd, data))  # as make's $(abspath): no symlink resolved
    return ["-S", "download.source=local", "-S", f"download.path={hydra_value(path)}"]


def validate(data: str, recipe: str, seed: str, name: str) -> None:
    """Refuse, naming the variable, any value that is not what it must be."""
    if not data:
        raise BookError("make book: give DATA=<zip, folder, https URL or gdrive>")
    if not RECIPE.fullmatch(recipe):
        raise BookError(f"make book: RECIPE={recipe!r} is not a recipe name (letters, digits, _ "
                        "and -: a key of `recipes` in params.yaml)")
    if seed and not SEED.fullmatch(seed):
        raise BookError(f"make book: SEED={seed!r} is not a non-negative integer")
    try:
        name and check("experiment", name)  # the flow's rule: what DVC takes as a name
    except ValueError as err:
        raise BookError(f"make book: NAME={name!r} is not an experiment name (letters, digits, _, - "
                        f"and single dots, up to 100): {err}") from None


def existing_names(root: Path) -> set[str]:
    """The names of every experiment in the repository at `root`, on any baseline."""
    done = subprocess.run(["git", "-C", str(root), "for-each-ref", "--format=%(refname)", "refs/exps/"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BookError(f"make book: cannot list the experiments (git for-each-ref refs/exps): "
                        f"{done.stderr.strip()}")
    return {m["name"] for line in done.stdout.splitlines() if (m := EXP_REF.fullmatch(line))}


def generated_name(recipe: str, seed: str, taken: set[str]) -> str:
    """<recipe>[-seed<n>]-<date>-<time>-<6 random hex digits>: two runs in one second differ."""
    stem = f"{recipe}{f'-seed{seed}' if seed else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    while (name := f"{stem}-{secrets.token_hex(3)}") in taken:
        pass
    return name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reserve(root: Path, name: str) -> Path:
    """Claim `name` for this process (a file holding its PID, created exclusively), so that a
    second `make book` of the name refuses while the first runs; a dead claimant's file is taken
    over."""
    folder = root / RESERVED
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as err:
            if err.errno != errno.EEXIST:
                raise
            try:
                pid = int(path.read_text() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise BookError(f"make book: an experiment named {name!r} is running (PID {pid}, "
                                f"{path}): give another NAME=") from None
            path.unlink(missing_ok=True)  # its run died: take the name over
            continue
        with os.fdopen(fd, "w") as out:
            out.write(str(os.getpid()))
        return path
    raise BookError(f"make book: cannot claim the name {name!r} ({path}): try again")


def command(data: str, recipe: str, seed: str, name: str, cwd: Path) -> list[str]:
    """The `dvc exp run` argv."""
    return ["dvc", "exp", "run", "--temp", "-n", name, "-S", f"train.recipe={recipe}",
            *(["-S", f"base.seed={seed}"] if seed else []), *source_settings(data, cwd), *BOOK_SPLIT]


def _wait(proc: subprocess.Popen) -> int:
    """The child's exit status; Ctrl-C reaches it too, so wait for it to finish cleaning up."""
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="", help="DATA: a zip or folder, an http(s) URL, or gdrive")
    parser.add_argument("--recipe", default="cpu",
                        help="RECIPE: a key of `recipes` in params.yaml (default: cpu)")
    parser.add_argument("--seed", default="",
                        help="SEED: base.seed, a non-negative integer (default: params.yaml's)")
    parser.add_argument("--name", default="", help="NAME: the experiment's name (default: the recipe, seed, "
                        "time and a random suffix); refused if an experiment of that name exists")
    parser.add_argument("--root", type=Path, default=Path("."), help="project root (default: .)")
    parser.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    args = parser.parse_args(argv)
    try:
        validate(args.data, args.recipe, args.seed, args.name)
        taken = existing_names(args.root)
        if args.name in taken:
            raise BookError(f"make book: an experiment named {args.name!r} already exists: give "
                            "another NAME= (or `dvc exp remove` it)")
        name = args.name or generated_name(args.recipe, args.seed, taken)
        argv_ = command(args.data, args.recipe, args.seed, name, Path.cwd())
        print(shlex.join(argv_), flush=True)
        if args.dry_run:
            return 0
        claim = reserve(args.root, name)
    except BookError as err:
        print(err, file=sys.stderr)
        return 2
    try:
        return _wait(subprocess.Popen(argv_, cwd=args.root))
    finally:
        claim.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
