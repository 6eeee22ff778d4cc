"""Quiet stages: a real TensorFlow stage's output holds what the stage says, not TensorFlow's
native start-up lines, deprecation or future warnings; `make run` ends with a short summary."""
from __future__ import annotations

import os
import subprocess
import sys

from tasks import evaluate
from tasks.core.paths import Paths

from .conftest import NATIVE_LOG, REPO, tiny_params, write_params

NOISE = ("absl::InitializeLog", "oneDNN custom operations", "port.cc", "cpu_feature_guard",
         "Warning", "deprecated", "np.object", "XNNPACK", "INFO:tensorflow:")


def test_the_export_stage_prints_no_tensorflow_start_up_lines_or_warnings(trained_project: Paths, tmp_path):
    params = tiny_params(export={"formats": ["keras", "savedmodel", "tflite", "tflite_int8", "onnx"]})
    evaluate.run(params, trained_project)
    # As `make run` runs it: the Makefile's log level (which alone silences none of these lines).
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run([sys.executable, "-m", "tasks.export", "--root", str(trained_project.root),
                           "--params", str(write_params(tmp_path, params))],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "exported keras, savedmodel, tflite, tflite_int8, onnx" in done.stdout
    assert "INFO [export] Assets written to" in done.stdout  # TensorFlow's own log: once, in the stage's
    for stream in (done.stdout, done.stderr):
        assert not NATIVE_LOG.search(stream), stream
        assert not [word for word in NOISE if word in stream], stream


def test_native_start_up_lines_go_and_everything_else_passes_in_order():
    code = ("import os, sys\n"
            "from tasks.core.native_log import filtered_stderr\n"
            "with filtered_stderr():\n"
            "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written"
            " to STDERR\\n')\n"
            "    os.write(2, b'I0000 00:00:1796195840.378027   21578 port.cc:153] oneDNN custom operations"
            " are on.\\n')\n"
            "    os.write(2, b'E0000 00:00:1796195840.378027   21578 x.cc:1] a real error\\n')\n"
            "    print('from python', file=sys.stderr)\n"
            "    os.write(2, b'no newline')\n"
            "print('after', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == (
        "E0000 00:00:1796195840.378027   21578 x.cc:1] a real error\nfrom python\nno newlineafter\n")


def test_importing_tensorflow_through_the_formats_is_quiet_and_unchanged():
    code = ("import sys, tasks.formats, tensorflow as tf\n"
            "print(tf.__version__, type(tf.__spec__.loader).__name__,"
            " any('Quiet' in type(f).__name__ for f in sys.meta_path))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.split()[1:] == ["SourceFileLoader", "False"]  # as if never wrapped


def test_make_run_ends_with_the_summary_not_a_metrics_table():
    done = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)  # under `make test` this make is a sub-make
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-2:] == ["dvc repro", "python -m tasks.export --summary"]
