"""Compare a sweep's runs: each run's params and test metrics, read from `dvc exp show --json`.

A pipeline run whose params differ from params.yaml is saved as a DVC experiment under the name
the sweep gave it; a run with exactly params.yaml's values works in the workspace itself.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from flows.dvc import dvc
from flows.parameters import KEYS

METRICS_FILE = "data/metrics/evaluate.json"
METRICS = ("accuracy", "loss", "precision", "recall", "f1", "roc_auc")  # as evaluate writes them


def _row(data: dict | None) -> tuple[dict, dict]:
    """(params.yaml, evaluate metrics) of one `dvc exp show` entry; empty where it has none."""
    data = data or {}
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    metrics = ((data.get("metrics") or {}).get(METRICS_FILE) or {}).get("data") or {}
    return params, metrics.get("test", metrics)  # evaluate.json nests them under `test` (older revs: flat)


def experiments(root: Path) -> tuple[dict[str, tuple[dict, dict]], tuple[dict, dict]]:
    """Every named experiment of the repo at `root` as name -> (params, metrics), and the
    workspace's own (params, metrics)."""
    shown = json.loads(dvc(root, "exp", "show", "--json", timeout=600) or "[]")
    named, workspace = {}, ({}, {})
    for commit in shown:
        if commit.get("rev") == "workspace":
            workspace = _row(commit.get("data"))
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("name"):
                    named.setdefault(rev["name"], _row(rev.get("data")))
    return named, workspace


def lookup(params: dict, key: str) -> object:
    section, leaf = key.split(".")
    return (params.get(section) or {}).get(leaf)


def table(root: Path, runs: Iterable[tuple[str, dict, str]]) -> list[dict]:
    """One row per run (experiment name, the flow parameters it was given, its final state):
    the params it ran with and its test metrics, best test accuracy first; runs without metrics
    (failed, or not found in this repo) last, saying why."""
    named, (ws_params, ws_metrics) = experiments(root)
    rows = []
    for name, given, state in runs:
        row = {"run": name, "state": state, **given}
        if name in named:
            params, metrics = named[name]
        elif state == "Completed" and all(lookup(ws_params, KEYS[k]) == v for k, v in given.items()):
            row["run"], (params, metrics) = f"{name} (workspace: params.yaml's values)", (ws_params, ws_metrics)
        else:
            params, metrics = {}, {}
            if state == "Completed":
                row["state"] = f"Completed, but no experiment {name!r} in {root} (ran elsewhere? `dvc exp pull`)"
        row.update({k: lookup(params, key) for k, key in KEYS.items() if k not in given and params})
        row.update({m: metrics.get(m) for m in METRICS})
        rows.append(row)
    # Runs with an accuracy first, highest first; the order of the grid breaks ties.
    return sorted(rows, key=lambda r: (r["accuracy"] is None, -(r["accuracy"] or 0.0)))
