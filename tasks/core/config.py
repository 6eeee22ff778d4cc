"""The typed, frozen models of params.yaml, the single source of truth: one per section.

tasks/core/params_file.py reads the file into them (`load_params`) before any stage work.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tasks.core.flow_params import Flow
from tasks.core.section import Section as _Section
from tasks.core.train_params import Train, apply_recipe

LOCAL_DEFAULT = "data/local"  # the committed folder download.path names by default
BOOK_GDRIVE_ID = "18uC7WTuEXKJDDxbj-Jq6EjzpFrgE7IAd"
EXPORT_FORMATS = ("keras", "savedmodel", "tflite", "tflite_int8", "onnx")
# Kaggle's train.zip is ~0.6 GB: more than this, fetched or unpacked, is a bomb or the wrong file.
MAX_ARCHIVE_BYTES = 8 << 30


class Base(_Section):
    seed: int = Field(42, ge=0, le=2**31 - 1, strict=True)


class Download(_Section):
    source: Literal["sample", "gdown", "url", "local"] = "sample"
    # A file or folder, relative to the project root. dvc.yaml lists `${download.path}` as a
    # dependency of download, so DVC notices a replaced archive; it must exist whatever the source
    # (data/local, committed, does) and DVC reads it literally.
    path: Path = Path(LOCAL_DEFAULT)
    url: str | None = None
    gdrive_id: str = Field(BOOK_GDRIVE_ID, min_length=10, pattern=r"^[A-Za-z0-9_-]+$")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    sample_per_class: int = Field(1200, ge=1, le=20_000, strict=True)
    # The url source's limits: the bytes it may fetch (extraction's cap, too), the seconds in
    # which under 1 KiB arriving is a stall, and the seconds the whole transfer may take.
    max_bytes: int = Field(MAX_ARCHIVE_BYTES, ge=1, le=MAX_ARCHIVE_BYTES, strict=True)
    stall_timeout: int = Field(60, ge=1, le=3600, strict=True)
    deadline: int = Field(3600, ge=1, le=7 * 86400, strict=True)

    @field_validator("path", mode="before")
    @classmethod
    def _a_literal_path(cls, path: object) -> object:
        if path is None or path == "":
            raise ValueError(f"must name a file or folder: DVC tracks it as a dependency of "
                             f"download, whatever the source (the default is {LOCAL_DEFAULT})")
        if str(path).startswith("~"):
            raise ValueError("~ is not expanded (DVC, which tracks this path, reads it literally): "
                             "write the full path")
        return path

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url

    @model_validator(mode="after")
    def _source_needs_its_key(self) -> Download:
        if self.source == "url" and self.url is None:
            raise ValueError("source 'url' needs download.url")
        return self


class Split(_Section):
    train: int = Field(1000, ge=1, strict=True)
    validation: int = Field(500, ge=1, strict=True)
    test: int = Field(1000, ge=1, strict=True)
    strategy: Literal["index", "random"] = "index"


class Validate(_Section):
    min_side: int = Field(32, ge=1, strict=True)
    max_pixels: int = Field(40_000_000, ge=1, strict=True)
    allowed_modes: tuple[Literal["RGB", "L", "CMYK", "RGBA", "P"], ...] = ("RGB", "L")
    # fail: stop the pipeline. quarantine: set the offending files aside and go on, if every
    # split and class keeps at least min_fraction of its requested images.
    on_failure: Literal["fail", "quarantine"] = "fail"
    min_fraction: float = Field(0.98, gt=0, le=1, strict=True)


class Evaluate(_Section):
    min_accuracy: float = Field(0.5, ge=0, le=1, strict=True)
    baseline: str | None = Field(None, min_length=1)  # a git rev, e.g. main
    tolerance: float = Field(0.01, ge=0, le=1, strict=True)


EXACT_FORMATS = ("keras", "savedmodel", "tflite", "onnx")  # the float ones: p(dog) within 1e-4 of Keras


class Export(_Section):
    formats: tuple[Literal[EXPORT_FORMATS], ...] = ("keras",)  # type: ignore[valid-type]
    # The formats that must pass their parity rule for the stage to succeed; any other that fails
    # it is not shipped, and says so. None: every exact (float) format that `formats` lists.
    required: tuple[Literal[EXPORT_FORMATS], ...] | None = None  # type: ignore[valid-type]

    @field_validator("formats")
    @classmethod
    def _non_empty_unique(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        if not formats or len(set(formats)) != len(formats):
            raise ValueError("must list at least one format, each once")
        return formats

    @field_validator("required")
    @classmethod
    def _unique(cls, required: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if required is not None and len(set(required)) != len(required):
            raise ValueError("must list each format once")
        return required

    @model_validator(mode="after")
    def _required_are_exported(self) -> Export:
        missing = [f for f in self.required or () if f not in self.formats]
        if missing:
            raise ValueError(f"required lists {', '.join(missing)}, which export.formats does not: "
                             "add it there or remove it from export.required")
        return self

    @property
    def must_pass(self) -> tuple[str, ...]:
        """The formats whose parity failure fails the stage (`required`, or its default)."""
        if self.required is not None:
            return self.required
        return tuple(f for f in self.formats if f in EXACT_FORMATS)


class Params(_Section):
    base: Base = Base()
    download: Download = Download()
    split: Split = Split()
    validate_: Validate = Field(Validate(), alias="validate")
    train: Train = Train()
    evaluate: Evaluate = Evaluate()
    export: Export = Export()
    flow: Flow = Flow()
    # Named recipes (tasks/core/train_params.py): train keys that train.recipe puts in force.
    recipes: dict[str, dict[str, Any]] = Field(default_factory=dict)

    _recipe = model_validator(mode="before")(apply_recipe)

    @property
    def validate(self) -> Validate:  # type: ignore[override]
        """The `validate` section (stored as `validate_`: BaseModel already has `validate`)."""
        return self.validate_
