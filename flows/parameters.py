"""The flow's parameters as types that carry their params.yaml key's rules.

Anyone who can reach the Prefect API can start a run with any parameters (there is no login by
default), so each parameter's JSON schema holds the bounds and choices of the key it sets:
Prefect refuses a bad value when the run is created, before any work (a 10**20 `image_size`
would otherwise be stored and break the server's run lists). The flow checks them again when
it starts, for runs that bypass the schema.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError

from tasks.core.config import Download, Params
from tasks.core.params_file import ParamsError, parse_params, read_params_file
from tasks.core.train_params import Train

# A git ref component DVC takes as an experiment name (git check-ref-format, no "/"): dot-separated
# words of letters, digits, "_" and "-", none starting with "."; no "..", no ".lock" ending.
EXPERIMENT_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$"


def _not_lock(name: str) -> str:
    if name.endswith(".lock"):
        raise ValueError("must not end with .lock (git refuses such ref names)")
    return name


ExperimentName = Annotated[str, StringConstraints(pattern=EXPERIMENT_PATTERN, max_length=100),
                           AfterValidator(_not_lock)]


def _like(section: type, key: str) -> Any:
    """An optional parameter with the type, bounds and choices of `<section>.<key>`."""
    info = section.model_fields[key]
    kind = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return kind | None


# What each parameter means is in the flow's docstring (Args:), where Prefect's UI reads it.
Source = _like(Download, "source")
Recipe = _like(Train, "recipe")
Model = _like(Train, "model")
Epochs = _like(Train, "epochs")
ImageSize = _like(Train, "image_size")
Experiment = ExperimentName | None

KEYS = {"source": "download.source", "recipe": "train.recipe", "model": "train.model",
        "epochs": "train.epochs", "image_size": "train.image_size"}  # the params.yaml key each sets
_CHECKS = {"source": Source, "recipe": Recipe, "model": Model, "epochs": Epochs, "image_size": ImageSize,
           "experiment": Experiment}


def check(name: str, value: object) -> object:
    """`value` if it is a valid value of flow parameter `name`; ValueError naming it (and the
    params.yaml key it sets) otherwise."""
    try:
        return TypeAdapter(_CHECKS[name]).validate_python(value)
    except ValidationError as err:
        sets = f" (sets {KEYS[name]})" if name in KEYS else ""
        raise ValueError(f"{name}={value!r}{sets}: {err.errors()[0]['msg']}") from None


def closed(schema: dict[str, Any], recipes: list[str]) -> dict[str, Any]:
    """A deployment's parameter schema that refuses parameters the flow does not have, and offers
    the project's recipes (known when it is served) as the choices of `recipe`."""
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf", [])
        given = next((o for o in options if o.get("type") not in (None, "null")), None)
        if given is None:
            properties[name] = prop
            continue
        if name == "recipe":
            given = {**given, "enum": ["custom", *recipes]}
        # The value's own type, choices and bounds, without a default: the UI then offers them
        # at once, left empty meaning "as in params.yaml" (Prefect's check lets an optional
        # parameter without a default be null).
        properties[name] = {k: v for k, v in prop.items() if k not in ("anyOf", "default")} | given
    return {**schema, "properties": properties, "additionalProperties": False}


def resolve(root: Path, given: dict[str, object]) -> tuple[Params, dict[str, object]]:
    """params.yaml with the flow's parameters applied, checked like any params (a bad value
    fails the run before any stage, naming the key), and the keys that actually differ. A train
    key given beside a recipe that sets it is refused, naming both: neither silently wins."""
    path = root / "params.yaml"
    raw = read_params_file(path)  # as DVC reads it; aliases and duplicate keys refused
    changed = {}
    for arg, key in KEYS.items():
        section, leaf = key.split(".")
        if given.get(arg) is not None and (raw.get(section) or {}).get(leaf) != given[arg]:
            changed[key] = given[arg]
            raw.setdefault(section, {})[leaf] = given[arg]
    recipe = (raw.get("train") or {}).get("recipe", "custom")
    sets = (raw.get("recipes") or {}).get(recipe) if isinstance(raw.get("recipes"), dict) else None
    clash = [f"{arg}={given[arg]!r}" for arg in ("model", "epochs", "image_size")
             if given.get(arg) is not None and isinstance(sets, dict) and arg in sets]
    if recipe != "custom" and clash:
        raise ParamsError(f"{path}: {', '.join(clash)} conflicts with train.recipe {recipe!r}, which sets "
                          f"{', '.join(f'train.{c.split(chr(61))[0]}' for c in clash)} itself: give "
                          "recipe=custom to train the keys as given, or leave them empty")
    return parse_params(raw, f"{path} with flow parameters {changed}" if changed else str(path)), changed
