"""ResNets for the zoo: ResNet50 with bottleneck blocks (seed 2), and the basic-block ResNet18
and ResNet34 it is contrasted with. Pure builders, like tasks/networks/zoo.py."""
from __future__ import annotations

import keras
from keras import layers

from tasks.core.config import Train

BN_EPSILON = 1e-5


def _bn(x, cfg: Train):
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=cfg.bn_momentum)(x)


def _stem(inputs, cfg: Train):
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.ZeroPadding2D(3)(x)
    x = layers.Conv2D(64, 7, strides=2)(x)
    x = layers.Activation("relu")(_bn(x, cfg))
    x = layers.ZeroPadding2D(1)(x)
    return layers.MaxPooling2D(3, strides=2)(x)


def _bottleneck(x, filters: int, stride: int, project: bool, cfg: Train):
    # 1x1 reduce, 3x3, 1x1 expand (x4); the first block of a stack projects the shortcut.
    shortcut = _bn(layers.Conv2D(4 * filters, 1, strides=stride)(x), cfg) if project else x
    x = layers.Activation("relu")(_bn(layers.Conv2D(filters, 1, strides=stride)(x), cfg))
    x = layers.Activation("relu")(_bn(layers.Conv2D(filters, 3, padding="same")(x), cfg))
    x = _bn(layers.Conv2D(4 * filters, 1)(x), cfg)
    return layers.Activation("relu")(layers.add([shortcut, x]))


def _basic(x, filters: int, stride: int, project: bool, cfg: Train):
    # Two 3x3 convs; a 1x1 projection where the shape changes.
    shortcut = _bn(layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x), cfg) if project else x
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(_bn(x, cfg))
    x = _bn(layers.Conv2D(filters, 3, padding="same", use_bias=False)(x), cfg)
    return layers.Activation("relu")(layers.add([shortcut, x]))


def _resnet(cfg: Train, block, depths: tuple[int, ...], name: str) -> keras.Model:
    inputs = keras.Input(shape=(cfg.image_size, cfg.image_size, 3))
    x = _stem(inputs, cfg)
    for stage, (filters, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1
            # Bottlenecks widen to 4x, so their first block always projects; basic blocks only
            # where they downsample.
            project = i == 0 and (block is _bottleneck or stage > 0)
            x = block(x, filters, stride, project, cfg)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32")(x)  # see models.py
    return keras.Model(inputs, outputs, name=name)


def resnet50(cfg: Train) -> keras.Model:
    """Bottleneck stacks [3, 4, 6, 3]: keras.applications.ResNet50's body plus a Dense(1) head."""
    return _resnet(cfg, _bottleneck, (3, 4, 6, 3), "resnet50")


def resnet34(cfg: Train) -> keras.Model:
    """Basic-block stacks [3, 4, 6, 3]."""
    return _resnet(cfg, _basic, (3, 4, 6, 3), "resnet34")


def resnet18(cfg: Train) -> keras.Model:
    """Basic-block stacks [2, 2, 2, 2]."""
    return _resnet(cfg, _basic, (2, 2, 2, 2), "resnet18")
