"""Each stage's `params` list in dvc.yaml is exactly what the stage reads: every key it reads
is listed (else DVC would not rerun it when that key changes), every listed key is read, and a
section the stage reads whole is listed whole."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from flows.dvc import stages
from tasks import download, evaluate, export, split, train, validate
from tasks.core.config import Params
from tasks.core.paths import Paths

from ..conftest import REPO, tiny_params

SPECS = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
RUN = {"download": download.run, "split": split.run, "validate": validate.run, "train": train.run,
       "evaluate": evaluate.run, "export": export.run}
# Keys a stage reads only on a path the tiny run does not take.
CONDITIONAL = {"evaluate": {"evaluate.tolerance"},  # read only when evaluate.baseline names a rev
               # each source reads its own keys; the tiny run uses a local archive
               "download": {"download.url", "download.gdrive_id", "download.sample_per_class",
                            "download.max_bytes", "download.stall_timeout", "download.deadline"}}


class Recorder:
    """A read-only view of a params model that records the dotted keys read through it."""

    def __init__(self, model: BaseModel, prefix: str, seen: set[str]):
        self._model, self._prefix, self._seen = model, prefix, seen

    def __getattr__(self, name: str):
        value = getattr(self._model, name)
        key = f"{self._prefix}.{name}".lstrip(".")
        if isinstance(value, BaseModel):
            return Recorder(value, key, self._seen)
        if name not in type(self._model).model_fields and not name.startswith("model_"):
            self._seen.add(self._prefix)  # a derived value (Train.sizes, .size_at): counted as
            return value                  # reading the section, which is then listed whole
        if callable(value):  # model_dump and friends: the whole model, or what `include` names
            def dump(*args, include=None, **kwargs):
                if include is None:
                    self._seen.add(self._prefix or "*")
                else:
                    self._seen.update(f"{self._prefix}.{n}".lstrip(".") for n in include)
                return value(*args, include=include, **kwargs)
            return dump
        else:
            self._seen.add(key)
        return value


def read_keys(stage: str, params: Params, paths: Paths) -> set[str]:
    """The dotted keys `stage` reads while it runs on `paths`."""
    seen: set[str] = set()
    RUN[stage](Recorder(params, "", seen), paths)  # type: ignore[arg-type]
    return seen


def fields(params: Params) -> dict[str, set[str]]:
    """Each section's name and its dotted keys."""
    out = {}
    for name, model in params:
        section = "validate" if name == "validate_" else name
        # recipes is a mapping of named recipes, tracked whole
        out[section] = ({f"{section}.{f}" for f in type(model).model_fields}
                        if isinstance(model, BaseModel) else {section})
    return out


def expand(keys: set[str], params: Params) -> set[str]:
    """Sections replaced by their keys."""
    sections = fields(params)
    return set().union(*(sections.get(k, {k}) for k in keys))


def whole(keys: set[str], params: Params) -> set[str]:
    """The sections that `keys` cover in full."""
    return {name for name, keys_of in fields(params).items() if keys_of <= expand(keys, params)}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_archive: Path) -> Paths:
    return Paths(tmp_path_factory.mktemp("stage-params"))


@pytest.mark.parametrize("stage", stages(REPO))
def test_dvc_yaml_lists_exactly_the_params_each_stage_reads(stage: str, project: Paths, tiny_archive: Path):
    # The stages run in dvc.yaml's order on one project, so each finds its inputs.
    params = tiny_params(download={"source": "local", "path": str(tiny_archive)})
    if stage == "download":
        shutil.rmtree(project.data, ignore_errors=True)
    read = read_keys(stage, params, project)
    if any(key == "train" or key.startswith("train.") for key in read):
        # A train key's value comes from the recipe that train.recipe names, if it names one.
        read |= {"train.recipe", "recipes"}
    listed = set(SPECS[stage].get("params", []))
    missing = expand(read, params) - expand(listed, params)
    assert not missing, f"{stage} reads {sorted(missing)}, not listed in dvc.yaml"
    unread = expand(listed, params) - expand(read, params) - CONDITIONAL.get(stage, set())
    assert not unread, f"dvc.yaml lists {sorted(unread)} for {stage}, which it never reads"
    # A section the stage reads in full is listed as the section, not key by key.
    assert whole(read, params) <= listed, f"{stage}: list {sorted(whole(read, params) - listed)} whole"
