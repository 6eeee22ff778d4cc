"""The log lines train writes about its progress, and the one parser that reads them back
(the Prefect flow turns them into a progress bar)."""
from __future__ import annotations

import re

from tasks.core.cli import tag

EPOCH = "epoch %d/%d: %s (%.1f s)"
RESUMING = "resuming from epoch %d of %d (state %s)"
RESTORED = ("restored finished run %s from %s in %.1f s, without training (it trained %d epochs "
            "in %.0f s; best epoch %d, val_loss %.4f)")
# The three formats above as read back, after the stage's tag in the log line (tasks/core/cli.py).
_READ = re.compile(re.escape(tag("train")) + r" (?:epoch (\d+)/(\d+):|resuming from epoch (\d+) of (\d+)"
                   r"|(restored finished run) )")


def share_done(line: str) -> float | None:
    """The share of epochs finished (0-100) that a line of train's log reports, if any."""
    m = _READ.search(line)
    if m is None:
        return None
    if m[5]:  # every epoch is done: restored, not trained
        return 100.0
    done, total = (m[1], m[2]) if m[1] else (m[3], m[4])
    return 100.0 * int(done) / int(total)
