"""Export stage: if the gate blessed the model, write it in each of export.formats, check
every file against the Keras model on test images, and write a model card. A format in
export.required that fails its parity rule fails the stage; any other is not shipped (its files
are removed) and parity.json, the card and the log say why, so a blessed model is never lost to
one format's tolerance. A model the gate refused is a result, not a failure: no format is
written, only refused.json and the card say why, and the stage exits 0 (--require-blessed turns a
refusal into exit 1, for CI)."""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

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
    not_shipped: dict[str, str] = field(default_factory=dict)  # format: why (not required)


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


def not_shipped_reason(check: dict) -> str:
    """"not shipped: <rule>, measured <value>" for a format that failed its parity rule."""
    if "error" in check:
        return f"not shipped: {check['error']}"
    measured = check["label_agreement"] if "agreement" in str(check["rule"]) else check["max_abs_diff"]
    return f"not shipped: {check['rule']}, measured {measured:.8g}"


def _reasons(gate: dict) -> list[str]:
    return [str(reason) for reason in gate.get("reasons", ["no decision recorded"])]


def require_blessed(paths: Paths) -> str:
    """`--require-blessed`: the gate's decision on the model, or a StageError naming its
    reasons when it did not bless it, then what the last export shipped (data/export/parity.json).
    Reads data/metrics/gate.json; exports nothing."""
    gate = read_json(paths.gate, "evaluate")
    if gate.get("blessed") is not True:
        raise StageError(f"the gate refused the model ({paths.gate}): {'; '.join(_reasons(gate))}")
    return f"blessed ({paths.gate}): {'; '.join(_reasons(gate))}" + _shipped_line(paths)


def _shipped_line(paths: Paths) -> str:
    """What the last export shipped, from its parity.json (empty when there is none)."""
    try:
        parity = read_json(paths.export / "parity.json", "export")
    except StageError:
        return ""
    return "".join(f"\n{line}" for line in _shipped_lines(parity))


def _shipped_lines(parity: dict) -> list[str]:
    """"shipped: ..." and one "<format>: not shipped: ..." line per format left out."""
    # An export from before export.required shipped every format it checked (all had passed).
    shipped = parity.get("shipped", [f for f, p in parity.get("formats", {}).items() if p.get("passed")])
    return ([f"shipped: {', '.join(shipped) or 'nothing'}"]
            + [f"{fmt}: {why}" for fmt, why in parity.get("not_shipped", {}).items()])


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
    not_shipped: dict[str, str] = {}
    required = params.export.must_pass
    with atomic_dir(paths.export) as out:
        for fmt in params.export.formats:
            before = set(out.iterdir())
            parity[fmt] = _write_and_check(fmt, model, out, paths, x, reference, fmt in required)
            if not parity[fmt]["passed"]:  # not required, else _write_and_check raised
                for written in set(out.iterdir()) - before:  # ship no file that failed
                    if written.is_dir():
                        shutil.rmtree(written)
                    else:
                        written.unlink()
                not_shipped[fmt] = not_shipped_reason(parity[fmt])
                log.warning("export %s: %s (on %d test images; not in export.required, so the "
                            "other formats ship)", fmt, not_shipped[fmt], len(x))
        shipped = [f for f in params.export.formats if f not in not_shipped]
        if not shipped:
            raise StageError(f"export: no format passed its parity rule against Keras on {len(x)} "
                             f"test images: {not_shipped}; nothing exported")
        write_json(out / "parity.json", {"images": len(x), "formats": parity, "required": list(required),
                                         "shipped": shipped, "not_shipped": not_shipped})
        card = {**model_card(params, paths, model, parity, out), "shipped": shipped,
                "not_shipped": not_shipped}
        write_json(out / "model_card.json", card)
        (out / "model_card.md").write_text(to_markdown(card) + _not_shipped_markdown(not_shipped))
    log.info("exported %s to %s%s; parity: %s", ", ".join(shipped), paths.export,
             f" (not shipped: {', '.join(not_shipped)})" if not_shipped else "",
             {f: (p["max_abs_diff"], p["label_agreement"]) for f, p in parity.items()})
    return ExportResult(tuple(shipped), parity, str(paths.export), not_shipped=not_shipped)


def _not_shipped_markdown(not_shipped: dict[str, str]) -> str:
    if not not_shipped:
        return ""
    return ("\nNot shipped (not in export.required, so the model shipped without it):\n\n"
            + "".join(f"- {fmt}: {why}\n" for fmt, why in not_shipped.items()))


def _write_and_check(fmt: str, model, out: Path, paths: Paths, x: np.ndarray, reference: np.ndarray,
                     required: bool) -> dict:
    """Write `fmt` under `out` and check it against Keras: its parity record, with `shipped`.
    A required format that fails to convert or fails its rule is a StageError; any other is
    recorded as not shipped (its files are the caller's to remove)."""
    try:
        predicted = EXPORTERS[fmt](model, out, paths.model)(x)
    except StageError:
        raise
    except Exception as err:  # a converter's failure, named by format
        if write_refused(err):
            raise  # a full disk, not the converter: atomic_dir names data/export
        if required:
            raise StageError(f"export {fmt}: failed: {type(err).__name__}: {err}") from err
        return {"max_abs_diff": float("inf"), "label_agreement": 0.0, "passed": False, "shipped": False,
                "rule": "exports and loads", "error": f"export failed: {type(err).__name__}: {err}"}
    check = check_parity(fmt, predicted, reference)
    if not check["passed"] and required:
        raise StageError(f"export {fmt}: fails its parity rule ({check['rule']}) against Keras on "
                         f"{len(x)} test images: {check}; {fmt} is in export.required, so nothing "
                         "is exported (remove it from export.required to ship the other formats)")
    return {**check, "shipped": check["passed"]}


def summary(paths: Paths) -> str:
    """`--summary`: the run at a glance, from the files the stages wrote: the gate's decision,
    the test scores, and which formats shipped (and why any did not)."""
    gate = read_json(paths.gate, "evaluate")
    test = read_json(paths.metrics / "evaluate.json", "evaluate").get("test") or {}
    lines = [f"gate:    {'blessed' if gate.get('blessed') is True else 'REFUSED'}: "
             f"{'; '.join(_reasons(gate))}"]
    if test:
        lines.append(f"test:    accuracy {test['accuracy']:.4f}, loss {test['loss']:.4f}, "
                     f"F1 {test['f1']:.4f}, ROC AUC {test['roc_auc']:.4f} on {test['n_test']} images")
    if (paths.export / "refused.json").is_file():
        lines.append(f"export:  nothing: the gate refused the model ({paths.export / 'refused.json'})")
        return "\n".join(lines)
    try:
        parity = read_json(paths.export / "parity.json", "export")
    except StageError:
        lines.append(f"export:  nothing yet ({paths.export / 'parity.json'}: not found)")
        return "\n".join(lines)
    shipped, *left_out = _shipped_lines(parity)
    lines += [f"{shipped} ({paths.export}, parity-checked on {parity.get('images')} test images)"]
    return "\n".join(lines + left_out)


def main(argv: list[str] | None = None) -> int:
    """`python -m tasks.export`: see --help."""
    return stage_main("export", __doc__, run, argv, extras={
        "--require-blessed": (
            "export nothing: exit 0 if data/metrics/gate.json blesses the model, else 1 naming the "
            "gate's reasons (for CI, after `dvc repro`); then which formats the last export shipped",
            require_blessed),
        "--summary": (
            "export nothing: print the gate's decision, the test scores and which formats shipped "
            "(`make run` ends with it)", summary)})


if __name__ == "__main__":
    raise SystemExit(main())
