"""The `train` section of params.yaml, and the recipes it can name (`train.recipe`).

A recipe is a named, complete way to train, kept in params.yaml's `recipes` section: `book` (the
book's configuration, the reference), `cpu` and `gpu` (docs/recipes.md). Naming one in
`train.recipe` replaces the train keys the recipe sets; the hardware knobs (backend,
mixed_precision, jit_compile, devices) stay the train section's. `custom` trains the keys as
written.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from tasks.core.section import Section

MODEL_NAMES = ("simple", "residual", "xception_mini", "xception_fast", "resnet18", "resnet34",
               "resnet50")
# `simple` has five unpadded 3x3 convs and four 2x2 pools: below 78 px nothing is left to pool.
MIN_IMAGE_SIZE = {"simple": 78}
# A hardware knob: auto (tasks/runtime/backend.py decides), on or off. params.yaml is YAML 1.2, where
# on/off are text, but true/false (or a YAML 1.1 reader) give booleans, so booleans are accepted too.
Knob = Annotated[Literal["auto", "on", "off"],
                 BeforeValidator(lambda v: ("on" if v else "off") if isinstance(v, bool) else v)]
HARDWARE = ("backend", "mixed_precision", "jit_compile", "devices")  # the machine's, never a recipe's


class Train(Section):
    recipe: str = Field("custom", min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    model: Literal[MODEL_NAMES] = "xception_mini"  # type: ignore[valid-type]
    image_size: int = Field(180, ge=32, le=512, strict=True)
    epochs: int = Field(100, ge=1, le=10_000, strict=True)
    batch_size: int = Field(32, ge=1, le=4096, strict=True)
    learning_rate: float = Field(1e-3, gt=0, le=1, strict=True)
    # rmsprop: the book's. adamw: decoupled weight decay (Loshchilov & Hutter).
    optimizer: Literal["rmsprop", "adamw"] = "rmsprop"
    weight_decay: float = Field(0.0, ge=0, lt=1, strict=True)
    # constant: the book's. cosine: linear warm-up for warmup_epochs, then cosine decay to 0.
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_epochs: int = Field(0, ge=0, strict=True)
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, strict=True)
    augment: bool = Field(True, strict=True)
    # book: flip, rotation 0.1, zoom 0.2. crop: flip, rotation, and a random-resized crop that
    # keeps crop_area..1 of the photo at an aspect of 3/4..4/3 (Szegedy et al.), one resampling.
    augmentation: Literal["book", "crop"] = "book"
    rotation: float = Field(0.1, ge=0, le=0.5, strict=True)  # x 2 pi rad, as RandomRotation
    crop_area: float = Field(0.35, gt=0, le=1, strict=True)
    # Progressive resizing: [[size, epochs], ...] trains the first epochs at smaller sizes; the
    # remaining epochs run at image_size, the size evaluate and export use.
    progressive: tuple[tuple[Annotated[int, Field(ge=32)], Annotated[int, Field(ge=1)]], ...] = ()
    # Test-time augmentation: the saved model averages p(dog) over the photo and its mirror.
    tta: bool = Field(False, strict=True)
    # Test-time zoom: the saved model sees the centre test_crop of each side, resized back to
    # image_size (ImageNet's usual 0.875). A random-resized crop trains on objects larger than a
    # whole photo shows them; this shows them at that scale (Touvron et al., FixRes).
    test_crop: float = Field(1.0, ge=0.5, le=1, strict=True)
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
    def _consistent(self) -> Train:
        if self.image_size < MIN_IMAGE_SIZE.get(self.model, 0):
            raise ValueError(f"model {self.model!r} needs train.image_size >= "
                             f"{MIN_IMAGE_SIZE[self.model]} (got {self.image_size})")
        if self.progressive:
            if self.model == "simple":
                raise ValueError("train.progressive needs a model that pools globally; "
                                 "'simple' flattens a fixed size")
            if sum(n for _, n in self.progressive) >= self.epochs:
                raise ValueError("train.progressive must leave epochs at train.image_size: its "
                                 f"epochs sum to {sum(n for _, n in self.progressive)}, "
                                 f"train.epochs is {self.epochs}")
            if any(size > self.image_size for size, _ in self.progressive):
                raise ValueError("train.progressive sizes must not exceed train.image_size")
        return self

    def size_at(self, epoch: int) -> int:
        """The image size of 0-based `epoch` under progressive resizing."""
        for size, epochs in self.progressive:
            if epoch < epochs:
                return size
            epoch -= epochs
        return self.image_size

    @property
    def sizes(self) -> list[int]:
        """Every size training uses, the final one last."""
        return sorted({s for s, _ in self.progressive} - {self.image_size}) + [self.image_size]


TRAINING_KEYS = frozenset(Train.model_fields) - {"recipe", *HARDWARE}  # what a recipe sets


def _recipe_problems(name: str, recipe: object, train: dict) -> list[str]:
    """What is wrong with recipe `name` over the train section, one line per key."""
    if not isinstance(recipe, dict):
        return [f"recipes.{name} must be a mapping of train keys"]
    problems = []
    if missing := sorted(TRAINING_KEYS - set(recipe)):  # complete: nothing leaks in from train
        problems.append(f"recipes.{name} must set every training key; it lacks {', '.join(missing)}")
    if bad := sorted(set(recipe) - TRAINING_KEYS):
        problems.append(f"recipes.{name}: {', '.join(bad)} cannot be set by a recipe (the keys are "
                        f"those of train, less recipe and the hardware knobs {', '.join(HARDWARE)})")
    if problems:
        return problems
    try:
        Train.model_validate({**train, **recipe, "recipe": name})
    except ValidationError as err:
        for e in err.errors():
            where = ".".join(str(part) for part in e["loc"])
            problems.append(f"recipes.{name}{'.' + where if where else ''}: {e['msg']}")
    return problems


def apply_recipe(data: Any) -> Any:
    """Raw params (a mapping) with `train` replaced by train.recipe's keys layered over it; each
    recipe must be a mapping of train keys other than the hardware knobs and `recipe`."""
    if not isinstance(data, dict):
        return data
    recipes, train = data.get("recipes") or {}, data.get("train") or {}
    if not isinstance(recipes, dict) or not isinstance(train, dict):
        return data  # the models' own validation names what is wrong
    try:  # the train section as written: its own bad keys are named train.<key>, all at once
        Train.model_validate(train)
    except ValidationError as err:
        if any(e["loc"] for e in err.errors()):  # a key, not a rule across keys a recipe may settle
            return data  # no recipe applied: field validation reports each bad train key
    problems = []
    for name, recipe in recipes.items():  # every recipe, chosen or not: a typo shows at once
        problems += _recipe_problems(name, recipe, train)
    if problems:
        raise ValueError("\n  ".join(problems))
    chosen = train.get("recipe", "custom")
    if chosen == "custom" or not isinstance(chosen, str) or not chosen:
        return data  # not a name: the field's own validation names train.recipe
    if chosen not in recipes:
        raise ValueError(f"train.recipe {chosen!r} is not in recipes (have: "
                         f"{', '.join(['custom', *recipes])})")
    return {**data, "train": {**train, **recipes[chosen]}}
