"""Drive a throwaway copy of a finished tiny project as a user would: `dvc` and
`python -m tasks.<stage>` subprocesses, each bounded by a timeout, and the faults the
reliability tests inject (freeze a stage mid-write and kill it; cap the file size)."""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from flows.dvc import stages
from tasks.core.config import Params
from tasks.core.paths import Paths

from ..conftest import REPO, pipeline_env, write_params

HOOKS = Path(__file__).parent / "hooks"
TIMEOUT = 240  # seconds any one subprocess may take; a hang fails the test instead of the suite
STAGES = stages(REPO)  # as dvc.yaml declares them


class Project:
    """A git + DVC project under `root`; methods run commands there and inspect its state."""

    def __init__(self, root: Path):
        self.root, self.paths = root, Paths(root)

    def env(self, **extra: str) -> dict[str, str]:
        # Unbuffered, so a log tells where a killed process was; no .pyc written into tasks/.
        return pipeline_env(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", **extra)

    def run(self, *cmd: str | Path, timeout: float = TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(c) for c in cmd], cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, env=kwargs.pop("env", None) or self.env(), **kwargs)

    def measured(self, *cmd: str | Path, timeout: float = TIMEOUT) -> tuple[subprocess.CompletedProcess, int]:
        """Run `cmd` like `run`, and also return its peak resident memory in MB (wait4's rusage:
        that process, or the largest child it waited for)."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen([str(c) for c in cmd], cwd=self.root, env=self.env(), stdout=out,
                                    stderr=err, text=True, start_new_session=True)
            deadline = time.monotonic() + timeout
            while not (waited := os.wait4(proc.pid, os.WNOHANG))[0]:
                if time.monotonic() > deadline:
                    kill_group(proc)
                    raise subprocess.TimeoutExpired(cmd, timeout)
                time.sleep(0.05)
            proc.returncode = os.waitstatus_to_exitcode(waited[1])
            out.seek(0), err.seek(0)
            done = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
        return done, waited[2].ru_maxrss // 1024

    def dvc(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, **kwargs)

    def stage(self, name: str, **kwargs) -> subprocess.CompletedProcess:
        """`python -m tasks.<name>`: exactly the command dvc.yaml runs."""
        return self.run(sys.executable, "-m", f"tasks.{name}", **kwargs)

    def repro(self, *args: str) -> str:
        """`dvc repro`, which must succeed; returns its output."""
        done = self.dvc("repro", *args)
        assert done.returncode == 0, f"dvc repro {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def start(self, *cmd: str, log: Path, **env: str) -> subprocess.Popen:
        """Start `cmd` in its own process group (so one killpg ends it and all it started),
        logging to a file: a pipe nobody reads would block a chatty process."""
        with open(log, "w") as out:
            return subprocess.Popen(list(cmd), cwd=self.root, env=self.env(**env), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def status(self) -> dict:
        """`dvc status --json`: {stage: changes}; empty when everything is up to date."""
        done = self.dvc("status", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout or "{}")

    def lock(self) -> dict:
        return yaml.safe_load((self.root / "dvc.lock").read_text())

    def forget(self, stage: str, finished_runs: bool = True) -> None:
        """Drop `stage`'s outputs from DVC's cache (and the run cache), and for train its own
        store of finished runs unless `finished_runs` is False, as if this stage and params had
        never completed: `dvc repro` must then run it (train: train), not check it out."""
        if stage == "train" and finished_runs:
            shutil.rmtree(self.paths.train_runs, ignore_errors=True)
        shutil.rmtree(self.root / ".dvc" / "cache" / "runs", ignore_errors=True)
        for out in self.lock()["stages"][stage]["outs"]:
            md5 = out["md5"]
            (self.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink(missing_ok=True)

    def write_params(self, params: Params) -> Path:
        return write_params(self.root, params)

    def leftovers(self) -> list[str]:
        """Temp files and folders a killed or failed run left under data/ (none may outlive
        the next run): atomic_dir's .X.tmp-/.X.old-, atomic_write_bytes' and the array
        cache's .X.tmp-, nested zips being unpacked."""
        return sorted(str(p.relative_to(self.root)) for p in self.paths.data.rglob(".*")
                      if any(m in p.name for m in (".tmp-", ".old-", ".nested-", ".npy")))

    def digest(self, rel: str) -> str:
        """sha256 over the names and bytes of a file or of every file under a folder."""
        digest, top = hashlib.sha256(), self.root / rel
        for path in sorted([top] if top.is_file() else (p for p in top.rglob("*") if p.is_file())):
            digest.update(f"{path.relative_to(self.root)}\0".encode() + path.read_bytes())
        return digest.hexdigest()


def freeze_env(event: str, glob: str, marker: Path) -> dict[str, str]:
    """Env for a run whose first `event` on a path matching `glob` freezes the process
    (hooks/sitecustomize.py), e.g. ("open", "*/data/.raw.tmp-*/*.jpg")."""
    return {"PYTHONPATH": str(HOOKS), "RELIABILITY_FREEZE_EVENT": event,
            "RELIABILITY_FREEZE_GLOB": glob, "RELIABILITY_FROZEN": str(marker)}


def wait_frozen(proc: subprocess.Popen, marker: Path, log: Path, timeout: float = TIMEOUT
                ) -> tuple[int, str]:
    """Wait (bounded) until a process of `proc`'s group froze; return its pid and the path."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            kill_group(proc)
            raise AssertionError(f"never reached the freeze point (exit {proc.returncode}):\n"
                                 f"{log.read_text()[-3000:]}")
        time.sleep(0.05)
    pid, path = marker.read_text().split(" ", 1)
    return int(pid), path


def kill_group(proc: subprocess.Popen) -> int:
    """SIGKILL `proc` and everything it started (its process group); return its exit code."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.wait(timeout=60)


def file_size_cap(limit: int):
    """A preexec_fn: writes past `limit` bytes fail with EFBIG, as on a full disk. SIGXFSZ,
    which would kill the process instead, is ignored so the write raises OSError."""
    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return cap
