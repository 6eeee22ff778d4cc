"""The stage error, and a refused write reported as one that names its output."""
from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path


class StageError(RuntimeError):
    """A stage refused its input. The message names the file or key and says why."""


# The filesystem refused to store the bytes: a full disk, a quota, a file-size limit (ulimit -f),
# a read-only mount. Not the stage's fault and not its input's, but the user must know *where*.
WRITE_REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def write_refused(err: BaseException) -> bool:
    """Whether `err` is the OS refusing a write (see WRITE_REFUSED)."""
    return isinstance(err, OSError) and err.errno in WRITE_REFUSED


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Report a refused write inside the block as a StageError naming `path`.

    A failed write() carries no file name (the OS only says "File too large"), so without this
    a full disk surfaces as a bare traceback that does not say which output could not be written.
    """
    try:
        yield
    except OSError as err:
        if not write_refused(err):
            raise
        detail = f" (writing {err.filename})" if err.filename else ""
        raise StageError(f"cannot write {path}: {err.strerror}{detail}") from err
