"""bench.ablation: the variants are valid train keys, a run on tiny photos trains, scores on
validation and writes its records and the README table; bad input is refused by name."""
from __future__ import annotations

import json

import pytest

from bench import ablation, harness, table
from tasks.core.params_file import read_params_file
from tasks.core.train_params import Train

CPU = read_params_file(harness.REPO / "params.yaml")["recipes"]["cpu"]


@pytest.mark.parametrize("variant", list(ablation.VARIANTS))
def test_each_variant_is_the_cut_cpu_recipe_less_one_ingredient(variant):
    keys = ablation.budget(CPU, variant, epochs=10, size=128)
    Train.model_validate(keys)  # valid train keys, as the stage will read them
    assert keys["epochs"] == 10 and keys["image_size"] == 128
    full, taken_out = ablation.budget(CPU, "full", 10, 128), ablation.VARIANTS[variant][1]
    assert {k: keys[k] for k in taken_out} == taken_out
    assert {k for k in keys if keys[k] != full[k]} <= set(taken_out)  # nothing else changes
    assert (keys != full) == (variant != "full")
    if variant != "no-progressive":
        assert keys["progressive"] == [[96, 6]]  # 3/5 of the epochs at 3/4 of the size


@pytest.fixture
def results(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    monkeypatch.setattr(harness, "RESULTS", folder)
    monkeypatch.setattr(table, "RESULTS", folder)
    return folder


def test_a_tiny_ablation_trains_scores_on_validation_and_writes_the_table(tmp_path, tiny_archive, results):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{table.ABLATION_BEGIN}\nold\n{table.ABLATION_END}\nafter\n")
    ablation.main(["--data", str(tiny_archive), "--seeds", "0", "--variants", "full", "no-tta",
                   "--epochs", "2", "--size", "48", "--split", "4", "2", "4",
                   "--root", str(tmp_path / "root")])
    (written,) = results.glob("ablation-*.json")
    runs = json.loads(written.read_text())["results"]
    assert [(r["variant"], r["seed"]) for r in runs] == [("full", 0), ("no-tta", 0)]
    assert all(0.0 <= r["value"] <= 1.0 and r["train_s"] > 0 for r in runs)
    assert not (tmp_path / "root" / "data" / "metrics" / "evaluate.json").exists()  # no test score
    harness.write_between(table.ABLATION_BEGIN, table.ABLATION_END, table.ablation_markdown(), readme)
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "old" not in text
    assert "| every ingredient of the cpu recipe |" in text and "| no mirrored-photo averaging |" in text


def test_the_bench_needs_the_photos(tmp_path):
    with pytest.raises(SystemExit, match="--data"):
        ablation.main(["--data", str(tmp_path / "missing.zip")])


def test_an_unknown_variant_is_refused(capsys):
    with pytest.raises(SystemExit):
        ablation.main(["--data", "x", "--variants", "no-such-thing"])
    assert "no-such-thing" in capsys.readouterr().err


def test_no_full_run_and_no_markers_are_errors_that_say_so(tmp_path, results):
    with pytest.raises(SystemExit, match="full recipe"):
        table.ablation_markdown()
    (tmp_path / "README.md").write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        harness.write_between(table.ABLATION_BEGIN, table.ABLATION_END, "t", tmp_path / "README.md")
