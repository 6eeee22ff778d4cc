"""Train resumes after SIGKILL exactly where it stopped, and the same seed gives the same bytes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tasks import train
from tasks.core.paths import Paths
from tasks.runtime import resume
from tasks.runtime.backend import Knobs

from ..conftest import REPO, tiny_params, without_native_log

# The residual demo with augmentation: weights, optimizer slots and a SeedGenerator to restore.
# Twenty epochs of 0.1-0.2 s leave ample time to stop the run between two checkpoints: with six,
# an AVX-512 CPU (0.1 s an epoch) finished before the signal came.
RESUMABLE = {"model": "residual", "epochs": 20}
TIMEOUT = 180  # s, for every wait on a training process
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def copy_project(template: Path, root: Path) -> Paths:
    shutil.copytree(template, root)
    return Paths(root)


def outputs(paths: Paths) -> dict[str, bytes]:
    """The train stage's outputs, file by file: the best model and every DVCLive file."""
    files = {"model.keras": paths.model.read_bytes()}
    files.update({str(f.relative_to(paths.live)): f.read_bytes()
                  for f in sorted(paths.live.rglob("*")) if f.is_file()})
    return files


@pytest.fixture(scope="module")
def uninterrupted(validated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """One uninterrupted run of RESUMABLE, in this process."""
    paths = copy_project(validated_template, tmp_path_factory.mktemp("uninterrupted") / "p")
    train.run(tiny_params(train=RESUMABLE), paths)
    return paths


def test_same_seed_gives_identical_metrics_and_model_bytes(uninterrupted: Paths, tmp_path: Path,
                                                           validated_template: Path):
    again = copy_project(validated_template, tmp_path / "again")
    train.run(tiny_params(train=RESUMABLE), again)
    assert outputs(again) == outputs(uninterrupted)
    metrics = json.loads((again.live / "metrics.json").read_text())
    assert metrics["step"] == RESUMABLE["epochs"] - 1


def latest_epoch(paths: Paths) -> int:
    states = list(paths.array_cache.glob("train-state/*/state.json"))
    return json.loads(states[0].read_text())["epochs_done"] if states else 0


def stop_after_two_epochs(paths: Paths, tmp_path: Path, signum: int) -> tuple[list[str], int]:
    """Start `python -m tasks.train` on RESUMABLE; once 2 epochs are checkpointed, send it
    `signum` and wait for it to end. Returns the command and the epochs its state holds."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_params(train=RESUMABLE).model_dump(mode="json",
                                                                           by_alias=True)))
    cmd = [sys.executable, "-m", "tasks.train", "--root", str(paths.root), "--params", str(params)]
    with open(tmp_path / "stopped.out", "w") as out, open(tmp_path / "stopped.err", "w") as err:
        # As from a terminal: a runner started in the background of a non-interactive shell
        # ignores SIGINT, and the child would inherit it (Python then raises no KeyboardInterrupt).
        proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=out, stderr=err,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + TIMEOUT
        try:
            while latest_epoch(paths) < 2 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if proc.poll() is None:
                os.kill(proc.pid, signum)
            proc.wait(TIMEOUT)
        finally:
            proc.kill()
            proc.wait(TIMEOUT)
    stopped_at = latest_epoch(paths)
    assert proc.returncode == (-signum if signum == signal.SIGKILL else 130), \
        (tmp_path / "stopped.out").read_text() + (tmp_path / "stopped.err").read_text()
    assert 2 <= stopped_at < RESUMABLE["epochs"], "the signal came too late to test a resume"
    return cmd, stopped_at


def assert_resumes(cmd: list[str], paths: Paths, stopped_at: int, uninterrupted: Paths) -> None:
    """The next run resumes after epoch `stopped_at` and ends as an uninterrupted run."""
    done = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming from epoch {stopped_at} of {RESUMABLE['epochs']}" in done.stdout
    assert done.stdout.count("INFO [train] epoch ") == RESUMABLE["epochs"] - stopped_at
    for tsv in (paths.live / "plots" / "metrics").rglob("*.tsv"):  # each step exactly once
        steps = [row.split("\t")[0] for row in tsv.read_text().splitlines()[1:]]
        assert steps == [str(s) for s in range(RESUMABLE["epochs"])], tsv
    assert outputs(paths) == outputs(uninterrupted)  # best model over all epochs, same bytes
    assert list(paths.array_cache.glob("train-state/*")) == []  # a finished run cleans up


def test_a_killed_run_resumes_after_its_last_finished_epoch(uninterrupted: Paths, tmp_path: Path,
                                                            validated_template: Path):
    paths = copy_project(validated_template, tmp_path / "killed")
    cmd, stopped_at = stop_after_two_epochs(paths, tmp_path, signal.SIGKILL)
    assert_resumes(cmd, paths, stopped_at, uninterrupted)


def test_ctrl_c_ends_train_with_one_line_and_exit_130_then_it_resumes(
        uninterrupted: Paths, tmp_path: Path, validated_template: Path):
    paths = copy_project(validated_template, tmp_path / "interrupted")
    cmd, stopped_at = stop_after_two_epochs(paths, tmp_path, signal.SIGINT)
    stderr = without_native_log((tmp_path / "stopped.err").read_text())
    assert "Traceback" not in stderr and len(stderr.splitlines()) < 5, stderr
    assert "error: train: interrupted" in stderr
    assert_resumes(cmd, paths, stopped_at, uninterrupted)


def test_the_state_key_changes_with_anything_that_changes_the_run(validated_project: Paths):
    knobs = Knobs("tensorflow", "CPU", False, False, False)
    manifest = validated_project.accepted_manifest
    base = resume.run_key(tiny_params(), knobs, manifest)
    assert resume.run_key(tiny_params(), knobs, manifest) == base
    others = {resume.run_key(tiny_params(train={"learning_rate": 0.01}), knobs, manifest),
              resume.run_key(tiny_params(base={"seed": 7}), knobs, manifest),
              resume.run_key(tiny_params(), Knobs("jax", "CPU", False, False, True), manifest),
              resume.run_key(tiny_params(), Knobs("tensorflow", "CPU", False, True, False),
                                 manifest)}
    manifest.write_text(manifest.read_text().replace("cat", "Cat", 1))
    others.add(resume.run_key(tiny_params(), knobs, manifest))
    assert len(others) == 5 and base not in others
    # The device's name is logged, not hashed: the same run on another CPU may resume.
    assert resume.run_key(tiny_params(), Knobs("tensorflow", "other CPU", False, False, False),
                              manifest) == resume.run_key(tiny_params(), knobs, manifest)


def test_a_state_that_does_not_fit_the_model_is_ignored(tmp_path: Path):
    import keras

    a, b = keras.Variable([1.0, 2.0], name="a"), keras.Variable([3.0], name="b")
    saved = resume.TrainState().after_epoch({"loss": 1.0, "val_loss": 0.5})[0]
    resume.Store(tmp_path, [a, b]).save(saved)
    a.assign([0.0, 0.0])
    restored = resume.Store(tmp_path, [a, b])
    assert restored.load() == saved and a.numpy().tolist() == [1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "weights-1.npz"]
    assert resume.Store(tmp_path, [b, a]).load() is None  # other variables: start afresh
    weights = tmp_path / "weights-1.npz"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    assert resume.Store(tmp_path, [a, b]).load() is None
    assert resume.Store(tmp_path / "none", [a, b]).load() is None


@pytest.mark.parametrize("edit", [
    lambda meta: {**meta, "best": "best-1.keras"},  # names a best model that is not there
    lambda meta: {k: v for k, v in meta.items() if k != "epochs_done"},
    lambda meta: {**meta, "weights": "weights-9.npz"},
    "{not json",
    [],
    lambda meta: {**meta, "weights": None},
    lambda meta: {k: v for k, v in meta.items() if k != "sha256"},
], ids=["missing-best", "missing-key", "missing-weights", "bad-json", "not-an-object", "null-weights",
        "no-hashes"])
def test_an_unusable_state_json_starts_afresh_and_restores_nothing(tmp_path: Path, edit):
    import keras

    a = keras.Variable([1.0, 2.0], name="a")
    resume.Store(tmp_path, [a]).save(resume.TrainState().after_epoch({"loss": 1.0, "val_loss": 0.5})[0])
    state = tmp_path / resume.STATE
    meta = json.loads(state.read_text())
    state.write_text(edit if isinstance(edit, str) else json.dumps(edit(meta) if callable(edit) else edit))
    a.assign([0.0, 0.0])
    store = resume.Store(tmp_path, [a])
    assert store.load() is None and a.numpy().tolist() == [0.0, 0.0] and store.best_path is None


def test_train_state_tracks_the_best_finite_val_loss():
    state, better = resume.TrainState().after_epoch({"loss": 1.0, "val_loss": float("nan")})
    assert not better and (state.epochs_done, state.best_epoch, state.best_val_loss) == (1, 0, float("inf"))
    state, better = state.after_epoch({"loss": 0.9, "val_loss": 0.7})
    assert better and (state.best_epoch, state.best_val_loss) == (2, 0.7)
    state, better = state.after_epoch({"loss": 0.8, "val_loss": 0.7})  # a tie is not better
    assert not better and state.best_epoch == 2 and state.epochs_done == 3 and len(state.history) == 3


@pytest.mark.parametrize("name", ["weights-1.npz", "best-1.keras"])
def test_a_state_file_corrupted_since_its_save_is_named_and_not_resumed(
        tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture):
    import keras

    a = keras.Variable([1.0, 2.0], name="a")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    resume.Store(tmp_path, [a]).save(resume.TrainState().after_epoch({"loss": 1.0, "val_loss": 0.5})[0],
                                     model)
    data = bytearray((tmp_path / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, where neither format's own checks may look
    (tmp_path / name).write_bytes(bytes(data))
    a.assign([0.0, 0.0])
    store = resume.Store(tmp_path, [a])
    assert store.load() is None and a.numpy().tolist() == [0.0, 0.0] and store.best_path is None
    assert f"{tmp_path / name}: corrupted" in caplog.text and "starting afresh" in caplog.text
