"""The local source: download.path, read from the project root, and never one of the pipeline's
own outputs (a source inside data/split would rebuild data/raw from last run's split)."""
from __future__ import annotations

import functools
import re
from pathlib import Path

from tasks.core.config import LOCAL_DEFAULT, Params
from tasks.core.errors import StageError
from tasks.core.paths import Paths
from tasks.core.pipeline_spec import entry_path, stage_specs

OUTPUT_KEYS = ("outs", "metrics", "plots")  # what a stage in dvc.yaml declares that it writes
TEMPLATE = re.compile(r"\$\{\s*([\w.]+)\s*\}")  # DVC's ${section.key}, filled from params.yaml


def pipeline_outputs(params: Params, root: Path) -> dict[Path, str]:
    """Each output that `root`/dvc.yaml declares (resolved), and the stage writing it; none
    where there is no dvc.yaml (a stage run on a bare folder with --root)."""
    fill = functools.partial(TEMPLATE.sub, lambda m: str(functools.reduce(
        getattr, m.group(1).split("."), params)))
    return {(root / fill(entry_path(entry))).resolve(): stage
            for stage, body in stage_specs(root).items() for key in OUTPUT_KEYS for entry in body.get(key) or []}


def local_source(params: Params, paths: Paths) -> Path:
    """download.path, a relative one read from the project root (where DVC, which tracks it as
    a dependency, reads it too), not from the current directory. Refused where it is, holds or
    lies inside an output of the pipeline: download would read what the pipeline wrote."""
    path = params.download.path
    source = path if path.is_absolute() else paths.root / path
    real = source.resolve()
    for out, stage in pipeline_outputs(params, paths.root).items():
        if real == out or out in real.parents or real in out.parents:
            shown = out.relative_to(paths.root.resolve()) if paths.root.resolve() in out.parents \
                else out
            raise StageError(f"download.path: {path} overlaps {shown}, an output of the {stage} "
                             f"stage in dvc.yaml: the pipeline would read what it writes; put the "
                             f"photos outside the outputs (e.g. in {LOCAL_DEFAULT})")
    if not source.exists():
        raise StageError(f"download.path: {source} does not exist")
    return source
