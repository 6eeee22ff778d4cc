"""The one DVC client of flows/: run a stage, status, checkout, metrics diff, and waiting while
another DVC run holds the files. Every call is an argument list, never a shell string."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tasks.core.pipeline_spec import stage_specs

T = TypeVar("T")
SKIPPED = "didn't change, skipping"  # DVC: a stage whose deps, params and outs are unchanged
BUSY = "is busy, it is being blocked by"  # DVC: another process holds a stage's dependency or output


class DvcError(RuntimeError):
    """A git or DVC command failed or ran out of time; the message holds its output."""


class DvcBusy(DvcError):
    """Another DVC run held files this run needs for longer than flow.lock_wait."""


def stages(root: Path) -> tuple[str, ...]:
    """The pipeline's stages, in order, as dvc.yaml declares them."""
    if not (found := tuple(stage_specs(root))):
        raise DvcError(f"{root / 'dvc.yaml'}: no pipeline stages there")
    return found


def env() -> dict[str, str]:
    """The environment for DVC: `python` in dvc.yaml must resolve to the interpreter running us."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def call(cwd: Path, *cmd: str, timeout: float | None = None) -> str:
    """Run `cmd` in `cwd`; its stdout, or DvcError with its output."""
    try:
        done = subprocess.run(list(cmd), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DvcError(f"`{' '.join(cmd)}` in {cwd} did not finish within {timeout} s") from None
    if done.returncode != 0:
        raise DvcError(f"`{' '.join(cmd)}` failed in {cwd} (exit {done.returncode}):\n"
                       f"{(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()


def dvc(cwd: Path, *args: str, timeout: float | None = None) -> str:
    """Run the DVC of this interpreter in `cwd`."""
    return call(cwd, sys.executable, "-m", "dvc", *args, timeout=timeout)


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


def when_free(cwd: Path, *args: str, wait: int, say: Callable[[str], None]) -> str:
    """`dvc *args`, waiting up to `wait` seconds while another DVC run holds the repo or the
    files the command reads (DVC refuses at once with "is busy" for the latter)."""
    def attempt() -> tuple[str, str | None]:
        try:
            return dvc(cwd, "--wait-for-lock", *args, timeout=max(wait, 1)), None
        except DvcError as err:
            if BUSY not in str(err):
                raise
            return "", str(err)

    return wait_while_busy(attempt, lambda result: result[1], wait, say)[0]


def status(cwd: Path, wait: int, say: Callable[[str], None]) -> dict:
    """`dvc status --json`: the stages (and files) that are not up to date."""
    return json.loads(when_free(cwd, "status", "--json", wait=wait, say=say) or "{}")


def checkout(cwd: Path, stage: str) -> None:
    """Put back the cached outputs that dvc.lock records for `stage` (best effort)."""
    subprocess.run([sys.executable, "-m", "dvc", "checkout", "--quiet", "--allow-missing", stage],
                   cwd=cwd, env=env(), capture_output=True)


def push(cwd: Path) -> str:
    """`dvc push` to the default remote: what the run made, for the team."""
    return dvc(cwd, "push")


def metrics_diff(cwd: Path, rev: str) -> dict:
    """`dvc metrics diff <rev> --all --json`."""
    return json.loads(dvc(cwd, "metrics", "diff", rev, "--all", "--json") or "{}")


def busy_line(lines: list[str]) -> str | None:
    """DVC's "is busy" error and the line after it, which names the holder's PID, if present."""
    at = next((i for i, line in enumerate(lines) if BUSY in line), None)
    return None if at is None else "\n".join(lines[at:at + 2])


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session: DVC and the python it started, as a group."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def repro(cwd: Path, stage: str, seconds: float, on_line: Callable[[str], None]) -> tuple[int | None, list[str]]:
    """`dvc repro --single-item stage` for up to `seconds`, each output line passed to `on_line`.
    Returns (exit code, lines); the code is None if it ran out of time and was stopped."""
    # --wait-for-lock: while another DVC command holds the repo lock, wait instead of failing.
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", stage],
                            cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: list[str] = []
    fresh: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def pump() -> None:  # reads the pipe and does nothing else, so the stage can always write
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.rstrip())
            fresh.put(lines[-1])
        fresh.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    teller = threading.Thread(target=tell, args=(fresh, on_line), daemon=True)
    reader.start()
    teller.start()
    try:
        return proc.wait(max(seconds, 1)), lines
    except subprocess.TimeoutExpired:
        stop(proc)
        return None, lines
    finally:
        if proc.poll() is None:  # cancelled or crashed while the stage ran: never leave it running
            stop(proc)
        reader.join(10)
        teller.join(10)


def tell(fresh: queue.SimpleQueue, on_line: Callable[[str], None], pause: float = 30) -> None:
    """Pass each line to `on_line` until None comes. `on_line` reaches the Prefect API (logs,
    progress), which may be down: after a call fails (said on stderr), lines are skipped for
    `pause` seconds, while the pump goes on draining the stage's output."""
    skip_until = 0.0
    while (line := fresh.get()) is not None:
        if time.monotonic() < skip_until:
            continue
        try:
            on_line(line)
        except Exception as err:  # noqa: BLE001 (whatever the API client raises, the stage goes on)
            skip_until = time.monotonic() + pause
            print(f"warning: the stage's output does not reach Prefect ({type(err).__name__}: {err}); "
                  f"the stage goes on, and its lines of the next {pause:.0f} s skip Prefect's log",
                  file=sys.stderr)
