"""The docs' tables generated from bench/results/*.json: performance (docs/performance.md), and
bench.ablation's (docs/results.md).

    python -m bench.table            # print it
    python -m bench.table --write    # replace the table between the markers in docs/performance.md
"""
from __future__ import annotations

import argparse
import json
import re
import statistics

from bench.harness import REPO, RESULTS, describe, write_between

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PAGE = REPO / "docs" / "performance.md"  # the page holding the BEGIN ... END markers
ABLATION_BEGIN, ABLATION_END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
ABLATION_PAGE = REPO / "docs" / "results.md"  # the page holding the ABLATION_BEGIN ... END markers
OWN_TABLES = {"ablation", "book-vs-seed", "views"}  # their own tables: not figures of speed


def rows() -> list[dict]:
    """Every result of every file, newest file last (so a figure measured again wins)."""
    merged: dict[tuple[str, str], dict] = {}
    for path in sorted(RESULTS.glob("*.json"), key=lambda p: p.stem.rsplit("-", 3)[-3:]):
        if path.stem.rsplit("-", 3)[0] in OWN_TABLES:
            continue
        for r in json.loads(path.read_text())["results"]:
            merged[(r["name"], r["device"])] = {**r, "file": path.name}
    return list(merged.values())


def _value(r: dict) -> str:
    if "accuracy" in r["unit"]:  # 2000 test photos: 0.0005 a photo
        return f"{r['value']:.4f} {r['unit']}"
    return f"{r['value']:,.2f} {r['unit']}" if r["value"] < 100 else f"{r['value']:,.0f} {r['unit']}"


def markdown() -> str:
    """One line per figure: value, target, device, the ratio against the book where measured.
    Training figures fold into one line per backend, model and precision: augmentation on and
    off, the first epoch's compile + warm-up time, and (with augmentation on) the share of the
    device's peak arithmetic, on a GPU the driver's busy percentage, and on JAX the compiled step's
    own rate on a batch already on the device."""
    lines = ["| figure | value | target | device | vs. the book's path |", "| --- | --- | --- | --- | --- |"]
    train: dict[tuple[str, str], dict[str, dict]] = {}
    for r in rows():
        m = re.match(r"(train .*?) aug (on|off): (steady img/s|compile \+ warm-up)$", r["name"])
        if m:
            train.setdefault((m[1], r["device"]), {})[f"{m[2]} {m[3][:6]}"] = r
            continue
        ratio = f"{r['ratio_vs_book']:.2f}x" if r.get("ratio_vs_book") else ""
        lines.append(f"| {r['name']} | {_value(r)} | {r.get('target') or ''} | {r['device']} | {ratio} |")
    for (name, device), parts in train.items():
        on, off, warm = parts.get("on steady"), parts.get("off steady"), parts.get("on compil")
        value = " / ".join(f"{_value(x)} aug {a}" for x, a in ((on, "on"), (off, "off")) if x)
        notes = [f"first epoch {warm['value']:.0f} s"] if warm else []
        best = on or off or {}
        notes += [f"{best['of_peak']:.1%} of peak"] if best.get("of_peak") else []
        notes += [f"GPU busy {best['gpu_busy_pct']:.0f}%"] if best.get("gpu_busy_pct") is not None else []
        notes += [f"step alone {_value({**best, 'value': best['step_only_img_per_s']})}"] \
            if best.get("step_only_img_per_s") else []
        value += f" ({'; '.join(notes)})" if notes else ""
        lines.append(f"| {name} | {value} | {(on or off or {}).get('target') or ''} | {device} | |")
    return "\n".join(lines)


def ablation_markdown() -> str:
    """bench.ablation's table: per variant, in the order run, validation accuracy mean and spread
    (sd, min-max) over the seeds, the change against the full recipe, and median train minutes.
    A later file's record of the same run replaces an earlier one's."""
    runs: dict[str, dict] = {}
    for path in sorted(RESULTS.glob("ablation-*.json")):
        runs.update((r["name"], r) for r in json.loads(path.read_text())["results"])
    by: dict[str, list[dict]] = {}
    for r in runs.values():
        by.setdefault(r["variant"], []).append(r)
    if "full" not in by:
        raise SystemExit(f"{RESULTS}: no ablation run of the full recipe (python -m bench.ablation)")
    full = statistics.mean(r["value"] for r in by["full"])
    lines = ["| ingredient taken out | validation accuracy | sd | min-max | vs. full | train min "
             "(median) | seeds |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for variant, rs in by.items():
        acc = [r["value"] for r in rs]
        sd = f"{statistics.stdev(acc):.4f}" if len(acc) > 1 else "-"  # no spread from one seed
        delta = "" if variant == "full" else f"{statistics.mean(acc) - full:+.4f}"
        lines.append(f"| {rs[0]['ingredient']} | {statistics.mean(acc):.4f} | {sd} | "
                     f"{min(acc):.4f}-{max(acc):.4f} | {delta} | "
                     f"{statistics.median(r['train_s'] for r in rs) / 60:.1f} | {len(acc)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the table, or write it into docs/performance.md between the bench markers."""
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    table = markdown()
    if not args.write:
        print(table)
        return
    write_between(BEGIN, END, table, PAGE)


if __name__ == "__main__":
    main()
