"""End to end: the default pipeline, as `make run` runs it once the venv is installed. That is
`dvc repro` of the committed params.yaml (the embedded sample) in a fresh copy of the project,
from nothing to the exported model.

    python -m bench.pipeline [--params params.yaml]

It is timed once: a repeat would be a warm run, and a cold run is the figure. Each stage's own
seconds come from the stage logs' timestamps.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.harness import REPO, describe, record, write

STAGE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \w+ \[(\w+)\]")


def stage_seconds(log: str) -> dict[str, float]:
    """First to last timestamped line of each stage in a `dvc repro` log."""
    spans: dict[str, list[datetime]] = {}
    for line in log.splitlines():
        m = STAGE_LINE.match(line)
        if m:
            spans.setdefault(m[2], []).append(datetime.fromisoformat(m[1]))
    return {stage: (times[-1] - times[0]).total_seconds() for stage, times in spans.items()}


def main(argv: list[str] | None = None) -> None:
    """Run the pipeline cold in a scratch project; print and write its wall time."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=describe(__doc__),
        epilog="It runs the whole pipeline from nothing, in a temporary folder, then adds its "
               "figure to bench/results/cpu-<date>.json.")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml",
                        help="the params file to run (default: this checkout's params.yaml)")
    args = parser.parse_args(argv)

    from tasks.core.params_file import load_params
    from tests.conftest import make_project, pipeline_env

    with tempfile.TemporaryDirectory() as scratch:
        root = make_project(Path(scratch) / "project", load_params(args.params))
        shutil.copy(args.params, root / "params.yaml")  # the file itself, comments too
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=root, env=pipeline_env(),
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"dvc repro failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        scores = json.loads((root / "data" / "metrics" / "evaluate.json").read_text())["test"]
    stages = stage_seconds(done.stdout)
    result = record("end to end: dvc repro of the default pipeline, cold (make run after install)",
                    seconds, "s", target="<= 300 s", repeats=1, test_accuracy=scores["accuracy"],
                    stage_seconds=stages)
    print(f"{result['name']}: {seconds:.1f} s (accuracy {scores['accuracy']:.4f}; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()) + ")")
    print("written:", write([result], "cpu"))


if __name__ == "__main__":
    main()
