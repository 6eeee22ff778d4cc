"""Export stage: if the gate blessed the model, write it in each of export.formats, check
every file against the Keras model on test images, and write a model card."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tasks.cli import stage_main
from tasks.common import StageError, atomic_dir, sha256_file, write_json
from tasks.config import Params
from tasks.data import load_split
from tasks.paths import Paths

log = logging.getLogger("tasks.export")
PARITY_IMAGES = 64
FLOAT_TOLERANCE = 1e-4  # max |p(dog) difference| allowed between a float export and Keras
CARD_SECTIONS = {"base", "download", "split", "train", "export"}


@dataclass(frozen=True)
class ExportResult:
    formats: tuple[str, ...]
    max_abs_diff: dict[str, float]
    directory: str


def _keras_file(model: keras.Model, out: Path, source: Path) -> tuple[Path, callable]:
    path = out / "model.keras"
    shutil.copyfile(source, path)  # the checkpoint already is the reproducible .keras file
    reloaded = keras.saving.load_model(path, safe_mode=True)
    return path, lambda x: reloaded.predict(x, verbose=0)


def _savedmodel(model: keras.Model, out: Path, source: Path) -> tuple[Path, callable]:
    if keras.backend.backend() != "tensorflow":
        raise StageError("export.formats: 'savedmodel' needs the TensorFlow backend")
    import tensorflow as tf  # only this format needs TF itself

    path = out / "saved_model"
    model.export(str(path), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(path))  # keep the object alive: .serve needs its variables
    return path, lambda x: loaded.serve(tf.constant(x, tf.float32)).numpy()


EXPORTERS = {"keras": _keras_file, "savedmodel": _savedmodel}


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
        "output": "p(dog); label dog if >= 0.5, else cat",
        # Only the sections dvc.yaml lists for export, so the card never shows stale params.
        "params": params.model_dump(mode="json", include=CARD_SECTIONS),
        "data": {"source": params.download.source,
                 "manifest_sha256": sha256_file(paths.accepted_manifest),
                 "per_class": params.split.model_dump()},
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
    return (f"# Model card: {card['model']}\n\n{card['intended_use']}\n\n"
            f"- Parameters: {card['parameters']:,}\n- Input: {card['input']}\n- Output: {card['output']}\n"
            f"- Data: {card['data']['source']}, per class {card['data']['per_class']}, manifest "
            f"sha256 `{card['data']['manifest_sha256'][:16]}`\n- Git revision: {card['git_revision']}\n"
            f"- Test accuracy {m['accuracy']:.4f}, loss {m['loss']:.4f}, F1 {m['f1']:.4f}, "
            f"ROC AUC {m['roc_auc']:.4f} on {m['n_test']} images\n\n"
            f"| file | bytes | sha256 |\n|---|---|---|\n{rows}\n")


def run(params: Params, paths: Paths) -> ExportResult:
    """Export the blessed model in every configured format, parity-checked, with a model card."""
    gate = _read_json(paths.gate, "evaluate")
    if gate.get("blessed") is not True:
        shutil.rmtree(paths.export, ignore_errors=True)  # an older export must not pass for this one
        reasons = "; ".join(map(str, gate.get("reasons", ["no decision recorded"])))
        raise StageError(f"the model is not blessed, so nothing is exported: {reasons}")
    if not paths.model.is_file():
        raise StageError(f"{paths.model}: not found; run the train stage first")
    model = keras.saving.load_model(paths.model, safe_mode=True)
    x, _ = load_split(paths, "test", params.train.image_size)
    x = x[:PARITY_IMAGES].astype(np.float32)
    reference = model.predict(x, verbose=0).ravel()
    parity: dict[str, float] = {}
    with atomic_dir(paths.export) as out:
        for fmt in params.export.formats:
            _, predict = EXPORTERS[fmt](model, out, paths.model)
            parity[fmt] = float(np.max(np.abs(np.asarray(predict(x)).ravel() - reference)))
            if parity[fmt] > FLOAT_TOLERANCE:
                raise StageError(f"export {fmt}: max |p difference| {parity[fmt]:.2e} against "
                                 f"Keras exceeds {FLOAT_TOLERANCE:.0e}; nothing exported")
        write_json(out / "parity.json", {"images": len(x), "tolerance": FLOAT_TOLERANCE,
                                         "max_abs_diff": parity})
        card = model_card(params, paths, model, parity, out)
        write_json(out / "model_card.json", card)
        (out / "model_card.md").write_text(_markdown(card))
    log.info("exported %s to %s; parity %s", ", ".join(params.export.formats), paths.export, parity)
    return ExportResult(params.export.formats, parity, str(paths.export))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.export`: see --help."""
    return stage_main("export", __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
