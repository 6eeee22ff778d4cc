"""One Prefect task per DVC stage: `dvc repro --single-item <stage>`, streamed into the task log.

DVC decides whether the stage runs. A stage DVC skips ends in Prefect's "Cached" state, so the
UI tells reused work from new work at a glance.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.states import Completed, State

SKIPPED = "didn't change, skipping"
T = TypeVar("T")
BUSY = "is busy, it is being blocked by"  # DVC: another process holds a stage's dependency or output
# What tasks/train.py logs after each finished epoch, and when it resumes a killed run.
EPOCH = re.compile(r"\[train\] (?:epoch (\d+)/(\d+):|resuming from epoch (\d+) of (\d+))")


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero or ran out of time; the message leads with its error line."""


class DvcBusy(StageFailed):
    """Another DVC run held files this run needs for longer than flow.lock_wait."""


def wait_while_busy(attempt: Callable[[], T], busy: Callable[[T], str | None], wait: int,
                    say: Callable[[str], None]) -> T:
    """Call `attempt` again every 5 s while `busy(result)` returns DVC's "is busy" line (another
    DVC run, such as a `dvc repro` at the terminal, holds the files), for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while (held := busy(result := attempt())) is not None:
        if time.monotonic() + 5 > deadline:
            raise DvcBusy(f"another DVC run holds files this run needs; gave up after "
                          f"flow.lock_wait={wait} s:\n{held}")
        say(f"another DVC run holds files this run needs; trying again in 5 s: {held}")
        time.sleep(5)
    return result


def dvc_env() -> dict[str, str]:
    """The environment for DVC: `python` in dvc.yaml must resolve to the interpreter running us."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def train_progress(line: str) -> float | None:
    """The share of epochs finished (0-100) that a line of the train stage's log reports."""
    m = EPOCH.search(line)
    if m is None:
        return None
    done, total = (m[1], m[2]) if m[1] else (m[3], m[4])
    return 100.0 * int(done) / int(total)


def cached(stage: str, why: str) -> State:
    """The final state of a stage that did no work: COMPLETED, named "Cached" in the UI."""
    return Completed(name="Cached", message=f"{stage}: {why}")


def _stop(proc: subprocess.Popen) -> None:
    # The stage runs in its own session: signal the whole group, DVC and the python it started.
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _busy(lines: list[str]) -> str | None:
    """DVC's "is busy" error and the line after it, which names the holder's PID, if present."""
    at = next((i for i, line in enumerate(lines) if BUSY in line), None)
    return None if at is None else "\n".join(lines[at:at + 2])


def _failure(stage: str, code: int, lines: list[str]) -> StageFailed:
    # The stage's own "error: <stage>: ..." block (with its indented detail lines) is the message
    # a person needs in the UI; without one (a crash), the end of the output is.
    starts = [i for i, line in enumerate(lines) if line.startswith(f"error: {stage}:")]
    if not starts:
        return StageFailed(f"stage {stage!r} failed (exit status {code}); last lines:\n" + "\n".join(lines[-30:]))
    block = lines[starts[-1]:]
    end = next((i for i, line in enumerate(block[1:], 1) if line.startswith("ERROR:")), len(block))
    return StageFailed(f"stage {stage!r} failed: " + "\n".join(block[:end]) + "\n(full output in the task log)")


def _repro(stage: str, root: str, seconds: float, limit: int, logger, progress) -> tuple[int, list[str]]:
    """One `dvc repro --single-item stage` given `seconds` (of the stage's `limit`), its output
    streamed to the log; returns (exit code, lines)."""
    # --wait-for-lock: while another DVC command holds the repo lock, wait instead of failing.
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", stage],
                            cwd=root, env=dvc_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: list[str] = []

    def pump() -> None:  # a thread, so that the timeout below holds even when output stalls
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.rstrip())
            logger.info(lines[-1])
            if progress is not None and (share := train_progress(lines[-1])) is not None:
                update_progress_artifact(progress, share)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        return proc.wait(max(seconds, 1)), lines
    except subprocess.TimeoutExpired:
        _stop(proc)
        # DVC deletes a stage's outputs before running it; put back the cached ones that dvc.lock
        # (untouched, since the stage never finished) records, so downstream users keep a model.
        subprocess.run([sys.executable, "-m", "dvc", "checkout", "--quiet", "--allow-missing", stage],
                       cwd=root, env=dvc_env(), capture_output=True)
        raise StageFailed(f"stage {stage!r} timed out after {limit} s (flow.timeouts.{stage}) and was "
                          "stopped; dvc.lock still records its last finished run, whose cached outputs "
                          "were checked out again, so the next run redoes it") from None
    finally:
        if proc.poll() is None:  # cancelled or crashed while the stage ran: never leave it running
            _stop(proc)
        reader.join(10)


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
    code, lines = wait_while_busy(
        lambda: _repro(stage, root, started + timeout - time.monotonic(), timeout, logger, progress),
        lambda result: _busy(result[1]) if result[0] else None,
        lock_wait, logger.warning)
    if code != 0:
        raise _failure(stage, code, lines)
    if progress is not None:
        update_progress_artifact(progress, 100.0)
    logger.info("%s finished in %.1f s", stage, time.monotonic() - started)
    return cached(stage, "dvc: unchanged, skipped") if any(SKIPPED in line for line in lines) else "ran"
