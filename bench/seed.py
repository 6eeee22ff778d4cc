"""Side by side with the book: its own input path and model against ours, same data, same
device, same process.

    python -m bench.seed [--images 96] [--batch 32]

The book's path (ch. 8-9): `image_dataset_from_directory` at 180 px, batch 32, and the model
with RandomFlip/RandomRotation/RandomZoom layers inside it. Ours (tasks/runtime/trainer.py, as tasks.train runs it): the
decoded uint8 array cache, fed as tasks.runtime.feed.batches, and the fused augmentation layer. Both train xception_mini with
RMSprop on the first `images` training photos: one warm-up epoch, then one timed epoch.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.data import prepare
from bench.harness import describe, record, write


def epoch_seconds(model, data, **fit) -> float:
    """Seconds of one epoch after a warm-up epoch (which compiles)."""
    model.fit(data, epochs=1, verbose=0, **fit)
    started = time.perf_counter()
    model.fit(data, epochs=1, verbose=0, **fit)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    """Time both paths, print and write img/s, epoch times and our ratio against the book."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    import keras

    from tasks.core.config import Train
    from tasks.networks import zoo
    from tasks.runtime.arrays import load_split
    from tasks.runtime.feed import batches
    from tasks.runtime.trainer import assemble

    cfg = Train(model="xception_mini", image_size=180)
    steps = args.images // args.batch
    with tempfile.TemporaryDirectory() as scratch:
        _, paths, _, what = prepare(Path(scratch))
        book_data = keras.utils.image_dataset_from_directory(
            paths.split / "train", image_size=(180, 180), batch_size=args.batch, seed=0).take(steps)
        augmentation = keras.Sequential([keras.layers.RandomFlip("horizontal"),
                                         keras.layers.RandomRotation(0.1), keras.layers.RandomZoom(0.2)])
        inputs = keras.Input(shape=(180, 180, 3))
        book = keras.Model(inputs, zoo.build(cfg)(augmentation(inputs)))
        book.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
        book_s = epoch_seconds(book, book_data)

        x, y = load_split(paths, "train", 180)
        x, y = x[:steps * args.batch], y[:steps * args.batch]
        ours = assemble(cfg, seed=0).fit_model  # exactly what tasks.train fits
        ours_s = epoch_seconds(ours, batches(x, y, args.batch))
    n, backend = steps * args.batch, keras.backend.backend()
    results = [
        record(f"seed {backend}: book's path, xception_mini 180px aug on", n / book_s, "img/s", backend=backend,
               data=what),
        record(f"seed {backend}: our path, xception_mini 180px aug on", n / ours_s, "img/s", backend=backend,
               data=what, ratio_vs_book=round(book_s / ours_s, 3)),
        record(f"seed {backend}: epoch time, book's / ours", book_s / ours_s, "x", backend=backend,
               epoch_s_book=round(book_s, 2), epoch_s_ours=round(ours_s, 2), images=n),
    ]
    for r in results:
        print(f"{r['name']:48} {r['value']:8.2f} {r['unit']}")
    print("written:", write(results, "cpu"))


if __name__ == "__main__":
    main()
