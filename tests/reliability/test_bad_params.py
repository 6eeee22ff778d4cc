"""Every params.yaml key with a value of the wrong type, and every key with bounds or choices
with a value outside them: `python -m tasks.split` (the cheapest stage: all stages load params
the same way, before any work) must exit 2 naming the key and write nothing. The matrix is
generated from the pydantic models in tasks/core/config.py, so a new key is covered by itself."""
from __future__ import annotations

import sys
import time
import types
from pathlib import Path
from typing import Literal, Union, get_args, get_origin

import annotated_types as at
import pytest
import yaml
from dvc.utils.serialize import load_yaml as dvc_load_yaml

from tasks.core.config import Params
from tasks.core.params_file import ParamsError, load_params

from ..conftest import REPO, tiny_params, write_params
from .harness import Project

CHECKOUT = Project(REPO)  # runs `python -m tasks.*` from here, on a --root in tmp_path
pytestmark = pytest.mark.reliability("params")


def leaves() -> dict[str, tuple[type, list]]:
    """'section.key' -> (the field's type without Optional, its constraint metadata)."""
    found = {}
    for name, section in Params.model_fields.items():
        if name == "recipes":  # a mapping of named recipes: tests/core/test_recipes.py
            continue
        for key, field in section.annotation.model_fields.items():
            kind = field.annotation
            if get_origin(kind) in (Union, types.UnionType):  # X | None: the X is what counts
                args = [a for a in get_args(kind) if a is not type(None)]
                kind = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
            found[f"{section.alias or name}.{key}"] = (kind, field.metadata)
    return found


def wrong_type(kind: type) -> object:
    """A value of another type: text where a number or flag belongs, a number where text or
    a choice belongs, a fraction where a choice or a count belongs, one string where a list
    belongs."""
    if kind in (int, float, bool):
        return {int: "12", float: "0.5", bool: "yes"}[kind]
    if get_origin(kind) is Union:  # a choice or a count (train.devices): a fraction is neither
        return 0.5
    return "keras" if get_origin(kind) is tuple else 12


def out_of_range(kind: type, metadata: list) -> object | None:
    """A value of the right type just outside the first bound or choice, or None if none."""
    if get_origin(kind) is Literal:
        return "no-such-choice"
    if get_origin(kind) is tuple and get_origin(get_args(kind)[0]) is Literal:
        return ["no-such-choice"]
    cast = float if kind is float else int
    for rule in metadata:
        if isinstance(rule, at.Ge | at.Gt):  # below the floor, or on an open one
            return cast(rule.ge - 1) if isinstance(rule, at.Ge) else cast(rule.gt)
        if isinstance(rule, at.Le | at.Lt):
            return cast(rule.le + 1) if isinstance(rule, at.Le) else cast(rule.lt)
        if isinstance(rule, at.MinLen):
            return "x" * (rule.min_length - 1)
        if getattr(rule, "pattern", None):
            return "does not match"
    return None


CASES = [pytest.param(key, wrong_type(kind), id=f"{key}: wrong type") for key, (kind, _) in leaves().items()]
CASES += [pytest.param(key, bad, id=f"{key}: out of range") for key, (kind, meta) in leaves().items()
          if (bad := out_of_range(kind, meta)) is not None]


def test_the_matrix_covers_every_key():
    assert len(leaves()) >= 27 and {c.values[0] for c in CASES} == set(leaves())


@pytest.mark.parametrize("key, value", CASES)
def test_bad_value_exits_2_naming_the_key_before_any_work(tmp_path: Path, key: str, value: object):
    section, name = key.split(".")
    params = tiny_params().model_dump(mode="json", by_alias=True)
    params[section][name] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    done = CHECKOUT.run(sys.executable, "-m", "tasks.split", "--params", path, "--root", tmp_path)
    assert done.returncode == 2, (value, done.stderr[-2000:])
    assert f"  {key}" in done.stderr and "invalid parameters" in done.stderr, done.stderr
    assert not (tmp_path / "data").exists()


def test_missing_download_path_exits_1_naming_it(tmp_path: Path):
    gone = tmp_path / "nowhere" / "dogs-vs-cats.zip"
    write_params(tmp_path, tiny_params(download={"source": "local", "path": str(gone)}))
    done = CHECKOUT.run(sys.executable, "-m", "tasks.download", "--params",
                       tmp_path / "params.yaml", "--root", tmp_path)
    assert done.returncode == 1 and f"download.path: {gone} does not exist" in done.stderr
    assert not (tmp_path / "data").exists()


def bomb(levels: int = 9) -> str:
    """A YAML alias bomb ("billion laughs"): ~1 KB that stands for 10^levels values."""
    lines = ["  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, levels)]
    return "\n".join(lines) + f"\n  epochs: *a{levels - 1}\n"


def test_an_alias_bomb_is_refused_at_once_naming_the_alias(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n" + bomb())
    started = time.monotonic()
    with pytest.raises(ParamsError, match=r"line 3: YAML alias \*a0 refused"):
        load_params(path)
    assert time.monotonic() - started < 1
    done = CHECKOUT.run(sys.executable, "-m", "tasks.split", "--params", path, "--root", tmp_path,
                        timeout=60)  # a stage hung here, growing past 3 GB
    assert done.returncode == 2 and "YAML alias *a0 refused" in done.stderr, done.stderr[-2000:]
    assert len(done.stderr) < 1000 and not (tmp_path / "data").exists()


def test_a_duplicated_key_is_refused_naming_it_and_both_lines(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: 3\n  model: residual\nsplit:\n  train: 4\ntrain:\n  batch_size: 8\n")
    done = CHECKOUT.run(sys.executable, "-m", "tasks.split", "--params", path, "--root", tmp_path)
    assert done.returncode == 2, done.stderr
    assert "duplicate key 'train' (lines 1 and 6)" in done.stderr  # not train.epochs reset to 100
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("text", ["017", "0o17", "1_0", "0x10", "1:00", "1e1"])
def test_the_stages_read_each_value_as_dvc_does(tmp_path: Path, text: str):
    """YAML 1.1 (PyYAML) and 1.2 (ruamel, DVC) differ on these; dvc.lock records DVC's value."""
    path = tmp_path / "params.yaml"
    path.write_text(f"train:\n  epochs: {text}\n")
    recorded = dvc_load_yaml(path)["train"]["epochs"]  # what dvc.lock and `dvc params diff` hold
    if isinstance(recorded, int):
        assert load_params(path).train.epochs == recorded
    else:  # text ("1:00" is no sexagesimal 60) or a float: no valid epoch count, for DVC either
        done = CHECKOUT.run(sys.executable, "-m", "tasks.split", "--params", path, "--root", tmp_path)
        assert done.returncode == 2 and f"train.epochs: Input should be a valid integer (got {recorded!r})" \
            in done.stderr, done.stderr
