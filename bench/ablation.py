"""Ablation: each ingredient of the `cpu` recipe taken out alone, at a small fixed budget on the
book's split, scored by validation accuracy over several seeds (mean and spread). The test split
is never read: the recipes are tuned on validation.

    python -m bench.ablation --data ../shared/data/dogs-vs-cats-book.zip [--seeds 42 1 2]
        [--variants full no-smoothing ...] [--epochs 10] [--size 128] [--root .bench/ablation]
    python -m bench.ablation --table [--write]   # the README table from bench/results/

Each run is the train stage as DVC runs it (`python -m tasks.train`) on one validated project,
then the saved model (the best epoch by val_loss, with its mirrored-photo averaging when on) is
scored on the validation split. Results go to bench/results/ablation-<date>.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.harness import REPO, describe, record, write, write_between
from bench.table import ABLATION_BEGIN, ABLATION_END, ablation_markdown

# One ingredient out at a time; "full" is the cpu recipe at the budget. A slower variant (no
# progressive resizing, the book's model) trains the same epochs, and its minutes are shown.
VARIANTS = {
    "full": ("every ingredient of the cpu recipe", {}),
    "rmsprop": ("RMSprop 1e-3, constant (the book's) for AdamW + cosine with warm-up",
                {"optimizer": "rmsprop", "learning_rate": 1e-3, "weight_decay": 0.0,
                 "schedule": "constant", "warmup_epochs": 0}),
    "no-smoothing": ("no label smoothing", {"label_smoothing": 0.0}),
    "book-augment": ("the book's augmentation (zoom 0.2, rotation 0.1) for random-resized crop",
                     {"augmentation": "book", "rotation": 0.1}),
    "no-tta": ("no mirrored-photo averaging", {"tta": False}),
    "no-zoom": ("no test-time zoom (the whole photo)", {"test_crop": 1.0}),
    "no-progressive": ("no progressive resizing (every epoch at full size)", {"progressive": []}),
    "bn-0.99": ("Keras' batch-norm momentum (0.99) for 0.9", {"bn_momentum": 0.99}),
    "xception-mini": ("the book's xception_mini for xception_fast", {"model": "xception_mini"}),
}


def budget(recipe: dict, variant: str, epochs: int, size: int) -> dict:
    """The cpu recipe's train keys cut to `epochs` (the first 60% at 3/4 of `size`), with
    `variant`'s ingredient taken out."""
    early = size * 3 // 4 // 8 * 8
    keys = {**recipe, "image_size": size, "epochs": epochs, "progressive": [[early, epochs * 3 // 5]]}
    return {**keys, **VARIANTS[variant][1]}


def prepare(root: Path, data: Path, per_class: list[int]) -> dict:
    """`data` split as the book splits it (`per_class`: train, validation, test), validated, in
    `root` (kept for the next run on the same data); the raw params."""
    from tasks import download, split, validate
    from tasks.core.params_file import parse_params, read_params_file
    from tasks.core.paths import Paths

    raw = read_params_file(REPO / "params.yaml")
    raw["download"].update(source="local", path=str(data.resolve()))
    raw["split"].update(dict(zip(("train", "validation", "test"), per_class, strict=True)),
                        strategy="index")
    marker, prepared = root / "prepared.json", {"download": raw["download"], "split": raw["split"]}
    if not marker.is_file() or json.loads(marker.read_text()) != prepared:
        shutil.rmtree(root, ignore_errors=True)
        params, paths = parse_params(raw, "bench.ablation"), Paths(root)
        for stage in (download, split, validate):
            stage.run(params, paths)
        marker.write_text(json.dumps(prepared))
    return raw


def train_and_score(root: Path, raw: dict, keys: dict, seed: int) -> dict:
    """Train `keys` from scratch with `seed` as the stage does; the saved model's validation
    accuracy and the train wall seconds."""
    from tasks.core.paths import Paths

    paths = Paths(root)
    shutil.rmtree(paths.train_runs, ignore_errors=True)  # a finished run would be restored
    params_file = root / "params.yaml"
    params = {**raw, "base": {"seed": seed}, "train": {**raw["train"], **keys, "recipe": "custom"}}
    # A copy through JSON: a value shared by two keys would be dumped as a YAML alias, which the
    # params loader refuses.
    params_file.write_text(yaml.safe_dump(json.loads(json.dumps(params)), sort_keys=False))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tasks.train", "--params", str(params_file), "--root",
                    str(root)], cwd=REPO, check=True)
    seconds = time.perf_counter() - started
    child = subprocess.run([sys.executable, "-m", "bench.ablation", "--score", str(root),
                            str(keys["image_size"])], cwd=REPO, check=True, capture_output=True, text=True)
    return {**json.loads(child.stdout.strip().splitlines()[-1]), "train_s": round(seconds, 1)}


def score(root: Path, size: int) -> dict:
    """The saved model's accuracy on the validation split at `size`."""
    from tasks.core.paths import Paths
    from tasks.evaluate import score as scores
    from tasks.runtime.arrays import load_split
    from tasks.runtime.feed import batches

    paths = Paths(root)
    x, y = load_split(paths, "validation", size)
    from tasks.networks import tta  # imports keras: after the decode's worker processes

    p_dog = tta.load(paths.model).predict(batches(x, batch_size=32), verbose=0).ravel()
    return {"validation_accuracy": round(scores(y, p_dog)["accuracy"], 4)}


def main(argv: list[str] | None = None) -> None:
    """Run every variant for every seed, print and write; or print/write the table."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--data", type=Path, help="the book zip, or a folder of its photos")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--split", nargs=3, type=int, default=[1000, 500, 1000],
                        metavar=("TRAIN", "VALIDATION", "TEST"), help="images per class")
    parser.add_argument("--root", type=Path, default=REPO / ".bench" / "ablation")
    parser.add_argument("--table", action="store_true", help="print the table from bench/results/")
    parser.add_argument("--write", action="store_true", help="write the table in README.md")
    parser.add_argument("--score", nargs=2, help=argparse.SUPPRESS)  # the scoring child process
    args = parser.parse_args(argv)
    if args.score:
        print(json.dumps(score(Path(args.score[0]), int(args.score[1]))))
        return
    if not args.table:
        if args.data is None or not args.data.exists():
            raise SystemExit(f"--data {args.data}: give the book zip or a folder of its photos")
        raw = prepare(args.root, args.data, args.split)
        results = []
        for seed in args.seeds:  # seed-major: a run cut short still covers every variant
            for variant in args.variants:
                keys = budget(raw["recipes"]["cpu"], variant, args.epochs, args.size)
                got = train_and_score(args.root, raw, keys, seed)
                results.append(record(f"ablation: {variant}, seed {seed}", got["validation_accuracy"],
                                      "validation accuracy", variant=variant, seed=seed,
                                      ingredient=VARIANTS[variant][0],
                                      epochs=args.epochs, size=args.size, **got))
                print(f"{variant:16} seed {seed:3}: {got}", flush=True)
                write(results, "ablation")  # after each run: hours of work survive a kill
    table = ablation_markdown()
    print(table)
    if args.write:
        write_between(ABLATION_BEGIN, ABLATION_END, table)


if __name__ == "__main__":
    main()
