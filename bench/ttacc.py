"""Time to accuracy, in the manner of DAWNBench: a recipe's wall time from a fresh clone and a
cold cache to its final test accuracy on the book's split, and the seed's own recipe trained for
the same wall time on the same photos, side by side.

    python -m bench.ttacc --data ../shared/data/dogs-vs-cats-book.zip [--recipes cpu]
                          [--seeds 42 1 2] [--no-side-by-side] [--tag cpu]
    python -m bench.ttacc --after /tmp/s1/repo:1346 ...   # record make book runs already made

Each run is the user's command, `make book DATA=... RECIPE=... SEED=...`, in a fresh clone of
the committed tree (this venv, nothing installed): a DVC experiment, gated at 88.3%. Then, for
the first seed, its split is checked out and the seed's path (ch. 8-9: image_dataset_from_directory
at 180 px, batch 32, augmentation layers inside the model, xception_mini, RMSprop 1e-3, the best
epoch by validation loss) trains for that wall time in a child process and is tested. Results go to
bench/results/<tag>-<date>.json (README, "Recipes").
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.harness import REPO, describe, record, write

STAMP = ".venv/.installed-from-lock"  # the Makefile's install stamp: the clone borrows this venv
# Keras' per-epoch figures: training (the epoch's running mean) and validation.
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def clone(into: Path) -> Path:
    """A fresh clone of the committed tree at `into`/repo, using this checkout's venv."""
    repo = into / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(repo)], check=True)
    (repo / ".venv").symlink_to(REPO / ".venv")
    return repo


def run_recipe(repo: Path, data: Path, recipe: str, seed: int) -> dict:
    """`make book` in `repo`, timed; the experiment's name, wall seconds and metrics."""
    started = time.perf_counter()
    subprocess.run(["make", "-o", STAMP, "book", f"DATA={data.resolve()}", f"RECIPE={recipe}",
                    f"SEED={seed}"], cwd=repo, check=True)
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 1), **newest_experiment(json.loads(dvc(repo, "exp", "show", "--json")))}


def newest_experiment(shown: list[dict]) -> dict:
    """From `dvc exp show --json`: the newest experiment's name, recipe and seed, and its test,
    validation and gate figures."""
    runs = [rev for base in shown for exp in base.get("experiments") or () for rev in exp["revs"]]
    if not runs:
        raise SystemExit("dvc exp show lists no experiment: did make book fail?")
    newest = max(runs, key=lambda r: r["data"]["timestamp"])
    metrics = {path: m["data"] for path, m in newest["data"]["metrics"].items()}
    params = newest["data"]["params"]["params.yaml"]["data"]
    return {"experiment": newest["name"], "recipe": params["train"]["recipe"],
            "seed": params["base"]["seed"],
            "test_accuracy": metrics["data/metrics/evaluate.json"]["test"]["accuracy"],
            "validation_accuracy": metrics["data/live/metrics.json"]["validation"]["accuracy"],
            "blessed": metrics["data/metrics/gate.json"]["blessed"]}


def made_runs(args: argparse.Namespace, scratch: Path) -> Iterator[tuple[Path, dict]]:
    """(clone, run) for each recipe and seed: `make book` now in a fresh clone, or the runs
    --after names (a clone that made one, and its wall seconds)."""
    for item in args.after or ():
        where, wall = item.rsplit(":", 1)
        shown = json.loads(dvc(Path(where), "exp", "show", "--json"))
        made_at = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=where, check=True,
                                 capture_output=True, text=True).stdout.strip()
        yield Path(where), {"wall_s": float(wall), **newest_experiment(shown), "commit": made_at}
    for recipe in () if args.after else args.recipes:
        for seed in args.seeds:
            repo = clone(scratch / f"{recipe}-{seed}")
            yield repo, run_recipe(repo, args.data, recipe, seed)


