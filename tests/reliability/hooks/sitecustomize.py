"""Test harness only, never imported by the product: tests/reliability puts this folder on
PYTHONPATH so that every Python process of a run (dvc and the stage it starts) loads it.

With RELIABILITY_FREEZE_EVENT and RELIABILITY_FREEZE_GLOB set, the first process to raise that
audit event ("open" for a write, "os.link", "os.rename") on a path matching the glob writes
"<pid> <path>" to RELIABILITY_FROZEN and stops itself with SIGSTOP. The stage is then frozen at
an exact point in the middle of its work, however fast it is, and the test kills it (or lets it
go on with SIGCONT) deterministically: no sleeps, no races with a stage that takes 10 ms.
"""
import fnmatch
import os
import signal
import sys

_EVENT = os.environ.get("RELIABILITY_FREEZE_EVENT")
_GLOB = os.environ.get("RELIABILITY_FREEZE_GLOB", "")
_MARKER = os.environ.get("RELIABILITY_FROZEN", "")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _target(event, args):
    """The path this event writes, or None if it writes nothing."""
    if event == "open":  # open(): (path, mode, flags); os.open(): (path, None, flags)
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if mode else bool((flags or 0) & _WRITE_FLAGS)
        return path if writes and not isinstance(path, int) else None
    if event == "os.link":  # (src, dst, ...): the new name is what gets written
        return args[1]
    return args[0] if event == "os.rename" else None  # (src, dst, ...): what is moved in


def _hook(event, args):
    global _EVENT
    if event != _EVENT:
        return
    path = _target(event, args)
    if path is None or not fnmatch.fnmatch(os.path.abspath(os.fsdecode(path)), _GLOB):
        return
    _EVENT = None  # fire once; the marker's own writes below must not match again
    with open(_MARKER + ".tmp", "w") as fh:
        fh.write(f"{os.getpid()} {os.fsdecode(path)}")
    os.replace(_MARKER + ".tmp", _MARKER)  # the test never reads a half-written marker
    os.kill(os.getpid(), signal.SIGSTOP)


if _EVENT and _GLOB and _MARKER:
    sys.addaudithook(_hook)
