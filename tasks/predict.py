"""Classify image files or folders with any exported model, or write a Kaggle submission.

    python -m tasks.predict PATH... [--model data/export/model.onnx] [--submission out.csv [--force]]

Not a pipeline stage: a tool over the export stage's output. Prints one line per image (file,
label, p(dog)); files that cannot be read, and anything that is not a regular file, are skipped
with a warning. Images are read as training read them (tasks/runtime/images.py).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.core.cli import describe
from tasks.core.errors import StageError
from tasks.core.paths import LABELS, Paths
from tasks.reports import submission
from tasks.runtime.images import read_image

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
    # Imported here: Keras takes seconds to import, and a wrong argument is refused before that.
    from tasks.formats.writers import load

    run = load(model_path)
    readable, pixels = [], []
    for path in files:
        try:
            pixels.append(read_image(path, image_size))
            readable.append(path)
        except (StageError, OSError) as err:
            log.warning("skipped: %s", err if str(path) in str(err) else f"{path}: {err}")
    try:
        p_dog = np.concatenate([run(np.stack(pixels[i:i + BATCH])) for i in range(0, len(pixels), BATCH)]
                               ) if pixels else np.array([])
    except Exception as err:  # e.g. --image-size not the model's input size
        raise StageError(f"{model_path}: cannot run on {image_size}x{image_size} images: "
                         f"{type(err).__name__}: {str(err)[:500]}") from None
    return [Prediction(path, LABELS[int(p >= 0.5)], float(p))
            for path, p in zip(readable, p_dog, strict=True)]


def write_submission(predictions: list[Prediction], out: Path) -> Path:
    """Kaggle's `id,label` CSV (see tasks.reports.submission) for the test1/N.jpg files."""
    return submission.write(((p.path, p.label) for p in predictions), out)


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
    parser.add_argument("--force", action="store_true",
                        help="let --submission replace a file that is not an earlier submission")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        if args.submission:
            submission.check_target(args.submission, args.force)
        if not args.model.exists():
            raise StageError(f"{args.model}: no such model; run the pipeline (make run) or pass --model")
        card = _card(args.model)
        size = args.image_size or _card_image_size(card, args.model)
        _warn_if_synthetic(card, args.model)
        predictions = classify(args.model, expand(args.paths), size)
        for p in predictions:
            print(f"{p.path}\t{p.label}\t{p.p_dog:.4f}")
        if args.submission:  # checked again: the file may have appeared while classifying
            submission.check_target(args.submission, args.force)
            log.info("wrote %s", write_submission(predictions, args.submission))
    except StageError as err:
        print(f"error: predict: {err}", file=sys.stderr)
        return 1
    return 0


def _card(model: Path) -> dict | None:
    """The model card beside `model` (None if there is none, or if it is not JSON)."""
    try:
        card = json.loads((model.parent / "model_card.json").read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def _card_image_size(card: dict | None, model: Path) -> int:
    try:
        return int(card["image_size"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise StageError(f"{model.parent / 'model_card.json'}: cannot read the model's image size "
                         "(missing or not valid JSON); pass --image-size") from None


def _warn_if_synthetic(card: dict | None, model: Path) -> None:
    data = (card or {}).get("data")
    if isinstance(data, dict) and data.get("source") == "sample":
        log.warning("%s was trained on the synthetic sample (drawn cats and dogs; %s says "
                    "data.source: sample): it is not fit to classify real photos, and its labels "
                    "for them mean nothing", model, model.parent / "model_card.json")


if __name__ == "__main__":
    raise SystemExit(main())
