"""A bad params.yaml is reported with the keys the user wrote, every one at once: a typo under
`train:` is `train.<key>`, not a recipe's key, even when recipes are defined."""
from __future__ import annotations

import pytest

from tasks.core.params_file import ParamsError, parse_params, read_params_file

from ..conftest import REPO


def _error(raw: dict) -> str:
    with pytest.raises(ParamsError) as caught:
        parse_params(raw, "params.yaml")
    return str(caught.value)


def test_bad_train_keys_are_named_as_written_all_at_once():
    raw = read_params_file(REPO / "params.yaml")
    assert raw["recipes"], "the committed params.yaml defines recipes"
    raw["train"].update(colour="red", epochs=0)
    said = _error(raw)
    assert "train.colour: unknown key" in said and "train.epochs: Input should be greater" in said
    assert "recipes." not in said


def test_every_bad_recipe_key_is_named():
    raw = read_params_file(REPO / "params.yaml")
    first, second = list(raw["recipes"])[:2]
    raw["recipes"][first]["epochs"] = 0
    raw["recipes"][second]["colour"] = 1
    said = _error(raw)
    assert f"recipes.{first}.epochs" in said and f"recipes.{second}: colour cannot be set" in said
