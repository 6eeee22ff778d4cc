"""The pipeline as a Prefect flow: one task per DVC stage, each run through `dvc repro`.

DVC alone decides whether a stage reruns or is skipped, so a Prefect run and `dvc repro` do
the same versioned work and leave the same dvc.lock. Prefect adds retries, run history,
schedules and the UI. Run it with `python -m flows.pipeline`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# This workplace has no internet: keep Prefect from trying to send telemetry (override freely).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger, task  # noqa: E402

STAGES = ("download", "split", "validate", "train", "evaluate", "export")
SKIPPED = "didn't change, skipping"


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero; the message carries the end of its output."""


@task(task_run_name="{stage}")
def dvc_stage(stage: str, root: str = ".") -> str:
    """Run one stage through DVC, streaming its output into the task log.
    Returns "skipped" when DVC found nothing changed, else "ran"."""
    logger = get_run_logger()
    # The interpreter running this flow is the project's: make `python` in dvc.yaml resolve to it.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--single-item", stage],
                            cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        logger.info(lines[-1])
    if proc.wait() != 0:
        raise StageFailed(f"stage {stage!r} failed (exit {proc.returncode}):\n" + "\n".join(lines[-30:]))
    return "skipped" if any(SKIPPED in line for line in lines) else "ran"


@flow(name="dogs-vs-cats")
def pipeline(root: str = ".") -> dict[str, str]:
    """Run the six stages in order; a failing stage fails the run and nothing after it runs."""
    outcome = {}
    for stage in STAGES:
        # Only download touches the network; the other stages are deterministic.
        options = {"retries": 2, "retry_delay_seconds": [10, 60]} if stage == "download" else {}
        outcome[stage] = dvc_stage.with_options(**options)(stage, root)
    return outcome


if __name__ == "__main__":
    print(pipeline())
