"""One set of params for a whole run: a stage fails rather than mix two.

Another command may edit params.yaml while a pipeline runs (a `dvc exp run -S` refused by DVC's
lock still writes its values). DVC records each stage's params in dvc.lock as it finds them when
the stage ends, so a stage that read the old values would be recorded with the new ones, and a
later stage would read values its inputs were not made with. Two checks stop that: the params a
stage depends on must be unchanged when it ends (an edit elsewhere, such as a Prefect setting,
is not its business), and under DVC, every stage upstream must have run with the values
params.yaml holds now.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from tasks.core.errors import StageError
from tasks.core.params_file import read_params_file
from tasks.core.pipeline_spec import entry_path, stage_specs

_MARK = "(another command edited it: a `dvc exp run -S` refused by DVC's lock does)"


def stage_keys(root: Path, stage: str) -> list[str]:
    """The params.yaml keys dvc.yaml lists for `stage` (what DVC records for it); every section
    but `flow` (read by no stage) where there is no dvc.yaml or no such stage."""
    spec = stage_specs(root).get(stage)
    if spec is None:
        return []
    keys = []
    for entry in spec.get("params") or []:
        keys += [str(entry)] if not isinstance(entry, dict) else [str(k) for v in entry.values() for k in v]
    return keys


def snapshot(raw: dict, keys: list[str]) -> dict[str, object]:
    """The values of `keys` in `raw` (a parsed params file); all of it but `flow` if no keys."""
    return {key: _value(raw, key) for key in keys} if keys else {k: v for k, v in raw.items() if k != "flow"}


def check_unchanged(path: Path, keys: list[str], read: dict[str, object]) -> None:
    """Refuse when the stage's own params in `path` differ from `read`, what it ran with."""
    try:
        now = snapshot(read_params_file(path), keys)
    except ValueError as err:  # ParamsError: it no longer even reads
        raise StageError(f"{path} changed while this stage ran {_MARK}, and no longer reads: {err}") from None
    if changed := sorted(key for key in read if now.get(key) != read[key]):
        raise StageError(f"{path} changed while this stage ran {_MARK}: {', '.join(changed)} differ from "
                         "what it ran with; its outputs are not recorded; run `dvc repro` again")


def _paths(entries: list | None) -> list[str]:
    names = [entry_path(e) for e in entries or []]
    return [n.rstrip("/") for n in names if "${" not in n]


def upstream(stages: dict[str, dict], stage: str) -> list[str]:
    """The stages whose outputs `stage` depends on, directly or not, in dvc.yaml's order."""
    outs = {name: _paths(spec.get("outs")) for name, spec in stages.items()}

    def parents(name: str) -> set[str]:
        deps = _paths(stages[name].get("deps"))
        return {other for other, made in outs.items() if other != name and any(
            d == o or d.startswith(f"{o}/") for d in deps for o in made)}

    found, todo = set(), [stage] if stage in stages else []
    while todo:
        for parent in parents(todo.pop()) - found:
            found.add(parent)
            todo.append(parent)
    return [name for name in stages if name in found]


def _leaves(values: dict, prefix: str = ""):
    """(dotted key, value) for each leaf of a mapping: a whole section recorded by DVC is compared
    key by key, so a message names `split.train`, not the section."""
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _value(raw: dict, key: str) -> object:
    for part in key.split("."):
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def check_upstream(root: Path, stage: str, raw: dict, params_name: str = "params.yaml") -> None:
    """Refuse when a stage upstream of `stage` ran (as dvc.lock records) with values that differ
    from `raw`, the params this stage read; names each key with both values."""
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text()) or {}
    except FileNotFoundError:
        return  # nothing has run yet, so nothing can disagree
    differ = []
    for name in upstream(stage_specs(root), stage):
        recorded = ((lock.get("stages") or {}).get(name) or {}).get("params", {}).get(params_name, {})
        differ += [f"{name} ran with {key}={old!r}, {params_name} now says {_value(raw, key)!r}"
                   for key, old in _leaves(recorded) if _value(raw, key) != old]
    if differ:
        raise StageError(f"{params_name} changed during this run {_MARK}: " + "; ".join(differ[:5])
                         + ". Run `dvc repro` again: it brings every stage to one set of params")
