"""tasks.runtime.backend's choices (backend, knobs, determinism) and progress.share_done, without training."""
from __future__ import annotations

import itertools
import os
import sys
import types

import pytest

from tasks.core.config import Train
from tasks.core.errors import StageError
from tasks.runtime import backend, progress
from tasks.runtime.backend import Knobs

PREFIX = "2024-05-01 12:00:00,123 INFO [train] "  # tasks/core/cli.py's log format


def test_resolve_auto_reads_keras_backend_else_tensorflow(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backend.resolve("auto") == "jax"
    assert backend.resolve("tensorflow") == "tensorflow"  # an explicit choice wins
    monkeypatch.delenv("KERAS_BACKEND")
    assert backend.resolve("auto") == "tensorflow"
    assert backend.resolve("jax") == "jax"


@pytest.mark.parametrize("choice, env", [("torch", None), ("auto", "torch"), ("auto", ""), ("JAX", None)])
def test_resolve_refuses_an_unsupported_backend_naming_it(monkeypatch, choice, env):
    if env is not None:
        monkeypatch.setenv("KERAS_BACKEND", env)
    name = env if choice == "auto" else choice
    with pytest.raises(StageError, match=f"KERAS_BACKEND={name!r}: train supports tensorflow, jax"):
        backend.resolve(choice)


GRID = list(itertools.product(("auto", "on", "off"), ("auto", "on", "off"), ([], ["NVIDIA H200"]),
                              ("tensorflow", "jax")))


@pytest.mark.parametrize("mixed, jit, gpus, name", GRID)
def test_resolve_knobs_follows_the_documented_rules(mixed, jit, gpus, name):
    knobs = backend.resolve_knobs(Train(mixed_precision=mixed, jit_compile=jit), name, gpus)
    gpu = bool(gpus)
    assert knobs.mixed_precision is {"on": True, "off": False, "auto": gpu}[mixed]
    assert knobs.jit_compile is {"on": True, "off": False, "auto": gpu or name == "jax"}[jit]
    assert (knobs.backend, knobs.gpu) == (name, gpu)
    assert knobs.device == (gpus[0] if gpus else backend.cpu_name())


def test_knobs_name_every_gpu():
    knobs = backend.resolve_knobs(Train(), "tensorflow", ["NVIDIA H200", "NVIDIA H200"])
    assert knobs.device == "NVIDIA H200, NVIDIA H200" and knobs.gpu


def test_cpu_name_names_the_cores_with_or_without_proc_cpuinfo(monkeypatch):
    name = backend.cpu_name()
    assert isinstance(name, str) and name.startswith("CPU ") and name.endswith(f"({os.cpu_count()} cores)")

    def no_file(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(backend, "open", no_file, raising=False)
    monkeypatch.setattr(backend.platform, "processor", lambda: "")
    monkeypatch.setattr(backend.platform, "machine", lambda: "riscv64")
    assert backend.cpu_name() == f"CPU riscv64 ({os.cpu_count()} cores)"


@pytest.fixture
def fake_tensorflow(monkeypatch) -> list[str]:
    """A stand-in `tensorflow` module that records enable_op_determinism calls."""
    calls: list[str] = []
    experimental = types.SimpleNamespace(enable_op_determinism=lambda: calls.append("on"))
    monkeypatch.setitem(sys.modules, "tensorflow",
                        types.SimpleNamespace(config=types.SimpleNamespace(experimental=experimental)))
    return calls


@pytest.mark.parametrize("knobs, jit", [
    (Knobs("tensorflow", "CPU", False, False, False), False),  # CPU kernels are deterministic
    (Knobs("jax", "GPU", True, False, False), False),           # so is JAX
    (Knobs("tensorflow", "GPU", True, False, True), True),      # keeps XLA
])
def test_make_deterministic_leaves_op_determinism_off_where_it_is_not_needed(fake_tensorflow, knobs, jit):
    assert backend.make_deterministic(knobs, jit) is False and fake_tensorflow == []


def test_make_deterministic_switches_it_on_for_tensorflow_on_a_gpu_without_xla(fake_tensorflow):
    assert backend.make_deterministic(Knobs("tensorflow", "GPU", True, False, True), False) is True
    assert fake_tensorflow == ["on"]


@pytest.mark.parametrize("line, share", [
    (PREFIX + progress.EPOCH % (3, 12, "loss 0.69, val_loss 0.70", 1.25), 25.0),
    (PREFIX + progress.EPOCH % (12, 12, "", 0.0), 100.0),
    (PREFIX + progress.RESUMING % (4, 5, "data/cache/train-state/abc"), 80.0),
    (PREFIX + progress.RESUMING % (0, 3, "x"), 0.0),
    (PREFIX + progress.RESTORED % ("abc", "data/cache/train-runs", 0.4, 12, 95.0, 7, 0.41), 100.0),
])
def test_share_done_reads_back_the_lines_train_writes(line: str, share: float):
    assert progress.share_done(line) == pytest.approx(share)


@pytest.mark.parametrize("line", [
    "", PREFIX + "backend tensorflow on CPU", PREFIX + "resuming from epoch 1", PREFIX + "epoch one/2: loss",
    PREFIX.replace("train", "evaluate") + progress.EPOCH % (1, 2, "", 0),  # another stage's log
    "epoch 1/2: loss 0.5 (1.0 s)", "Epoch 1/2",
])
def test_share_done_ignores_other_lines(line: str):
    assert progress.share_done(line) is None
