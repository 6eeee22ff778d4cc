"""dvc.yaml as the stages read it: the stages' specs, in order, and the path an entry names."""
from __future__ import annotations

from pathlib import Path

import yaml


def stage_specs(root: Path) -> dict[str, dict]:
    """Each stage of `root`/dvc.yaml with its spec, in order; none where there is no dvc.yaml (a
    stage run on a bare folder with --root)."""
    spec = root / "dvc.yaml"
    return (yaml.safe_load(spec.read_text()) or {}).get("stages") or {} if spec.is_file() else {}


def entry_path(entry: object) -> str:
    """The path of a deps/outs/metrics/plots entry: `path` or `{path: options}`."""
    return next(iter(entry)) if isinstance(entry, dict) else str(entry)
