"""Recipes: train.recipe puts a named, complete way to train in force; a recipe that is not
complete, names a hardware knob, or holds a bad value is refused, naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.book import BOOK
from tasks.core.params_file import ParamsError, load_params, parse_params
from tasks.core.train_params import TRAINING_KEYS, Train

from ..conftest import REPO

COMMITTED = load_params(REPO / "params.yaml")


def recipe(**changes) -> dict:
    return {**COMMITTED.recipes["book"], **changes}


def test_the_committed_recipes_are_complete_and_book_is_the_seeds_configuration():
    assert {"book", "cpu", "gpu"} <= set(COMMITTED.recipes)
    for values in COMMITTED.recipes.values():
        assert set(values) == TRAINING_KEYS
    book = COMMITTED.recipes["book"]
    assert {k: book[k] for k in BOOK} == BOOK  # what bench.book runs as the book's configuration
    assert book["epochs"] == 100 and book["optimizer"] == "rmsprop"
    assert book["schedule"] == "constant" and book["augmentation"] == "book"
    assert (book["rotation"], book["label_smoothing"], book["tta"]) == (0.1, 0.0, False)
    # Train's own defaults are the book's: a recipe-less config trains what the book trains
    defaults = Train().model_dump(mode="json")
    assert {k: defaults[k] for k in TRAINING_KEYS} == {k: v if not isinstance(v, tuple) else list(v)
                                                       for k, v in book.items()}


def test_naming_a_recipe_replaces_every_training_key_and_keeps_the_machines_knobs():
    params = parse_params({"train": {"recipe": "small", "epochs": 3, "jit_compile": "off"},
                           "recipes": {"small": recipe(epochs=7, image_size=96, tta=True)}}, "p")
    assert (params.train.recipe, params.train.epochs, params.train.image_size) == ("small", 7, 96)
    assert params.train.tta is True and params.train.jit_compile == "off"
    assert parse_params({"train": {"epochs": 3}, "recipes": {"small": recipe()}}, "p").train.epochs == 3


@pytest.mark.parametrize(("raw", "named"), [
    ({"train": {"recipe": "fast"}}, "train.recipe 'fast' is not in recipes"),
    ({"recipes": {"x": {"epochs": 5}}}, "recipes.x must set every training key"),
    ({"recipes": {"x": recipe(backend="jax")}}, "recipes.x: backend cannot be set by a recipe"),
    ({"recipes": {"x": recipe(epoch=5)}}, "recipes.x: epoch cannot be set"),
    ({"recipes": {"x": recipe(epochs=0)}}, "recipes.x.epochs"),
    ({"recipes": {"x": recipe(progressive=[[64, 100]])}}, "train.progressive must leave epochs"),
    ({"recipes": {"x": "cpu"}}, "recipes.x must be a mapping"),
])
def test_a_bad_recipe_is_refused_naming_it(raw: dict, named: str):
    with pytest.raises(ParamsError, match=named.replace(".", r"\.").replace("(", r"\(")):
        parse_params(raw, "params.yaml")


def test_progressive_sizes_and_their_order():
    cfg = Train(image_size=128, epochs=5, progressive=((64, 1), (96, 2)))
    assert [cfg.size_at(e) for e in range(5)] == [64, 96, 96, 128, 128]
    assert cfg.sizes == [64, 96, 128]
    assert Train(image_size=64).sizes == [64]
    with pytest.raises(ValueError, match="must not exceed"):
        Train(image_size=64, epochs=5, progressive=((96, 1),))
    with pytest.raises(ValueError, match="pools globally"):
        Train(model="simple", image_size=96, epochs=5, progressive=((80, 1),))


def test_the_committed_params_file_names_a_recipe_that_exists(tmp_path: Path):
    text = (REPO / "params.yaml").read_text().replace("recipe: custom", "recipe: cpu", 1)
    (tmp_path / "params.yaml").write_text(text)
    params = load_params(tmp_path / "params.yaml")
    assert params.train.recipe == "cpu" and params.train.model == COMMITTED.recipes["cpu"]["model"]
