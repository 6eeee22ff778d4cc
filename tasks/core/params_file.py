"""Reading params.yaml: loaded once, checked into the typed models of tasks/core/config.py.

Every stage calls `load_params` before it touches any data, so an unknown key or a bad value
stops the run at once with the key named, and nothing is half-done.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from tasks.core.config import Params


class ParamsError(ValueError):
    """params.yaml is missing, unreadable, or holds an unknown key or a bad value."""



def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if p != "__root__") or "(top level)"
        # A cross-field rule (value_error) already says what it got; a dict echo would be noise.
        got = "" if e["type"] in ("extra_forbidden", "value_error") else f" (got {e.get('input')!r})"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {key}: {msg}{got}")
    return "\n".join(lines)


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    """Validate an already-parsed mapping; raise ParamsError naming each bad key."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(f"{source}: invalid parameters\n{_describe(err)}") from None


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml; raise ParamsError naming the file and any bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such parameters file") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw or {}, str(path))
