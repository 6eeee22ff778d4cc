"""The benchmark harness: what its figures are made of (FLOPs, peaks, commands, the table) and
the GPU machine's wheel list, checked on this machine. Timings themselves are not tested."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from bench import harness, table
from bench.utilisation import forward_flops, peak_tflops

REPO = Path(__file__).resolve().parents[1]


def test_forward_flops_counts_each_kind_of_layer_by_hand():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)            # 8*8 * 3*3*3 * 4 MACs
    x = keras.layers.SeparableConv2D(6, 3, padding="valid")(x)       # 6*6 * (3*3*4 + 4*6)
    x = keras.layers.BatchNormalization()(x)                         # not counted
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2)(x)                                # 6 * 2
    inner = keras.Model(inputs, outputs)
    wrapper_in = keras.Input((8, 8, 3))
    wrapper = keras.Model(wrapper_in, inner(wrapper_in))  # nested, as train's augmenting wrapper
    macs = 8 * 8 * 27 * 4 + 6 * 6 * (36 + 24) + 12
    assert forward_flops(inner) == forward_flops(wrapper) == 2 * macs


def test_forward_flops_of_resnet50_is_the_published_figure():
    from tasks.core.config import Train
    from tasks.networks import zoo

    model = zoo.build(Train(model="resnet50", image_size=224))
    assert forward_flops(model) / 2e9 == pytest.approx(3.86, abs=0.01)  # GMACs, He et al. 2016


def test_peaks_come_from_the_data_sheet_or_cpuinfo():
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == (989.4, "H100 data sheet, dense bf16")
    assert peak_tflops("NVIDIA H100 PCIe", "fp32")[0] == 378.0
    assert peak_tflops("Some Accelerator", "bf16") is None
    cpu = peak_tflops("CPU AMD EPYC (2 cores)", "fp32")
    assert cpu is None or (cpu[0] > 0 and "cpuinfo" in cpu[1])


def test_results_name_the_module_command_and_the_given_commit(monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(REPO / "bench" / "train.py"), "--steps", "2"])
    monkeypatch.setenv("BENCH_COMMIT", "abc123")
    r = harness.record("x", 1.23456, "s", backend="jax", device="GPU")
    assert (r["command"], r["commit"], r["value"]) == ("python -m bench.train --steps 2", "abc123", 1.2346)


def test_the_commit_is_dirty_for_changed_code_but_not_for_written_results(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_COMMIT", raising=False)
    monkeypatch.setattr(harness, "REPO", tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    (tmp_path / "bench" / "results").mkdir(parents=True)
    for name in ("bench/results/cpu.json", "code.py"):
        (tmp_path / name).write_text("1\n")
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "c"], check=True)
    (tmp_path / "bench" / "results" / "cpu.json").write_text("2\n")
    assert not harness.commit().endswith("+dirty")
    (tmp_path / "code.py").write_text("2\n")
    assert harness.commit().endswith("+dirty")


def test_table_folds_training_figures_with_their_share_of_peak(tmp_path, monkeypatch):
    common = {"device": "NVIDIA H100", "backend": "jax", "command": "c", "commit": "c"}
    results = [
        {"name": "train jax resnet50 224px bf16 aug on: steady img/s", "value": 3500.0, "unit": "img/s",
         "target": ">= 3,000", "of_peak": 0.0812, "gpu_busy_pct": 97.0, "step_only_img_per_s": 3900.0,
         **common},
        {"name": "train jax resnet50 224px bf16 aug off: steady img/s", "value": 3600.0, "unit": "img/s",
         **common},
        {"name": "train jax resnet50 224px bf16 aug on: compile + warm-up", "value": 41.0, "unit": "s", **common},
    ]
    (tmp_path / "h100-2026-01-01.json").write_text(json.dumps({"results": results}))
    monkeypatch.setattr(table, "RESULTS", tmp_path)
    assert table.markdown().splitlines()[2] == (
        "| train jax resnet50 224px bf16 | 3,500 img/s aug on / 3,600 img/s aug off (first epoch 41 s; "
        "8.1% of peak; GPU busy 97%; step alone 3,900 img/s) | >= 3,000 | NVIDIA H100 | |")


def test_the_gpu_machines_wheels_are_pinned_as_in_the_lock():
    lock = {re.sub(r"[-_.]+", "-", ln.split("==")[0].lower()): ln.split("==")[1].strip()
            for ln in (REPO / "requirements.lock").read_text().splitlines() if "==" in ln}
    pins = [ln.strip() for ln in (REPO / "bench" / "device-requirements.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert {"keras", "pydantic", "dvclive"} <= {p.split("==")[0] for p in pins}
    for pin in pins:
        name, version = pin.split("==")
        assert lock.get(name) == version, f"{pin}: requirements.lock has {lock.get(name)}"


def test_book_run_refuses_a_root_that_was_not_prepared(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.book", "run", "--root", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{tmp_path / 'params.yaml'}: not found; run `python -m bench.book prepare` first" in done.stderr


def test_device_script_refuses_without_its_prepared_folder(tmp_path):
    script = tmp_path / "bench" / "device.sh"
    script.parent.mkdir()
    script.write_text((REPO / "bench" / "device.sh").read_text())
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert done.returncode == 2 and "run 'make device-prep' and carry .device" in done.stderr


def test_train_bench_times_the_repeats_after_a_warm_up_epoch():
    from bench.train import measure

    m = measure("residual", "fp32", augment=True, batch=4, steps=2, repeats=2)
    assert len(m["epoch_s"]) == 2 and m["img_per_s"] > 0 and m["warmup_s"] > 0
    assert m["train_tflops"] == pytest.approx(m["img_per_s"] * 3 * 78_627_072 / 1e12, abs=1e-4)
    assert m["gpu_busy_pct"] is None  # no GPU here: nothing read, nothing made up
    assert m["step_only_img_per_s"] is None  # measured on JAX only (tests run Keras on TF)


def test_on_jax_the_train_bench_also_times_the_compiled_step_alone():
    code = ("import json; from bench.train import measure; "
            "print(json.dumps(measure('residual', 'fp32', True, 4, 2, 1)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    m = json.loads(done.stdout.splitlines()[-1])
    assert m["backend"] == "jax" and m["jit"] is True and m["step_only_img_per_s"] > 0


def test_pipeline_bench_reads_each_stages_seconds_from_its_log_lines():
    from bench.pipeline import stage_seconds

    log = ("2026-11-22 19:32:02,100 INFO [train] backend tensorflow\n"
           "Running stage 'train':\n"
           "2026-11-22 19:33:12,000 INFO [train] best epoch 10\n"
           "2026-11-22 19:33:13,500 INFO [evaluate] test: accuracy 0.9750\n"
           "2026-11-22 19:33:21,800 INFO [evaluate] done\n")
    assert stage_seconds(log) == {"train": 70.0, "evaluate": 8.0}


@pytest.mark.parametrize("flags, unit", [("fpu avx2 fma", " (AVX2)"), ("avx2 avx512f", " (AVX-512)"),
                                         ("avx2 avx512f amx_bf16", " (AMX-BF16)"), ("fpu", "")])
def test_the_device_names_the_cpus_widest_vector_unit(flags, unit):
    # Two machines here are both "AMD EPYC", one with AVX2 only, one 2.5x faster with AVX-512.
    got = harness.device_name(f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: {flags}\n")
    assert got.startswith(f"AMD EPYC{unit}, ") and got.endswith(" cores")
