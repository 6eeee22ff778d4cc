"""The thin command line all stages share: `python -m tasks.<stage> [--params F] [--root D]`.

Stage modules keep no argv parsing of their own; their `main()` hands `run` to `stage_main`.
Exit codes: 0 done, 1 the stage refused its input (StageError) or could not read or write a
file (OSError, named), 2 bad params or usage, 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tasks.core import params_guard
from tasks.core.config import Params
from tasks.core.errors import StageError
from tasks.core.params_file import ParamsError, parse_params, read_params_file
from tasks.core.paths import Paths


def tag(stage: str) -> str:
    """How a stage's log lines name it: "[train]"."""
    return f"[{stage}]"


def error_prefix(stage: str) -> str:
    """How a stage's one-line failure report starts on stderr (the flow reads it back)."""
    return f"error: {stage}: "


def describe(doc: str | None) -> str:
    """A module docstring's first paragraph on one line: the description `--help` prints."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def stage_main(name: str, doc: str | None, run: Callable[[Params, Paths], object],
               argv: list[str] | None = None,
               extras: dict[str, tuple[str, Callable[[Paths], str]]] | None = None) -> int:
    """Parse the shared flags, load params (failing before any work), run the stage, log its
    result. `extras` maps a flag to (help, action): the flag prints the text the action returns
    for the project instead of running the stage, or exits 1 with the StageError it raises.
    Returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog=f"python -m tasks.{name}", description=describe(doc),
        epilog="Exit codes: 0 done, 1 the stage refused its input, 2 bad params, 130 interrupted.")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"),
                        help="parameters file (default: params.yaml)")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="project root holding data/ (default: the current directory)")
    for flag, (text, _) in (extras or {}).items():
        parser.add_argument(flag, action="store_true", help=text)
    args = parser.parse_args(argv)
    for flag, (_, action) in (extras or {}).items():
        if getattr(args, flag.lstrip("-").replace("-", "_")):
            try:
                print(action(Paths(args.root)))
            except StageError as err:
                print(f"{error_prefix(name)}{err}", file=sys.stderr)
                return 1
            return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, force=True,
                        format=f"%(asctime)s %(levelname)s {tag(name)} %(message)s")
    log = logging.getLogger(f"tasks.{name}")
    try:
        raw = read_params_file(args.params)
        params = parse_params(raw, str(args.params))
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    keys = params_guard.stage_keys(args.root, name)
    try:
        if os.environ.get("DVC_STAGE"):  # run by DVC, which records upstream stages' params
            params_guard.check_upstream(args.root, name, raw, args.params.name)
        result = run(params, Paths(args.root))
        params_guard.check_unchanged(args.params, keys, params_guard.snapshot(raw, keys))
    except StageError as err:
        log.error("%s", err)
        print(f"{error_prefix(name)}{err}", file=sys.stderr)
        return 1
    except OSError as err:
        # An I/O failure that no stage code turned into a StageError: still one line naming the
        # file (where the OS gives one), not a traceback, and the same exit code as a refusal.
        where = f"{err.filename}: " if err.filename else ""
        log.error("%s%s", where, err.strerror or err)
        print(f"{error_prefix(name)}{where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C: one line, not the traceback of whatever library was running. Outputs are
        # written atomically and train's resume state after each epoch, so nothing is half-done.
        log.error("interrupted")
        print(f"{error_prefix(name)}interrupted; a rerun resumes from what was saved", file=sys.stderr)
        return 130
    log.info("done: %s", result)
    return 0
