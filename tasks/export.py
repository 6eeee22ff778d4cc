"""Export stage: if the gate blessed the model, write it in each of export.formats, check
every file against the Keras model on test images, and write a model card. A model the gate
refused is a result, not a failure: no format is written, only refused.json and the card say
why, and the stage exits 0 (--require-blessed turns a refusal into exit 1, for CI)."""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

import numpy as np

from tasks.core.cli import stage_main
from tasks.core.config import Params
from tasks.core.errors import StageError, write_refused
from tasks.core.io import atomic_dir, read_json, sha256_file, write_json
from tasks.core.paths import Paths
from tasks.formats.writers import EXPORTERS, QUANTIZED
from tasks.networks import tta
from tasks.reports.model_card import model_card, refusal_markdown, to_markdown
from tasks.runtime.arrays import load_split

log = logging.getLogger("tasks.export")
PARITY_IMAGES = 256  # the first test images, the same every run
FLOAT_TOLERANCE = 1e-4  # max |p(dog) difference| allowed between a float export and Keras
MIN_AGREEMENT = 0.99  # quantized exports: share of images whose label matches Keras'


@dataclass(frozen=True)
class ExportResult:
    formats: tuple[str, ...]
    parity: dict[str, dict]
    directory: str
    refused: tuple[str, ...] = ()  # the gate's reasons when it did not bless the model


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


def _reasons(gate: dict) -> list[str]:
    return [str(reason) for reason in gate.get("reasons", ["no decision recorded"])]


def require_blessed(paths: Paths) -> str:
    """`--require-blessed`: the gate's decision on the model, or a StageError naming its
    reasons when it did not bless it. Reads data/metrics/gate.json; exports nothing."""
    gate = read_json(paths.gate, "evaluate")
    if gate.get("blessed") is not True:
        raise StageError(f"the gate refused the model ({paths.gate}): {'; '.join(_reasons(gate))}")
    return f"blessed ({paths.gate}): {'; '.join(_reasons(gate))}"


def run(params: Params, paths: Paths) -> ExportResult:
    """Export the blessed model in every configured format, parity-checked, with a model card,
    or record the gate's refusal. Either way an older export is replaced, so it cannot pass for
    this model; a failure removes it."""
    try:
        gate = read_json(paths.gate, "evaluate")
        if gate.get("blessed") is not True:
            return _refuse(params, paths, gate)
        return _export(params, paths, gate)
    except StageError:
        shutil.rmtree(paths.export, ignore_errors=True)
        raise


def _refuse(params: Params, paths: Paths, gate: dict) -> ExportResult:
    """As TFX's Pusher skips an unblessed model: write no format, only the decision, the test
    metrics and a card that says so, so the run completes and stays comparable."""
    reasons, scores = _reasons(gate), paths.metrics / "evaluate.json"
    test = read_json(scores, "evaluate").get("test")
    if not isinstance(test, dict):
        raise StageError(f"{scores}: no `test` metrics; rerun the evaluate stage")
    refusal = {"exported": False, "reasons": reasons, "gate": gate, "test": test}
    with atomic_dir(paths.export) as out:
        write_json(out / "refused.json", refusal)
        (out / "model_card.md").write_text(refusal_markdown(params, refusal))
    log.warning("REFUSED: the gate did not bless the model, so no format is exported: %s "
                "(recorded in %s)", "; ".join(reasons), paths.export / "refused.json")
    return ExportResult((), {}, str(paths.export), tuple(reasons))


def _export(params: Params, paths: Paths, gate: dict) -> ExportResult:
    if not paths.model.is_file():
        raise StageError(f"{paths.model}: not found; run the train stage first")
    if gate.get("model_sha256") != [sha256_file(paths.model)]:
        raise StageError(f"{paths.gate} blessed another model than {paths.model} (retrained since "
                         "evaluate ran?); run the evaluate stage first")
    x, _ = load_split(paths, "test", params.train.image_size)  # forks: before the backend starts
    model = tta.load(paths.model)
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
                if write_refused(err):
                    raise  # a full disk, not the converter: atomic_dir names data/export
                raise StageError(f"export {fmt}: failed: {type(err).__name__}: {err}") from err
            parity[fmt] = check_parity(fmt, predicted, reference)
            if not parity[fmt]["passed"]:
                raise StageError(f"export {fmt}: fails its parity rule ({parity[fmt]['rule']}) "
                                 f"against Keras on {len(x)} test images: {parity[fmt]}; "
                                 "nothing exported")
        write_json(out / "parity.json", {"images": len(x), "formats": parity})
        card = model_card(params, paths, model, parity, out)
        write_json(out / "model_card.json", card)
        (out / "model_card.md").write_text(to_markdown(card))
    log.info("exported %s to %s; parity: %s", ", ".join(params.export.formats), paths.export,
             {f: (p["max_abs_diff"], p["label_agreement"]) for f, p in parity.items()})
    return ExportResult(params.export.formats, parity, str(paths.export))


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.export`: see --help."""
    return stage_main("export", __doc__, run, argv, extras={"--require-blessed": (
        "export nothing: exit 0 if data/metrics/gate.json blesses the model, else 1 naming the "
        "gate's reasons (for CI, after `dvc repro`)", require_blessed)})


if __name__ == "__main__":
    raise SystemExit(main())
