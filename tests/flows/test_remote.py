"""A shared DVC remote on a real S3-compatible server (rclone serve s3 on 127.0.0.1): what one
teammate runs and pushes, another pulls, and reproduces without running a stage; experiments
travel with `dvc exp push` and `dvc exp pull`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..helpers.projects import env, new_project, ran, sh
from ..helpers.s3 import KEY, SECRET, rclone_s3

pytestmark = pytest.mark.slow
CREDENTIALS = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}


def dvc(root: Path, *args: str, **extra: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env(**extra),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def clone(origin: Path, root: Path) -> Path:
    sh(origin.parent, "git", "clone", "-q", str(origin), str(root))
    return root


def test_push_then_a_fresh_clone_pulls_and_reproduces_without_running_a_stage(tmp_path: Path):
    with rclone_s3(tmp_path / "s3", "dvc") as s3:
        origin = tmp_path / "origin.git"
        sh(tmp_path, "git", "init", "-q", "--bare", "-b", "main", str(origin))
        first = new_project(tmp_path / "first", train={"model": "residual", "image_size": 32})
        sh(first, sys.executable, "-m", "flows.remote", "s3://dvc/dogs-vs-cats", "--endpoint",
           s3.endpoint, "--key", KEY, "--secret", SECRET)
        assert KEY not in (first / ".dvc/config").read_text()  # credentials stay out of git
        assert KEY in (first / ".dvc/config.local").read_text()
        params = yaml.safe_load((first / "params.yaml").read_text())
        params["flow"]["push"] = True  # the flow run publishes what it made
        (first / "params.yaml").write_text(yaml.safe_dump(params))
        flow_env = {**env(PREFECT_HOME=str(tmp_path / "prefect"))}
        flow_env.pop("PREFECT_API_URL", None)
        flow = subprocess.run([sys.executable, "-m", "flows.pipeline"], cwd=first, env=flow_env,
                              capture_output=True, text=True, timeout=900)
        assert flow.returncode == 0, flow.stdout[-3000:] + flow.stderr[-3000:]
        assert "flow.push: dvc push" in flow.stdout + flow.stderr
        assert s3.objects("dvc"), "the flow's push uploaded nothing"
        assert "Everything is up to date" in dvc(first, "push")  # the flow pushed it all
        sh(first, "git", "add", "-A")
        sh(first, "git", "commit", "-qm", "first run")
        sh(first, "git", "push", "-q", str(origin), "main")

        second = clone(origin, tmp_path / "second")
        dvc(second, "pull", **CREDENTIALS)
        for out in ("data/model/model.keras", "data/export/model.keras", "data/raw", "data/validate"):
            assert (second / out).exists(), out
        assert json.loads(dvc(second, "status", "--json")) == {}
        assert not ran(dvc(second, "repro", **CREDENTIALS))

        third = clone(origin, tmp_path / "third")
        assert not ran(dvc(third, "repro", "--pull", **CREDENTIALS))
        assert (third / "data/model/model.keras").read_bytes() == (first / "data/model/model.keras").read_bytes()

        # An experiment travels: its git ref through origin, its outputs through the remote.
        dvc(first, "exp", "run", "-n", "longer", "-S", "train.epochs=2")
        dvc(first, "exp", "push", str(origin), "longer")
        dvc(second, "exp", "pull", str(origin), "longer", **CREDENTIALS)
        shown = json.loads(dvc(second, "exp", "show", "--json"))
        names = [e.get("name") for row in shown for e in (row.get("experiments") or [])
                 for e in (e.get("revs") or [])]
        assert "longer" in names, shown
        dvc(second, "exp", "apply", "longer", **CREDENTIALS)
        assert (second / "data/model/model.keras").read_bytes() == \
            (first / "data/model/model.keras").read_bytes()
