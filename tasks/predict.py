"""Classify image files or folders with any exported model, or write a Kaggle submission.

    python -m tasks.predict PATH... [--model data/export/model.onnx] [--submission out.csv]

Not a pipeline stage: a tool over the export stage's output. Prints one line per image (file,
label, p(dog)); files that cannot be read are skipped with a warning.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.core.cli import describe
from tasks.core.errors import StageError
from tasks.core.paths import LABELS, Paths
from tasks.formats.writers import load
from tasks.runtime.arrays import load_image

log = logging.getLogger("tasks.predict")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
BATCH = 64


@dataclass(frozen=True)
class Prediction:
    path: Path
    label: str
    p_dog: float


def expand(inputs: list[Path]) -> list[Path]:
    """Files as given, and the images inside folders (sorted, recursively)."""
    files: list[Path] = []
    for item in inputs:
        if not item.exists():
            raise StageError(f"{item}: no such file or folder")
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(item)
    return files


def classify(model_path: Path, files: list[Path], image_size: int) -> list[Prediction]:
    """p(dog) for each readable file; unreadable ones are logged and skipped."""
    if not model_path.exists():
        raise StageError(f"{model_path}: no such model; run the pipeline (make run) or pass --model")
    try:
        run = load(model_path)
    except StageError:
        raise
    except Exception as err:  # corrupt file, refused by safe_mode, missing runtime
        raise StageError(f"{model_path}: cannot load: {type(err).__name__}: {err}") from None
    readable, pixels = [], []
    for path in files:
        try:
            pixels.append(load_image((path, image_size)))
            readable.append(path)
        except (StageError, OSError) as err:
            log.warning("skipped: %s", err if str(path) in str(err) else f"{path}: {err}")
    p_dog = np.concatenate([run(np.stack(pixels[i:i + BATCH])) for i in range(0, len(pixels), BATCH)]
                           ) if pixels else np.array([])
    return [Prediction(path, LABELS[int(p >= 0.5)], float(p))
            for path, p in zip(readable, p_dog, strict=True)]


def write_submission(predictions: list[Prediction], out: Path) -> Path:
    """Kaggle's `id,label` (1 = dog, 0 = cat) for test1/N.jpg files, sorted by id."""
    rows = sorted((int(p.path.stem), int(p.label == "dog")) for p in predictions if p.path.stem.isdigit())
    with open(out, "w", newline="") as fh:
        csv.writer(fh).writerows([("id", "label"), *rows])
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.predict`: see --help."""
    default = Paths().export / "model.keras"
    parser = argparse.ArgumentParser(prog="python -m tasks.predict", description=describe(__doc__))
    parser.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    parser.add_argument("--model", type=Path, default=default,
                        help=f"an exported .keras, .tflite, .onnx or SavedModel folder (default: {default})")
    parser.add_argument("--image-size", type=int,
                        help="model input size (default: read from model_card.json beside --model)")
    parser.add_argument("--submission", type=Path, help="also write Kaggle's id,label CSV here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        if not args.model.exists():
            raise StageError(f"{args.model}: no such model; run the pipeline (make run) or pass --model")
        size = args.image_size or _card_image_size(args.model)
        predictions = classify(args.model, expand(args.paths), size)
    except StageError as err:
        print(f"error: predict: {err}", file=sys.stderr)
        return 1
    for p in predictions:
        print(f"{p.path}\t{p.label}\t{p.p_dog:.4f}")
    if args.submission:
        log.info("wrote %s", write_submission(predictions, args.submission))
    return 0


def _card_image_size(model: Path) -> int:
    card = model.parent / "model_card.json"
    try:
        return int(json.loads(card.read_text())["image_size"])
    except (OSError, KeyError, ValueError) as err:
        raise StageError(f"{card}: cannot read the model's image size ({err}); pass --image-size") from None


if __name__ == "__main__":
    raise SystemExit(main())
