"""Reading params.yaml: loaded once, checked into the typed models of tasks/core/config.py.

Every stage calls `load_params` before it touches any data, so an unknown key or a bad value
stops the run at once with the key named, and nothing is half-done. The file is read with DVC's
own YAML semantics (ruamel.yaml, safe, YAML 1.2: dvc/utils/serialize/_yaml.py), so a stage gets
exactly the values dvc.lock records: `017` is 17 (not YAML 1.1's octal 15), `1:00` is text.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from tasks.core.config import Params

ECHO_LIMIT = 80  # characters of a bad value echoed back: the input may be huge


class ParamsError(ValueError):
    """params.yaml is missing, unreadable, or holds an unknown key or a bad value."""


def _clip(value: object) -> str:
    text = repr(value)
    return text if len(text) <= ECHO_LIMIT else f"{text[:ECHO_LIMIT]}... ({len(text)} characters)"


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if p != "__root__") or "(top level)"
        # A cross-field rule (value_error) already says what it got; a dict echo would be noise.
        got = "" if e["type"] in ("extra_forbidden", "value_error") else f" (got {_clip(e.get('input'))})"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        if not e["loc"] and e["type"] == "value_error":  # a recipe rule: its message names the key
            lines.append(f"  {msg.removeprefix('Value error, ')}")
            continue
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


@dataclass
class _Open:
    """A mapping or sequence being parsed: its dotted path, and for a mapping the keys seen
    (with their lines), whether a key comes next, and the last key."""
    path: str
    keys: dict[str, int] | None
    key_next: bool = True
    last: str = ""


def _check_structure(text: str, source: str) -> None:
    """Refuse aliases and duplicate keys from the parser's events, before any value is built.

    An alias repeats a whole subtree: nine nested levels of ten make 10^9 values from 1 KB
    ("billion laughs"), which hangs whatever walks or prints them. A duplicate key silently
    replaces the first (a second `train:` resets every other train key); DVC refuses it too.
    """
    stack: list[_Open] = []
    for event in YAML(typ="safe").parse(text):
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            raise ParamsError(f"{source}: line {line}: YAML alias *{event.anchor} refused: aliases can "
                              "expand a few lines into billions of values; write the value out")
        if isinstance(event, MappingEndEvent | SequenceEndEvent):
            stack.pop()
            continue
        if not isinstance(event, NodeEvent):
            continue
        top = stack[-1] if stack else None
        path = top.path if top else ""
        if top is not None and top.keys is not None:
            if top.key_next:
                top.key_next, top.last = False, str(event.value) if isinstance(event, ScalarEvent) else "?"
                where = f"{path}.{top.last}" if path else top.last
                if top.last in top.keys:
                    raise ParamsError(f"{source}: duplicate key {where!r} (lines {top.keys[top.last]} "
                                      f"and {line}): the second would silently replace the first "
                                      "(DVC refuses such a file too)")
                top.keys[top.last] = line
            else:
                top.key_next = True
                path = f"{path}.{top.last}" if path else top.last
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            stack.append(_Open(path, {} if isinstance(event, MappingStartEvent) else None))


def read_params_file(path: Path | str) -> dict:
    """The raw mapping of a params file, parsed as DVC parses it; ParamsError naming the file
    if it is missing, not YAML, or holds an alias or a duplicate key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such parameters file") from None
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        _check_structure(text, str(path))
        raw = YAML(typ="safe").load(text)
    except YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {str(err)[:500]}") from None
    return raw if raw is not None else {}


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml; raise ParamsError naming the file and any bad key."""
    return parse_params(read_params_file(path), str(path))
