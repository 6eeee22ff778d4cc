"""Test-time views inside the saved model: p(dog) on the photo's centre, zoomed back to full size
(`train.test_crop`), averaged over it and its mirror image (`train.tta`), so evaluate, export
and predict all score exactly what the recipe promised."""
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


@keras.saving.register_keras_serializable(package="dogs_vs_cats")
class CentreZoom(layers.Layer):
    """The centre `crop` of each side, resized back to the full size (bilinear). Keras'
    CenterCrop + Resizing would do, but they leave the network's dropout live in the graph that
    TFLite converts."""

    def __init__(self, crop: float, **kwargs):
        super().__init__(**kwargs)
        self.crop = crop

    def call(self, images):
        height, width = images.shape[1:3]
        keep_h, keep_w = round(height * self.crop), round(width * self.crop)
        top, left = (height - keep_h) // 2, (width - keep_w) // 2
        centre = images[:, top:top + keep_h, left:left + keep_w]
        return ops.image.resize(centre, (height, width), interpolation="bilinear")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "crop": self.crop}


def with_tta(network: keras.Model, mirror: bool = True, crop: float = 1.0) -> keras.Model:
    """`network` wrapped so that it answers on the centre `crop` of each side of x, resized back
    to x's size, and, if `mirror`, the mean of that and the same on mirrored x; `network` itself
    when there is no view to add."""
    if not mirror and crop >= 1:
        return network
    inputs = keras.Input(shape=network.input_shape[1:])
    view = CentreZoom(crop)(inputs) if crop < 1 else inputs
    outputs = network(view)
    if mirror:
        outputs = layers.Average(dtype="float32")([outputs, network(Mirror()(view))])
    return keras.Model(inputs, outputs, name=f"{network.name}_tta")


def load(path) -> keras.Model:
    """keras.saving.load_model in safe mode, with this module's layers known to it."""
    return keras.saving.load_model(path, safe_mode=True,
                                   custom_objects={"Mirror": Mirror, "CentreZoom": CentreZoom})
