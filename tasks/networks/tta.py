"""Test-time augmentation inside the saved model: p(dog) averaged over a photo and its mirror
image, so evaluate, export and predict all score exactly what the recipe promised."""
from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="dogs_vs_cats")
class Mirror(layers.Layer):
    """The image flipped left to right (deterministic, unlike RandomFlip)."""

    def call(self, images):
        return ops.flip(images, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape


def with_tta(network: keras.Model) -> keras.Model:
    """`network` wrapped so that it answers the mean of its outputs on x and on mirrored x."""
    inputs = keras.Input(shape=network.input_shape[1:])
    outputs = layers.Average(dtype="float32")([network(inputs), network(Mirror()(inputs))])
    return keras.Model(inputs, outputs, name=f"{network.name}_tta")


def load(path) -> keras.Model:
    """keras.saving.load_model in safe mode, with this module's layer known to it."""
    return keras.saving.load_model(path, safe_mode=True, custom_objects={"Mirror": Mirror})
