"""The artifacts every flow run leaves in the Prefect UI, read from what the stages wrote."""
from __future__ import annotations

import json
from pathlib import Path

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from flows import dvc
from flows.workspace import commit_of
from tasks.core.config import Params
from tasks.core.paths import Paths


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def summary_markdown(params: Params, work: Path, outcome: dict[str, str], title: str) -> str:
    """The run's story in Markdown: data, validation, metrics, the gate's decision, exports."""
    paths = Paths(work)
    valid = _read(paths.metrics / "validate.json")
    scores = _read(paths.metrics / "evaluate.json").get("test", {})
    gate = _read(paths.gate)
    exported = _read(paths.export / "parity.json")
    parity = exported.get("formats", {})
    # An export from before export.required shipped every format it lists (all had passed).
    shipped = exported.get("shipped", [fmt for fmt, p in parity.items() if p.get("passed")])
    not_shipped = exported.get("not_shipped", {})
    s, t = params.split, params.train
    lines = [f"# {title}", "", "| stage | outcome |", "| --- | --- |"]
    lines += [f"| {stage} | {state} |" for stage, state in outcome.items()]
    synthetic = " (SYNTHETIC drawn sample, not photos)" if params.download.source == "sample" else ""
    lines += ["", "## Data", f"- source: `{params.download.source}`{synthetic}",
              f"- per class: train {s.train}, validation {s.validation}, test {s.test} ({s.strategy} order)"]
    if valid:
        lines.append(f"- validation: {valid['passed']}/{valid['expectations']} expectations passed, "
                     f"{valid['warnings']} warnings, {valid['accepted']}/{valid['images']} images "
                     f"accepted, {valid['quarantined']} quarantined")
    lines += ["", "## Model", f"- `{t.model}` at {t.image_size} px, {t.epochs} epochs, batch {t.batch_size}"]
    if scores:
        lines += ["", "## Test metrics", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {scores[k]:.4f} |" for k in ("accuracy", "precision", "recall", "f1", "roc_auc")
                  if k in scores]
        lines.append(f"| n_test | {scores.get('n_test')} |")
    if gate:
        refused = (paths.export / "refused.json").is_file()
        verdict = ("**blessed**: exported" if gate.get("blessed") else
                   f"**refused**: not exported{' (`data/export/refused.json`)' if refused else ''}")
        if gate.get("blessed") and parity:
            verdict += f"; shipped: {', '.join(shipped) or 'nothing'}"
            verdict += f"; not shipped: {', '.join(not_shipped)}" if not_shipped else ""
        lines += ["", "## Gate", f"- {verdict}"] + [f"- {reason}" for reason in gate.get("reasons", [])]
    if parity:
        lines += ["", "## Export", f"Written to `{paths.export.relative_to(work)}`:",
                  "| format | parity rule | passed | shipped |", "| --- | --- | --- | --- |"]
        # A rule such as "max |p difference| <= 1e-4" holds pipes, which would split the cell.
        lines += [f"| {fmt} | {_cell(p.get('rule'))} | {p.get('passed')} | "
                  f"{'yes' if fmt in shipped else _cell(not_shipped.get(fmt, 'no'))} |"
                  for fmt, p in parity.items()]
    return "\n".join(lines) + "\n"


def _cell(text: object) -> str:
    """`text` for a Markdown table cell: its pipes escaped."""
    return str(text).replace("|", chr(92) + "|")


def metrics_diff_rows(work: Path, root: Path, rev: str) -> tuple[str, list[dict]]:
    """`dvc metrics diff` against `rev` (else the last commit) as table rows, and what it compared."""
    against = commit_of(root, rev) or commit_of(root, "HEAD")
    if against is None:
        return "no commit to compare with yet", []
    label = rev if commit_of(root, rev) else f"HEAD ({rev!r} not found)"
    try:
        diff = dvc.metrics_diff(work, against)
    except (dvc.DvcError, ValueError) as err:
        return f"dvc metrics diff failed: {err}", []
    rows = [{"file": file, "metric": metric, "old": v.get("old"), "new": v.get("new"), "change": v.get("diff")}
            for file, metrics in sorted(diff.items()) for metric, v in sorted(metrics.items())]
    return f"dvc metrics diff {label} ({against[:8]})", rows


def publish(params: Params, work: Path, root: Path, outcome: dict[str, str], title: str) -> None:
    """Create the run's summary and metrics-diff artifacts (keyed, so the UI keeps their history)."""
    create_markdown_artifact(summary_markdown(params, work, outcome, title), key="dogs-vs-cats-summary",
                             description=title)
    what, rows = metrics_diff_rows(work, root, params.flow.compare_to)
    if rows:
        create_table_artifact(rows, key="metrics-diff", description=what)
    else:
        create_markdown_artifact(f"# Metrics diff\n{what}\n", key="metrics-diff", description=what)


def publish_failure(outcome: dict[str, str], stage: str, message: str, title: str) -> None:
    """The summary of a run that stopped at `stage`: how far it got and the stage's error (the
    metrics on disk are still the last completed run's, so they are not shown as this run's)."""
    lines = [f"# {title}: failed at {stage}", "", "| stage | outcome |", "| --- | --- |"]
    lines += [f"| {name} | {state} |" for name, state in outcome.items()] + [f"| {stage} | **failed** |"]
    lines += ["", "```", message, "```"]
    create_markdown_artifact("\n".join(lines) + "\n", key="dogs-vs-cats-summary", description=f"{title}: failed")


def link_data_docs(index: Path) -> None:
    """Point the UI at the Great Expectations Data Docs of this run's validation."""
    create_link_artifact(index.resolve().as_uri(), link_text="Great Expectations Data Docs",
                         key="data-docs", description=f"open {index} in a browser")