def seed_recipe(split: Path, seconds: float, seed: int, epochs: int = 10_000) -> dict:
    """The seed's recipe on `split`/{train,validation,test} for `seconds` of training wall time
    (it stops mid-epoch at the deadline) or `epochs`, then the best epoch's test accuracy, and
    each epoch's training and validation loss and accuracy."""
    import keras

    from tasks.core.config import Train
    from tasks.networks import zoo

    keras.utils.set_random_seed(seed)

    class Deadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):  # stop at the first batch past it
            if time.perf_counter() >= started + seconds:
                self.model.stop_training = True

    def photos(part: str, shuffle: bool):
        return keras.utils.image_dataset_from_directory(
            split / part, image_size=(180, 180), batch_size=32, label_mode="binary",
            shuffle=shuffle, seed=seed, verbose=False)

    augmentation = keras.Sequential([keras.layers.RandomFlip("horizontal"),
                                     keras.layers.RandomRotation(0.1), keras.layers.RandomZoom(0.2)])
    inputs = keras.Input(shape=(180, 180, 3))
    model = keras.Model(inputs, zoo.build(Train(model="xception_mini", image_size=180))(augmentation(inputs)))
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop(1e-3),
                  metrics=["accuracy"])
    with tempfile.TemporaryDirectory() as scratch:
        best = Path(scratch) / "best.keras"
        started = time.perf_counter()
        history = model.fit(photos("train", True), validation_data=photos("validation", False),
                            epochs=epochs, verbose=0, callbacks=[
                                Deadline(),
                                keras.callbacks.ModelCheckpoint(best, monitor="val_loss",
                                                                save_best_only=True)])
        trained = time.perf_counter() - started
        _, accuracy = keras.models.load_model(best).evaluate(photos("test", False), verbose=0)
    return {"test_accuracy": round(float(accuracy), 4), "train_s": round(trained, 1),
            "epochs": len(history.history["loss"]),
            "best_validation_accuracy": round(max(history.history["val_accuracy"]), 4),
            **{m: [round(v, 4) for v in history.history[m]] for m in EPOCH_METRICS}}


def dvc(repo: Path, *args: str) -> str:
    """`dvc <args>` in `repo`, with this venv's DVC; its standard output."""
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def main(argv: list[str] | None = None) -> None:
    """Run (or take, with --after) each recipe for each seed, the seed's recipe beside each
    recipe's first run; print and write."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--data", type=Path, help="the book zip, or a folder")
    parser.add_argument("--recipes", nargs="+", default=["cpu"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--no-side-by-side", dest="side", action="store_false")
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--after", nargs="+", metavar="CLONE:WALL_S", help="record `make book` "
                        "runs already made (a clone and its wall seconds) instead of running them")
    parser.add_argument("--seed-only", nargs=4, metavar=("SPLIT", "SECONDS", "SEED", "EPOCHS"),
                        help=argparse.SUPPRESS)  # the child process of a side-by-side run
    args = parser.parse_args(argv)
    if args.seed_only:
        split, seconds, seed, epochs = args.seed_only
        print(json.dumps(seed_recipe(Path(split), float(seconds), int(seed), int(epochs))))
        return
    if not args.after and (args.data is None or not args.data.exists()):
        raise SystemExit(f"--data {args.data}: give the book zip or a folder of its photos")
    results, by_recipe = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for repo, run in made_runs(args, Path(scratch)):
            recipe, first = run["recipe"], run["recipe"] not in by_recipe
            by_recipe.setdefault(recipe, []).append(run)
            results.append(record(f"time to accuracy: {recipe} recipe, seed {run['seed']}",
                                  run["test_accuracy"], "test accuracy", **run))
            if args.side and first:
                results.append(side_by_side(repo, run))
            write(results, args.tag)  # after each run: an hour's work survives a kill
    for recipe, runs in by_recipe.items():
        accuracies = [r["test_accuracy"] for r in runs]
        results.append(record(f"time to accuracy: {recipe} recipe, {len(runs)} seeds, mean",
                              statistics.mean(accuracies), "test accuracy",
                              seeds=[r["seed"] for r in runs], min=min(accuracies),
                              max=max(accuracies), wall_s=[r["wall_s"] for r in runs]))
    for r in results:
        print(f"{r['name']:58} {r['value']:.4f} {r['unit']}")
    print("written:", write(results, args.tag))


def side_by_side(repo: Path, run: dict) -> dict:
    """The seed's recipe for `run`'s wall time on the split `run` made, in a child process."""
    dvc(repo, "exp", "apply", run["experiment"])
    dvc(repo, "checkout", "data/split")
    child = subprocess.run([sys.executable, "-m", "bench.ttacc", "--seed-only", str(repo / "data" / "split"),
                            str(run["wall_s"]), str(run["seed"]), "10000"],
                           cwd=REPO, check=True, capture_output=True, text=True)
    seed_run = json.loads(child.stdout.strip().splitlines()[-1])
    return record(f"time to accuracy: the seed's recipe for the {run['recipe']} recipe's wall time",
                  seed_run["test_accuracy"], "test accuracy", **seed_run, seed=run["seed"],
                  recipe_test_accuracy=run["test_accuracy"])


if __name__ == "__main__":
    main()
