"""What every benchmark shares: timing (median after a warm-up), the record it writes, and
where that record goes (bench/results/<device>-<date>.json)."""
from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tasks.core.cli import describe  # the one-line --help description every bench prints

__all__ = ["REPO", "RESULTS", "command", "commit", "describe", "device_name", "median_seconds",
           "record", "write", "write_between"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def median_seconds(run: Callable[[], object], repeats: int = 5, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of `run` over `repeats` calls after `warmup` untimed ones, and all times."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def device_name(cpuinfo: str | None = None) -> str:
    """The CPU model, its widest vector unit and the cores this process may use (GPU benchmarks
    name their GPU). The unit tells apart machines that share a model name ("AMD EPYC" comes
    with AVX2 only and with AVX-512), and their speeds differ 2.5x here."""
    info = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                  if line.startswith("model name")), platform.processor() or platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines()
                      if line.startswith("flags")), ()))
    unit = next((name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512f", "AVX-512"),
                                         ("avx2", "AVX2")) if flag in flags), None)
    return f"{model}{f' ({unit})' if unit else ''}, {len(os.sched_getaffinity(0))} cores"


def commit() -> str:
    """The git commit measured, with `+dirty` when the work tree's code differs from it (results
    under bench/results/ are not code: a bench writes them as it goes). A copy of the tree
    without its .git (the GPU machine's) names it in $BENCH_COMMIT (bench/device.sh)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":(exclude)bench/results"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    return (head.stdout.strip() or "unknown") + ("+dirty" if dirty else "")


def command() -> str:
    """This process's command line, as `python -m <module> ...` when it runs a module here."""
    script = Path(sys.argv[0]).resolve()
    if script.suffix == ".py" and script.is_relative_to(REPO):
        module = ".".join(script.relative_to(REPO).with_suffix("").parts)
        return shlex.join(["python", "-m", module, *sys.argv[1:]])
    return shlex.join([Path(sys.executable).name, *sys.argv])


def record(name: str, value: float, unit: str, *, backend: str = "-", device: str | None = None,
           target: str | None = None, **extra: object) -> dict[str, object]:
    """One result: what was measured, its value and unit, where, and the exact command."""
    return {"name": name, "value": round(value, 4), "unit": unit, "device": device or device_name(),
            "backend": backend, "command": command(),
            "commit": commit(), "target": target, **extra}


def write(results: list[dict[str, object]], tag: str) -> Path:
    """Write `results` to bench/results/<tag>-<date>.json (merging figures of the same day)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{tag}-{datetime.date.today().isoformat()}.json"
    old = json.loads(path.read_text())["results"] if path.exists() else []
    names = {r["name"] for r in results}
    merged = [r for r in old if r["name"] not in names] + results
    path.write_text(json.dumps({"results": merged}, indent=2) + "\n")
    return path


def write_between(begin: str, end: str, table: str, readme: Path = REPO / "README.md") -> None:
    """Replace the text between the markers `begin` and `end` in `readme` with `table`."""
    text = readme.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{readme}: no {begin} ... {end} markers to write between")
    head, rest = text.split(begin, 1)
    readme.write_text(f"{head}{begin}\n{table}\n{end}{rest.split(end, 1)[1]}")


def main(argv: list[str] | None = None) -> None:
    """Print what a record made here would say about the machine and the code."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.harness", description=describe(__doc__),
                                     epilog="Measures nothing: it prints the device and commit a "
                                            "benchmark run here would record.")
    parser.parse_args(argv)
    print(f"device: {device_name()}\ncommit: {commit()}\nresults: {RESULTS}")


if __name__ == "__main__":
    main()
