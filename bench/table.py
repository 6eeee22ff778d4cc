"""The README's performance table, generated from bench/results/*.json.

    python -m bench.table            # print it
    python -m bench.table --write    # replace the table between the markers in README.md
"""
from __future__ import annotations

import argparse
import json
import re

from bench.harness import REPO, RESULTS

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def rows() -> list[dict]:
    """Every result of every file, newest file last (so a figure measured again wins)."""
    merged: dict[tuple[str, str], dict] = {}
    for path in sorted(RESULTS.glob("*.json"), key=lambda p: p.stem.rsplit("-", 3)[-3:]):
        for r in json.loads(path.read_text())["results"]:
            merged[(r["name"], r["device"])] = {**r, "file": path.name}
    return list(merged.values())


def markdown() -> str:
    """One line per figure: value, target, device, the ratio against the book where measured."""
    lines = ["| figure | value | target | device | vs. the book's path | commit |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows():
        ratio = f"{r['ratio_vs_book']:.2f}x" if r.get("ratio_vs_book") else ""
        value = f"{r['value']:,.2f} {r['unit']}" if r["value"] < 100 else f"{r['value']:,.0f} {r['unit']}"
        lines.append(f"| {r['name']} | {value} | {r.get('target') or ''} | {r['device']} | {ratio} | "
                     f"`{r['commit']}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the table, or write it into README.md between the bench markers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    table = markdown()
    if not args.write:
        print(table)
        return
    readme = REPO / "README.md"
    text = readme.read_text()
    if BEGIN not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} markers to write between")
    readme.write_text(re.sub(f"{BEGIN}.*?{END}", lambda _: f"{BEGIN}\n{table}\n{END}", text, flags=re.S))


if __name__ == "__main__":
    main()
