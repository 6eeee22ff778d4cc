"""Export stage: if the gate blessed the model, write it in each of export.formats, check
every file against the Keras model on test images, and write a model card."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tasks.cli import stage_main
from tasks.common import StageError, atomic_dir, sha256_file, write_json
from tasks.config import Params
from tasks.data import load_split, read_manifest
from tasks.exporters import EXPORTERS, QUANTIZED
from tasks.paths import Paths

log = logging.getLogger("tasks.export")
PARITY_IMAGES = 256  # the first test images, the same every run
FLOAT_TOLERANCE = 1e-4  # max |p(dog) difference| allowed between a float export and Keras
MIN_AGREEMENT = 0.99  # quantized exports: share of images whose label matches Keras'
CARD_SECTIONS = {"base", "download", "split", "train", "export"}


@dataclass(frozen=True)
class ExportResult:
    formats: tuple[str, ...]
    parity: dict[str, dict]
    directory: str


def check_parity(fmt: str, predicted: np.ndarray, reference: np.ndarray) -> dict[str, object]:
    """Compare a format's p(dog) with Keras': float formats by the largest difference, quantized
    ones by how often they give the same label."""
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    if predicted.shape != reference.shape:
        return {"max_abs_diff": float("inf"), "label_agreement": 0.0, "passed": False,
                "rule": f"one p(dog) per image: got {predicted.shape[0]} for {reference.shape[0]}"}
    diff = float(np.max(np.abs(predicted - reference)))
    agreement = float(np.mean((predicted >= 0.5) == (reference >= 0.5)))
    if fmt in QUANTIZED:
        rule, passed = f"label agreement >= {MIN_AGREEMENT}", agreement >= MIN_AGREEMENT
    else:
        rule, passed = f"max |p difference| <= {FLOAT_TOLERANCE}", diff <= FLOAT_TOLERANCE
    return {"max_abs_diff": diff, "label_agreement": agreement, "rule": rule, "passed": passed}


def _read_json(path: Path, stage: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path}: not found; run the {stage} stage first") from None
    except json.JSONDecodeError as err:
        raise StageError(f"{path}: not valid JSON ({err}); rerun the {stage} stage") from None


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _git_revision(root: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def model_card(params: Params, paths: Paths, model: keras.Model, parity: dict, out: Path) -> dict:
    """The facts a reader needs before using the model, as JSON (Markdown is rendered from it)."""
    synthetic = params.download.source == "sample"
    return {
        "model": params.train.model, "parameters": model.count_params(),
        "input": f"{params.train.image_size}x{params.train.image_size} RGB, 0-255",
        "image_size": params.train.image_size,
        "output": "p(dog); label dog if >= 0.5, else cat",
        # Only the sections dvc.yaml lists for export, so the card never shows stale params.
        "params": params.model_dump(mode="json", include=CARD_SECTIONS),
        "data": {"source": params.download.source,
                 "manifest_sha256": sha256_file(paths.accepted_manifest),
                 "requested_per_class": params.split.model_dump(),
                 "counts": dict(Counter(f"{r['split']}/{r['label']}"
                                        for r in read_manifest(paths.accepted_manifest)))},
        "metrics": _read_json(paths.metrics / "evaluate.json", "evaluate"),
        "gate": _read_json(paths.gate, "evaluate"),
        "git_revision": _git_revision(paths.root),
        "files": {str(f.relative_to(out)): {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
                  for f in _files(out) if f.name not in ("model_card.json", "model_card.md")},
        "parity": parity,
        "intended_use": ("A demonstration model trained on the embedded SYNTHETIC sample (drawn "
                         "cats and dogs); it is not fit to classify real photos." if synthetic else
                         "Binary cat/dog classification of photos like Kaggle's dogs-vs-cats "
                         "(Asirra); not for other animals, other domains, or decisions about people."),
    }


def _markdown(card: dict) -> str:
    m = card["metrics"]
    rows = "\n".join(f"| {k} | {v['bytes']} | `{v['sha256'][:16]}` |" for k, v in card["files"].items())
    checks = "\n".join(f"| {f} | {p['max_abs_diff']:.2e} | {p['label_agreement']:.4f} | {p['rule']} |"
                       for f, p in card["parity"].items())
    return (f"# Model card: {card['model']}\n\n{card['intended_use']}\n\n"
            f"- Parameters: {card['parameters']:,}\n- Input: {card['input']}\n- Output: {card['output']}\n"
            f"- Data: {card['data']['source']}, images {card['data']['counts']}, manifest "
            f"sha256 `{card['data']['manifest_sha256'][:16]}`\n- Git revision: {card['git_revision']}\n"
            f"- Test accuracy {m['accuracy']:.4f}, loss {m['loss']:.4f}, F1 {m['f1']:.4f}, "
            f"ROC AUC {m['roc_auc']:.4f} on {m['n_test']} images\n\n"
            f"| file | bytes | sha256 |\n|---|---|---|\n{rows}\n\n"
            "Parity against the Keras model:\n\n"
            "| format | max abs diff in p(dog) | label agreement | rule |\n"
            f"|---|---|---|---|\n{checks}\n")


def run(params: Params, paths: Paths) -> ExportResult:
    """Export the blessed model in every configured format, parity-checked, with a model card."""
    gate = _read_json(paths.gate, "evaluate")
    if gate.get("blessed") is not True:
        shutil.rmtree(paths.export, ignore_errors=True)  # an older export must not pass for this one
        reasons = "; ".join(map(str, gate.get("reasons", ["no decision recorded"])))
        raise StageError(f"the model is not blessed, so nothing is exported: {reasons}")
    if not paths.model.is_file():
        raise StageError(f"{paths.model}: not found; run the train stage first")
    if gate.get("model_sha256") != sha256_file(paths.model):
        shutil.rmtree(paths.export, ignore_errors=True)
        raise StageError(f"{paths.gate} blessed another model than {paths.model} (retrained since "
                         "evaluate ran?); run the evaluate stage first")
    model = keras.saving.load_model(paths.model, safe_mode=True)
    x, _ = load_split(paths, "test", params.train.image_size)
    x = x[:PARITY_IMAGES]
    reference = model.predict(x.astype(np.float32), verbose=0).ravel()
    parity: dict[str, dict] = {}
    with atomic_dir(paths.export) as out:
        for fmt in params.export.formats:
            try:
                predicted = EXPORTERS[fmt](model, out, paths.model)(x)
            except StageError:
                raise
            except Exception as err:  # a converter's failure, named by format
                shutil.rmtree(paths.export, ignore_errors=True)
                raise StageError(f"export {fmt}: failed: {type(err).__name__}: {err}") from err
            parity[fmt] = check_parity(fmt, predicted, reference)
            if not parity[fmt]["passed"]:
                shutil.rmtree(paths.export, ignore_errors=True)  # no older export may pass for it
                raise StageError(f"export {fmt}: fails its parity rule ({parity[fmt]['rule']}) "
                                 f"against Keras on {len(x)} test images: {parity[fmt]}; "
                                 "nothing exported")
        write_json(out / "parity.json", {"images": len(x), "formats": parity})
        card = model_card(params, paths, model, parity, out)
        write_json(out / "model_card.json", card)
        (out / "model_card.md").write_text(_markdown(card))
    log.info("exported %s to %s; parity: %s", ", ".join(params.export.formats), paths.export,
             {f: (p["max_abs_diff"], p["label_agreement"]) for f, p in parity.items()})
    return ExportResult(params.export.formats, parity, str(paths.export))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.export`: see --help."""
    return stage_main("export", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
