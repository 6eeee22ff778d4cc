"""One Prefect task per DVC stage: `dvc repro --single-item <stage>`, streamed into the task log.

DVC decides whether the stage runs. A stage DVC skips ends in Prefect's "Cached" state, so the
UI tells reused work from new work at a glance.
"""
from __future__ import annotations

import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.states import Completed, State

from flows import dvc
from tasks.core.cli import error_prefix
from tasks.runtime.progress import share_done


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero or ran out of time; the message leads with its error line."""


def cached(stage: str, why: str) -> State:
    """The final state of a stage that did no work: COMPLETED, named "Cached" in the UI."""
    return Completed(name="Cached", message=f"{stage}: {why}")


def _failure(stage: str, code: int, lines: list[str]) -> StageFailed:
    # The stage's own "error: <stage>: ..." block (with its indented detail lines) is the message
    # a person needs in the UI; without one (a crash), the end of the output is.
    starts = [i for i, line in enumerate(lines) if line.startswith(error_prefix(stage))]
    if not starts:
        return StageFailed(f"stage {stage!r} failed (exit status {code}); last lines:\n" + "\n".join(lines[-30:]))
    block = lines[starts[-1]:]
    end = next((i for i, line in enumerate(block[1:], 1) if line.startswith("ERROR:")), len(block))
    return StageFailed(f"stage {stage!r} failed: " + "\n".join(block[:end]) + "\n(full output in the task log)")


def _repro(stage: str, root: Path, seconds: float, limit: int, logger, progress) -> tuple[int, list[str]]:
    """One `dvc repro` of `stage` given `seconds` (of the stage's `limit`), logged line by line."""
    def on_line(line: str) -> None:
        logger.info(line)
        if progress is not None and (share := share_done(line)) is not None:
            update_progress_artifact(progress, share)

    code, lines = dvc.repro(root, stage, seconds, on_line)
    if code is None:
        # DVC deletes a stage's outputs before running it; put back the cached ones that dvc.lock
        # (untouched, since the stage never finished) records, so downstream users keep a model.
        dvc.checkout(root, stage)
        raise StageFailed(f"stage {stage!r} timed out after {limit} s (flow.timeouts.{stage}) and was "
                          "stopped; dvc.lock still records its last finished run, whose cached outputs "
                          "were checked out again, so the next run redoes it")
    return code, lines


@task(task_run_name="{stage}")
def dvc_stage(stage: str, root: str, timeout: int, lock_wait: int = 0, up_to_date: bool = False) -> State | str:
    """Run one stage through DVC within `timeout` seconds. Returns "ran", or a Cached state
    when DVC found nothing changed. Training also advances a per-epoch progress artifact.
    While another DVC run holds the stage's files, wait up to `lock_wait` seconds for it.

    `up_to_date` says `dvc status`, run at the start of the flow, found this stage and all
    before it unchanged: DVC has already decided, and a `dvc repro` would only repeat it.
    """
    logger = get_run_logger()
    progress = create_progress_artifact(0.0, description="train: epochs finished") if stage == "train" else None
    if up_to_date:
        logger.info("dvc status: %s and every stage before it are up to date; skipped", stage)
        if progress is not None:
            update_progress_artifact(progress, 100.0)
        return cached(stage, "dvc status: up to date, skipped")
    started = time.monotonic()
    code, lines = dvc.wait_while_busy(
        lambda: _repro(stage, Path(root), started + timeout - time.monotonic(), timeout, logger, progress),
        lambda result: dvc.busy_line(result[1]) if result[0] else None,
        lock_wait, logger.warning)
    if code != 0:
        raise _failure(stage, code, lines)
    if progress is not None:
        update_progress_artifact(progress, 100.0)
    logger.info("%s finished in %.1f s", stage, time.monotonic() - started)
    return cached(stage, "dvc: unchanged, skipped") if any(dvc.SKIPPED in line for line in lines) else "ran"
