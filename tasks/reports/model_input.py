"""What predict reads about a model before running it: its input size and whether it was trained
on the synthetic sample.

The size comes from --image-size, else from image_size in the model card beside the model, and
must lie within train.image_size's bounds, read from the params model itself
(tasks/core/train_params.py): a size of 0 or -5 classifies nothing, and one of 100000 asks for
112 GiB per photo.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from tasks.core.errors import StageError
from tasks.core.train_params import Train
from tasks.reports.printable import escape

log = logging.getLogger("tasks.predict")
_METADATA = Train.model_fields["image_size"].metadata  # pydantic's Ge and Le constraints
MIN_SIZE = next(m.ge for m in _METADATA if getattr(m, "ge", None) is not None)
MAX_SIZE = next(m.le for m in _METADATA if getattr(m, "le", None) is not None)
BOUNDS = f"{MIN_SIZE} to {MAX_SIZE}, train.image_size's bounds"


def image_size_option(text: str) -> int:
    """argparse's type for --image-size: an integer within BOUNDS."""
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"{size} is out of range ({BOUNDS})")
    return size


def card_path(model: Path) -> Path:
    """Where the model card of `model` lies."""
    return model.parent / "model_card.json"


def read_card(model: Path) -> dict | None:
    """The model card beside `model` (None if there is none, or if it is not a JSON object)."""
    try:
        card = json.loads(card_path(model).read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def card_image_size(card: dict | None, model: Path) -> int:
    """The card's image_size, or a StageError naming the card and the key."""
    if card is None or "image_size" not in card:
        raise StageError(f"{card_path(model)}: cannot read the model's image size (missing or not "
                         "valid JSON); pass --image-size")
    size = card["image_size"]
    if type(size) is not int:  # not bool, float or text: as strict as params.yaml
        raise StageError(f"{card_path(model)}: image_size {size!r} is not an integer; pass --image-size")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise StageError(f"{card_path(model)}: image_size {size} is out of range ({BOUNDS}); "
                         "pass --image-size")
    return size


def warn_if_synthetic(card: dict | None, model: Path) -> None:
    """Warn that a model trained on the synthetic sample means nothing on real photos."""
    data = (card or {}).get("data")
    if isinstance(data, dict) and data.get("source") == "sample":
        log.warning("%s was trained on the synthetic sample (drawn cats and dogs; %s says "
                    "data.source: sample): it is not fit to classify real photos, and its labels "
                    "for them mean nothing", escape(str(model)), escape(str(card_path(model))))
