"""Test-time views, measured on trained models: one saved model's network scored on the
validation split under each view set (the whole photo or its centre zoomed back, with or without
the mirror image), so each view's effect is paired on the same weights. Test is never read.

    python -m bench.views /tmp/r42/repo /tmp/r1/repo /tmp/r2/repo [--crop 0.875] [--size 160]

Each argument is a project root with data/model/model.keras and a validated split (a clone
after `make book` and `dvc exp apply <name>`). Results go to bench/results/views-<date>.json.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.harness import REPO, describe, record, write
from tasks.core.params_file import read_params_file

VIEWS = {"whole photo": (False, False), "whole photo + mirror": (False, True),
         "centre zoom": (True, False), "centre zoom + mirror": (True, True)}  # (zoom, mirror)


def score(root: Path, size: int, crop: float) -> dict[str, float]:
    """The validation accuracy of `root`'s saved network under each of VIEWS."""
    from tasks.core.paths import Paths
    from tasks.evaluate import score as scores
    from tasks.runtime.arrays import load_split

    paths = Paths(root)
    if not paths.model.is_file():
        raise SystemExit(f"{paths.model}: no trained model (after make book: dvc exp apply <name>)")
    x, y = load_split(paths, "validation", size)  # decodes in worker processes: before keras
    import keras

    from tasks.networks import tta

    saved = tta.load(paths.model)
    network = next((layer for layer in saved.layers if isinstance(layer, keras.Model)), saved)
    return {view: round(scores(y, tta.with_tta(network, mirror, crop if zoom else 1.0)
                               .predict(x, batch_size=50, verbose=0).ravel())["accuracy"], 4)
            for view, (zoom, mirror) in VIEWS.items()}


def main(argv: list[str] | None = None) -> None:
    """Score every project under every view set; per view, the mean over projects; print, write."""
    cpu = read_params_file(REPO / "params.yaml")["recipes"]["cpu"]
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("projects", nargs="+", type=Path)
    parser.add_argument("--size", type=int, default=cpu["image_size"], help="the model's input size")
    parser.add_argument("--crop", type=float, default=cpu["test_crop"], help="the zoom's centre share")
    parser.add_argument("--tag", default="views")
    args = parser.parse_args(argv)
    by_view: dict[str, list[float]] = {view: [] for view in VIEWS}
    results = []
    for root in args.projects:
        for view, accuracy in score(root, args.size, args.crop).items():
            by_view[view].append(accuracy)
            results.append(record(f"views: {view}, {root}", accuracy, "validation accuracy",
                                  view=view, project=str(root), size=args.size, crop=args.crop))
    for view, accuracies in by_view.items():
        results.append(record(f"views: {view}, mean of {len(accuracies)}", statistics.mean(accuracies),
                              "validation accuracy", view=view, min=min(accuracies),
                              max=max(accuracies), size=args.size, crop=args.crop))
        print(f"{view:22} mean {statistics.mean(accuracies):.4f}  each "
              + " ".join(f"{a:.4f}" for a in accuracies))
    print("written:", write(results, args.tag))


if __name__ == "__main__":
    main()
