"""Model builders: pure functions from the train config to an uncompiled `keras.Model`.

No I/O and no fitting here. Every model takes images as 0-255 floats and rescales them itself,
so the same array feeds training, evaluation and export. Augmentation is not part of these
models (tasks/networks/augment.py: the trainer wraps it around them), so exported models carry
no random layers. The Dense(1) sigmoid head
is float32 even under mixed precision: bfloat16's 8-bit mantissa would make p(dog) and the
loss too coarse to train on.
"""
from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from tasks.core.config import Train
from tasks.networks import resnet


def simple(cfg: Train) -> keras.Model:
    """Chollet ch. 8 baseline: Conv 32/64/128/256/256 with max-pooling, Flatten, Dense(1)."""
    inputs = keras.Input(shape=(cfg.image_size, cfg.image_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(256, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="simple")


def _residual_block(x, filters: int, pooling: bool):
    residual = x
    x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
    if pooling:
        x = layers.MaxPooling2D(2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2)(residual)
    elif filters != residual.shape[-1]:
        residual = layers.Conv2D(filters, 1)(residual)  # project so the shapes add up
    return layers.add([x, residual])


def residual(cfg: Train) -> keras.Model:
    """Chollet ch. 9 residual demo: blocks of 32 and 64 with pooling, 128 without, GAP, Dense(1)."""
    inputs = keras.Input(shape=(cfg.image_size, cfg.image_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = _residual_block(x, 32, pooling=True)
    x = _residual_block(x, 64, pooling=True)
    x = _residual_block(x, 128, pooling=False)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="residual")


def xception_mini(cfg: Train) -> keras.Model:
    """Chollet ch. 9 final model: five BN-ReLU-SeparableConv x2 + MaxPool blocks with strided
    1x1 residual projections, GAP, Dropout 0.5, Dense(1). 721,857 parameters at 180 px."""
    bn = dict(momentum=cfg.bn_momentum)
    inputs = keras.Input(shape=(cfg.image_size, cfg.image_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(32, 5, use_bias=False)(x)
    for filters in (32, 64, 128, 256, 512):
        residual = x
        for _ in range(2):
            x = layers.BatchNormalization(**bn)(x)
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="xception_mini")


def xception_fast(cfg: Train) -> keras.Model:
    """xception_mini's blocks behind a stride-2 3x3 stem, for CPUs: the book's model runs its
    5x5 stem and first block at full resolution, where a CPU spends most of its time moving
    memory (docs/recipes.md). Blocks of 64-512, BN-ReLU, GAP, Dropout 0.5, Dense(1)."""
    bn = dict(momentum=cfg.bn_momentum)
    inputs = keras.Input(shape=(cfg.image_size, cfg.image_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(x)
    for filters in (64, 128, 256, 512):
        residual = x
        for _ in range(2):
            x = layers.Activation("relu")(layers.BatchNormalization(**bn)(x))
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.Activation("relu")(layers.BatchNormalization(**bn)(x))
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="xception_fast")


BUILDERS: dict[str, Callable[[Train], keras.Model]] = {
    "simple": simple, "residual": residual, "xception_mini": xception_mini,
    "xception_fast": xception_fast,
    "resnet18": resnet.resnet18, "resnet34": resnet.resnet34, "resnet50": resnet.resnet50}
# The input size each model is described at: the book's 180 px, the seed's 32 px residual demo,
# and ImageNet's 224 px for the ResNets.
DEFAULT_SIZE = {"simple": 180, "residual": 32, "xception_mini": 180, "xception_fast": 128,
                "resnet18": 224, "resnet34": 224, "resnet50": 224}


def build(cfg: Train, any_size: bool = False) -> keras.Model:
    """Build the model named by `cfg.model` at `cfg.image_size`, or for any input size (the same
    weights: progressive resizing trains it at several)."""
    return BUILDERS[cfg.model](cfg.model_copy(update={"image_size": None}) if any_size else cfg)


def describe_all() -> str:
    """One line per model: name, default input size, parameter count at that size, and what it
    is: its builder's docstring up to the first colon (or its first sentence)."""
    rows = []
    for name, builder in BUILDERS.items():
        size = DEFAULT_SIZE[name]
        head = " ".join((builder.__doc__ or "").split("\n\n")[0].split())
        what = head.split(": ", 1)[0] if ": " in head else head.split(". ", 1)[0]
        count = build(Train(model=name, image_size=size)).count_params()
        rows.append(f"{name:<14} {f'{size}x{size}':>9} {count:>12,}   {what.rstrip('.')}")
    return "\n".join([f"{'model':<14} {'input':>9} {'parameters':>12}   description", *rows])
