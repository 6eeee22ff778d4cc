"""The model card: what a reader needs to know before using an exported model, as JSON and
Markdown."""
from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import keras

from tasks.core.config import Params
from tasks.core.io import read_json, sha256_file
from tasks.core.paths import Paths
from tasks.runtime.arrays import read_manifest

# The params sections dvc.yaml lists for the export stage: the card shows no stale params.
CARD_SECTIONS = {"base", "download", "split", "train", "recipes", "export"}


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _git_revision(root: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def model_card(params: Params, paths: Paths, model: keras.Model, parity: dict, out: Path) -> dict:
    """The facts a reader needs before using the model, as JSON (Markdown is rendered from it)."""
    synthetic = params.download.source == "sample"
    return {
        "model": params.train.model, "recipe": params.train.recipe,
        "parameters": model.count_params(),
        "input": f"{params.train.image_size}x{params.train.image_size} RGB, 0-255",
        "image_size": params.train.image_size,
        "output": "p(dog); label dog if >= 0.5, else cat",
        "views": _views(params.train.test_crop, params.train.tta),
        # Only the sections dvc.yaml lists for export, so the card never shows stale params.
        "params": params.model_dump(mode="json", include=CARD_SECTIONS),
        "data": {"source": params.download.source,
                 "manifest_sha256": sha256_file(paths.accepted_manifest),
                 "requested_per_class": params.split.model_dump(),
                 "counts": dict(Counter(f"{r['split']}/{r['label']}"
                                        for r in read_manifest(paths.accepted_manifest)))},
        "metrics": read_json(paths.metrics / "evaluate.json", "evaluate"),  # {"test": ...}
        "gate": read_json(paths.gate, "evaluate"),
        "git_revision": _git_revision(paths.root),
        "files": {str(f.relative_to(out)): {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
                  for f in _files(out) if f.name not in ("model_card.json", "model_card.md")},
        "parity": parity,
        "intended_use": ("A demonstration model trained on the embedded SYNTHETIC sample (drawn "
                         "cats and dogs); it is not fit to classify real photos." if synthetic else
                         "Binary cat/dog classification of photos like Kaggle's dogs-vs-cats "
                         "(Asirra); not for other animals, other domains, or decisions about people."),
    }


def _views(crop: float, mirror: bool) -> str:
    """What the saved model looks at in each photo (tasks/networks/tta.py)."""
    seen = f"the centre {crop:g} of each side, resized back" if crop < 1 else "the whole photo"
    return seen + (", averaged with its mirror image" if mirror else "")


def _scores(m: dict) -> str:
    return (f"Test accuracy {m['accuracy']:.4f}, loss {m['loss']:.4f}, F1 {m['f1']:.4f}, "
            f"ROC AUC {m['roc_auc']:.4f} on {m['n_test']} images")


def refusal_markdown(params: Params, refusal: dict) -> str:
    """The card of a model the gate refused: what it scored and why nothing was exported."""
    reasons = "\n".join(f"- {reason}" for reason in refusal["reasons"])
    return (f"# Model card: {params.train.model}: NOT EXPORTED\n\n"
            "The gate (evaluate) did not bless this model, so no format was written; the "
            f"decision is in `refused.json`.\n\n{reasons}\n\n- {_scores(refusal['test'])}\n")


def to_markdown(card: dict) -> str:
    """The card as a short Markdown page."""
    m = card["metrics"]["test"]
    rows = "\n".join(f"| {k} | {v['bytes']} | `{v['sha256'][:16]}` |" for k, v in card["files"].items())
    checks = "\n".join(f"| {f} | {p['max_abs_diff']:.2e} | {p['label_agreement']:.4f} | {p['rule']} |"
                       for f, p in card["parity"].items())
    return (f"# Model card: {card['model']}\n\n{card['intended_use']}\n\n"
            f"- Recipe: {card.get('recipe', 'custom')} (docs/recipes.md)\n"
            f"- Parameters: {card['parameters']:,}\n- Input: {card['input']}\n"
            f"- Views, inside the model: {card.get('views', 'the whole photo')}\n- Output: {card['output']}\n"
            f"- Data: {card['data']['source']}, images {card['data']['counts']}, manifest "
            f"sha256 `{card['data']['manifest_sha256'][:16]}`\n- Git revision: {card['git_revision']}\n"
            f"- {_scores(m)}\n\n"
            f"| file | bytes | sha256 |\n|---|---|---|\n{rows}\n\n"
            "Parity against the Keras model:\n\n"
            "| format | max abs diff in p(dog) | label agreement | rule |\n"
            f"|---|---|---|---|\n{checks}\n")
