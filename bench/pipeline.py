"""End to end: the default pipeline, as `make run` runs it once the venv is installed. That is
`dvc repro` of the committed params.yaml (the embedded sample) in a fresh copy of the project,
from nothing to the exported model.

    python -m bench.pipeline

It is timed once: a repeat would be a warm run, and a cold run is the figure. Each stage's own
seconds come from the stage logs' timestamps.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.harness import REPO, record, write

STAGE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \w+ \[(\w+)\]")


def stage_seconds(log: str) -> dict[str, float]:
    """First to last timestamped line of each stage in a `dvc repro` log."""
    spans: dict[str, list[datetime]] = {}
    for line in log.splitlines():
        m = STAGE_LINE.match(line)
        if m:
            spans.setdefault(m[2], []).append(datetime.fromisoformat(m[1]))
    return {stage: (times[-1] - times[0]).total_seconds() for stage, times in spans.items()}


def main() -> None:
    """Run the pipeline cold in a scratch project; print and write its wall time."""
    from tasks.core.params_file import load_params
    from tests.conftest import make_project, pipeline_env

    with tempfile.TemporaryDirectory() as scratch:
        root = make_project(Path(scratch) / "project", load_params(REPO / "params.yaml"))
        shutil.copy(REPO / "params.yaml", root / "params.yaml")  # the committed file, comments too
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
