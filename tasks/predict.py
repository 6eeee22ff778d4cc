"""Classify image files or folders with any exported model, or write a Kaggle submission.

    python -m tasks.predict PATH... [--model data/export/model.onnx] [--submission out.csv [--force]]

Not a pipeline stage: a tool over the export stage's output. Prints one line per image (file,
label, p(dog)), the file name escaped so that one line is always one file
(tasks/reports/printable.py); files that cannot be read, and anything that is not a regular file,
are skipped with a warning, and a run that classifies nothing fails. Images are read as training
read them (tasks/runtime/images.py), at a size within train.image_size's bounds
(tasks/reports/model_input.py).
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.core.cli import describe
from tasks.core.errors import StageError
from tasks.core.paths import LABELS, Paths
from tasks.reports import model_input, submission
from tasks.reports.printable import HOW, escape
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
            log.warning("skipped: %s", escape(str(err) if str(path) in str(err) else f"{path}: {err}"))
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
    parser = argparse.ArgumentParser(
        prog="python -m tasks.predict", description=describe(__doc__),
        epilog=f"Prints file<TAB>label<TAB>p(dog) per image. {HOW} Exit codes: 0 done, 1 refused "
               "or nothing classified, 2 bad usage.")
    parser.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    parser.add_argument("--model", type=Path, default=default,
                        help=f"an exported .keras, .tflite, .onnx or SavedModel folder (default: {default})")
    parser.add_argument("--image-size", type=model_input.image_size_option,
                        help=f"model input size, {model_input.BOUNDS} (default: read from "
                             "model_card.json beside --model)")
    parser.add_argument("--submission", type=Path,
                        help="also write Kaggle's id,label CSV here; each photo must be named by its "
                             "own id in ASCII digits, as test1/123.jpg (01.jpg is id 1)")
    parser.add_argument("--force", action="store_true",
                        help="let --submission replace a file that is not an earlier submission")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        if args.submission:
            submission.check_target(args.submission, args.force)
        if not args.model.exists():
            raise StageError(f"{args.model}: no such model; run the pipeline (make run) or pass --model")
        card = model_input.read_card(args.model)
        size = (args.image_size if args.image_size is not None
                else model_input.card_image_size(card, args.model))
        model_input.warn_if_synthetic(card, args.model)
        files = expand(args.paths)
        if not files:
            raise StageError(f"nothing classified: no image files in {' '.join(map(str, args.paths))} "
                             f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        if args.submission:
            submission.ids(files)  # before the work: every file must have its own id
        predictions = classify(args.model, files, size)
        if not predictions:
            raise StageError(f"nothing classified: every file was skipped ({len(files)} of "
                             f"{len(files)}; see the warnings above)")
        for p in predictions:
            print(f"{escape(str(p.path))}\t{p.label}\t{p.p_dog:.4f}")
        if args.submission:  # checked again: the file may have appeared while classifying
            submission.check_target(args.submission, args.force)
            log.info("wrote %s", escape(str(write_submission(predictions, args.submission))))
    except StageError as err:
        print(f"error: predict: {escape(str(err))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
