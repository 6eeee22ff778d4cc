"""Quiet TensorFlow's native start-up lines, which no log level silences.

Importing TensorFlow 2.21 writes, from C++ and straight to file descriptor 2, before its absl
logging is initialised (so TF_CPP_MIN_LOG_LEVEL, even 3, is not consulted yet, and absl reads no
environment variable):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796195840.378027   21578 port.cc:153] oneDNN custom operations are on. ...

twice (two libraries each carry their own absl), and, without TF_CPP_MIN_LOG_LEVEL, a
cpu_feature_guard line. Disabling oneDNN (TF_ENABLE_ONEDNN_OPTS=0) would drop one of them but
change the numbers, so instead `install()` filters descriptor 2 while `tensorflow` is first
imported: those lines go, everything else written meanwhile (a warning, an error, a crash
message) passes through as it comes. Nothing else changes: the import, its flags and oneDNN
are as they were.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import threading
from collections.abc import Iterator

# Native start-up lines: absl's pre-initialisation banner, and INFO-severity (I...) lines in
# absl's format with cpu_feature_guard's second line. Warnings and errors (W..., E...) stay.
START_UP = re.compile(rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written "
                      rb"to STDERR"
                      rb"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*"
                      rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate "
                      rb"compiler flags\.")


@contextlib.contextmanager
def filtered_stderr(drop: re.Pattern[bytes] = START_UP) -> Iterator[None]:
    """While inside, every line written to file descriptor 2 (by Python or native code) passes
    through unless it matches `drop` as a whole; lines pass as they come, not at the end."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a daemon): nothing to filter
        yield
        return
    read_end, write_end = os.pipe()

    def relay() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not drop.fullmatch(line.rstrip(b"\r\n")):
                    os.write(saved, line)

    relaying = threading.Thread(target=relay, name="native-log-filter", daemon=True)
    relaying.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the relay sees its end
        relaying.join(timeout=10)
        if not relaying.is_alive():  # else a child still holds the pipe: the relay keeps `saved`
            os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """`tensorflow`'s own loader, run with its start-up lines filtered out."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # as if never wrapped
        with filtered_stderr():
            self.loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader the other finders give `tensorflow`, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once, and so that find_spec below skips this finder
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Filter TensorFlow's start-up lines when this process first imports it (idempotent; no
    effect once it is imported, or if it never is, as under the jax backend without it)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())
