"""The `book` recipe against the seed's own code, first epochs side by side: the same photos
(the book's split), the same configuration (xception_mini, 180 px, batch 32, RMSprop 1e-3,
flip/rotation/zoom, Keras' batch-norm momentum), each epoch's validation loss and accuracy over
several seeds. Its first epochs must match within the seeds' noise. Training loss and accuracy
are compared too: at Keras' momentum 0.99 batch norm's moving statistics lag for the first
epochs, so validation sits at chance while training already learns.

    python -m bench.book_vs_seed --data ../shared/data/dogs-vs-cats-book.zip [--epochs 3]
                                 [--seeds 42 1 2] [--root .bench/book-vs-seed]

Ours is the train stage as DVC runs it (`python -m tasks.train`, train.recipe's keys with
`epochs` cut: the book's schedule is constant, so the first epochs are those of the 100); the
seed's is ch. 8-9's code (bench.ttacc.seed_recipe). Results go to bench/results/book-vs-seed-<date>.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from bench.ablation import prepare, train_and_score
from bench.harness import REPO, describe, record, write
from bench.ttacc import EPOCH_METRICS


def our_epochs(root: Path, raw: dict, epochs: int, seed: int) -> dict:
    """The book recipe for `epochs` through the train stage; each epoch's training and validation
    figures (DVCLive's logs, named as Keras names them)."""
    got = train_and_score(root, raw, {**raw["recipes"]["book"], "epochs": epochs}, seed)
    logs = root / "data" / "live" / "plots" / "metrics"
    read = {f"{prefix}{m}": [round(float(r[m]), 4) for r in
                             csv.DictReader((logs / part / f"{m}.tsv").open(), delimiter="\t")]
            for part, prefix in (("train", ""), ("validation", "val_")) for m in ("loss", "accuracy")}
    return {**read, "train_s": got["train_s"]}


def seed_epochs(root: Path, epochs: int, seed: int) -> dict:
    """The seed's code for `epochs` on the same split, in a child process."""
    child = subprocess.run([sys.executable, "-m", "bench.ttacc", "--seed-only", str(root / "data" / "split"),
                            "1e9", str(seed), str(epochs)], cwd=REPO, check=True, capture_output=True,
                           text=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def compare(ours: list[dict], theirs: list[dict], metric: str) -> list[dict]:
    """Per epoch: both means and sds over the seeds, their difference, and whether it lies within
    two standard errors of a difference of means (Welch), the seeds' noise."""
    rows = []
    for epoch in range(len(ours[0][metric])):
        a, b = [r[metric][epoch] for r in ours], [r[metric][epoch] for r in theirs]
        sd_a, sd_b = (statistics.stdev(x) if len(x) > 1 else 0.0 for x in (a, b))
        noise = 2 * math.sqrt(sd_a**2 / len(a) + sd_b**2 / len(b))
        diff = statistics.mean(a) - statistics.mean(b)
        rows.append({"epoch": epoch + 1, "ours": round(statistics.mean(a), 4), "ours_sd": round(sd_a, 4),
                     "seed": round(statistics.mean(b), 4), "seed_sd": round(sd_b, 4),
                     "difference": round(diff, 4), "two_se": round(noise, 4),
                     "within_noise": abs(diff) <= noise})
    return rows


def main(argv: list[str] | None = None) -> None:
    """Both codes for every seed; print the comparison and write the records."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--data", type=Path, help="the book zip, or a folder of its photos")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--split", nargs=3, type=int, default=[1000, 500, 1000],
                        metavar=("TRAIN", "VALIDATION", "TEST"), help="images per class")
    parser.add_argument("--root", type=Path, default=REPO / ".bench" / "book-vs-seed")
    args = parser.parse_args(argv)
    if args.data is None or not args.data.exists():
        raise SystemExit(f"--data {args.data}: give the book zip or a folder of its photos")
    raw = prepare(args.root, args.data, args.split)
    ours, theirs, results = [], [], []
    for seed in args.seeds:
        ours.append(our_epochs(args.root, raw, args.epochs, seed))
        theirs.append(seed_epochs(args.root, args.epochs, seed))
        for who, got in (("the book recipe", ours[-1]), ("the seed's code", theirs[-1])):
            results.append(record(f"book vs seed: {who}, seed {seed}", got["val_accuracy"][-1],
                                  f"validation accuracy after {args.epochs} epochs", seed=seed,
                                  **{m: got[m] for m in EPOCH_METRICS}))
        write(results, "book-vs-seed")
    for metric in EPOCH_METRICS:
        rows = compare(ours, theirs, metric)
        results.append(record(f"book vs seed: {metric}, {len(args.seeds)} seeds", rows[-1]["difference"],
                              "difference of means (ours - seed's)", epochs=rows,
                              within_noise=all(r["within_noise"] for r in rows)))
        print(metric)
        for r in rows:
            print(f"  epoch {r['epoch']}: ours {r['ours']:.4f} ± {r['ours_sd']:.4f}, seed's "
                  f"{r['seed']:.4f} ± {r['seed_sd']:.4f}, difference {r['difference']:+.4f} "
                  f"(2 SE {r['two_se']:.4f}): {'within noise' if r['within_noise'] else 'OUTSIDE noise'}")
    print("written:", write(results, "book-vs-seed"))


if __name__ == "__main__":
    main()
