"""The typed, frozen models of params.yaml, the single source of truth: one per section.

tasks/core/params_file.py reads the file into them (`load_params`) before any stage work.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from tasks.core.flow_params import Flow
from tasks.core.section import Section as _Section

LOCAL_DEFAULT = "data/local"  # the committed folder download.path names by default
BOOK_GDRIVE_ID = "18uC7WTuEXKJDDxbj-Jq6EjzpFrgE7IAd"
MODEL_NAMES = ("simple", "residual", "xception_mini", "resnet18", "resnet34", "resnet50")
EXPORT_FORMATS = ("keras", "savedmodel", "tflite", "tflite_int8", "onnx")
# `simple` has five unpadded 3x3 convs and four 2x2 pools: below 78 px nothing is left to pool.
MIN_IMAGE_SIZE = {"simple": 78}
# A hardware knob: auto (tasks/runtime/backend.py decides), on or off. params.yaml is YAML 1.2, where
# on/off are text, but true/false (or a YAML 1.1 reader) give booleans, so booleans are accepted too.
Knob = Annotated[Literal["auto", "on", "off"],
                 BeforeValidator(lambda v: ("on" if v else "off") if isinstance(v, bool) else v)]


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


class Train(_Section):
    model: Literal[MODEL_NAMES] = "xception_mini"  # type: ignore[valid-type]
    image_size: int = Field(180, ge=32, le=512, strict=True)
    epochs: int = Field(100, ge=1, le=10_000, strict=True)
    batch_size: int = Field(32, ge=1, le=4096, strict=True)
    learning_rate: float = Field(1e-3, gt=0, le=1, strict=True)
    augment: bool = Field(True, strict=True)
    # Keras' default (the book's). A short CPU run has too few steps for 0.99 to settle the
    # moving statistics, so params.yaml lowers it; the parameter count is the same either way.
    bn_momentum: float = Field(0.99, ge=0, lt=1, strict=True)
    # auto: $KERAS_BACKEND, else tensorflow. Keras reads the backend once, at its first import.
    backend: Literal["auto", "tensorflow", "jax"] = "tensorflow"
    mixed_precision: Knob = "auto"  # bfloat16 compute, float32 weights and output
    jit_compile: Knob = "auto"      # XLA-compile the train step
    # Data-parallel: auto (every GPU, else one device) or a count (tasks/runtime/devices.py).
    devices: Literal["auto"] | int = "auto"

    @field_validator("devices", mode="before")
    @classmethod
    def _auto_or_a_count(cls, devices: object) -> object:
        if devices == "auto" or (type(devices) is int and devices >= 1):
            return devices
        raise ValueError("must be auto (every GPU, else one device) or a device count >= 1")

    @model_validator(mode="after")
    def _image_fits_model(self) -> Train:
        if self.image_size < MIN_IMAGE_SIZE.get(self.model, 0):
            raise ValueError(f"model {self.model!r} needs train.image_size >= "
                             f"{MIN_IMAGE_SIZE[self.model]} (got {self.image_size})")
        return self


class Evaluate(_Section):
    min_accuracy: float = Field(0.5, ge=0, le=1, strict=True)
    baseline: str | None = Field(None, min_length=1)  # a git rev, e.g. main
    tolerance: float = Field(0.01, ge=0, le=1, strict=True)


class Export(_Section):
    formats: tuple[Literal[EXPORT_FORMATS], ...] = ("keras",)  # type: ignore[valid-type]

    @field_validator("formats")
    @classmethod
    def _non_empty_unique(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        if not formats or len(set(formats)) != len(formats):
            raise ValueError("must list at least one format, each once")
        return formats


class Params(_Section):
    base: Base = Base()
    download: Download = Download()
    split: Split = Split()
    validate_: Validate = Field(Validate(), alias="validate")
    train: Train = Train()
    evaluate: Evaluate = Evaluate()
    export: Export = Export()
    flow: Flow = Flow()

    @property
    def validate(self) -> Validate:  # type: ignore[override]
        """The `validate` section (stored as `validate_`: BaseModel already has `validate`)."""
        return self.validate_
