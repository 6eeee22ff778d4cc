"""model.keras files that are byte-identical for identical models."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from tasks.core.io import atomic_write_bytes


def _renumber(node: object, ids: dict[int, int]) -> object:
    # Keras writes Python id()s as shared_object_id; number them in order of appearance instead.
    if isinstance(node, dict):
        return {k: ids.setdefault(v, len(ids)) if k == "shared_object_id" else _renumber(v, ids)
                for k, v in node.items()}
    return [_renumber(v, ids) for v in node] if isinstance(node, list) else node


def save_reproducibly(model: Any, path: Path) -> Path:
    """`model.save`, minus what varies between identical models (the save time, object ids,
    zip timestamps), written atomically.

    The same weights then give the same bytes, so DVC sees a retrained-but-identical model as
    unchanged and a fresh clone reproduces the committed dvc.lock.
    """
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    buf = io.BytesIO()
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta.pop("date_saved", None)
                data = json.dumps(meta).encode()
            elif info.filename == "config.json":
                data = json.dumps(_renumber(json.loads(data), {})).encode()
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data,
                         compress_type=info.compress_type)
    tmp.unlink()
    return atomic_write_bytes(path, buf.getvalue())
