"""The book's augmentation (horizontal flip, rotation 0.1, zoom 0.2) as one fused layer.

Keras' three layers resample three times and turn XLA off for the whole train step; this layer
composes one 3x3 matrix per image and resamples once, seeded, on every backend. Two samplers
compute the same result: "gather" (fast under XLA) and "affine_transform" (fast without).
Why, with the figures: docs/training.md; bench/augment.py.
"""
from __future__ import annotations

import math

import keras
from keras import ops


def _reflect(i, n: int):
    # 'reflect' as Keras and scipy define it, (d c b a | a b c d | d c b a): period 2n.
    i = ops.mod(i, 2 * n)
    return ops.where(i >= n, 2 * n - 1 - i, i)


def resample(images, matrices):
    """What `keras.ops.image.affine_transform(images, matrices, "bilinear", "reflect")` returns
    for channels-last float images and (batch, 8) output-to-input transforms (tests check it),
    as four gathers of the neighbouring pixels' channel vectors, which XLA compiles on every
    backend."""
    _, height, width, channels = images.shape
    y, x = ops.meshgrid(ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"),
                        indexing="ij")
    # reshape, not matrices[:, i, None, None]: TF's graph optimizer drops those new axes when
    # the matrices come straight from a stack (as in BookAugmentation.matrices).
    m = [ops.reshape(matrices, (-1, 8, 1, 1))[:, i] for i in range(6)]
    sx, sy = m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]  # (batch, h, w) sources
    x0, y0 = ops.floor(sx), ops.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    pixels = ops.reshape(images, (-1, channels))
    first = ops.arange(ops.shape(images)[0], dtype="int32")[:, None, None] * (height * width)

    def at(row, col):
        return ops.take(pixels, first + _reflect(row, height) * width + _reflect(col, width), axis=0)

    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


def _about_centre(a0, a1, b0, b1, height, width, shift=None):
    """(batch, 8) transforms in affine_transform's layout: the linear part [[a0, a1], [b0, b1]]
    acting about the image centre, whose source moves by `shift` (fractions of the half-size)."""
    cx = (ops.cast(width, "float32") - 1.0) / 2.0
    cy = (ops.cast(height, "float32") - 1.0) / 2.0
    a2 = cx - a0 * cx - a1 * cy
    b2 = cy - b0 * cx - b1 * cy
    if shift is not None:
        a2, b2 = a2 + shift[0] * cx, b2 + shift[1] * cy
    zeros = ops.zeros_like(a0)
    return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _range(factor: float | tuple[float, float]) -> tuple[float, float]:
    # The Keras layers' convention: a number f means [-|f|, |f|], a pair is (low, high).
    return (-abs(factor), abs(factor)) if isinstance(factor, (int, float)) else tuple(sorted(factor))


class BookAugmentation(keras.layers.Layer):
    """Random horizontal flip (p = 0.5), rotation by `rotation` x 2 pi rad and zoom by
    `zoom` (RandomZoom's sign: positive zooms out, 0.2 means [-20%, +20%], aspect kept), about
    the image centre, as one affine resampling. Training only: at inference it only casts.
    `sampler`: "gather" (`resample`) or "affine_transform" (the Keras op, for comparison)."""

    def __init__(self, flip: bool = True, rotation: float | tuple[float, float] = 0.1,
                 zoom: float | tuple[float, float] = 0.2, seed: int | None = None,
                 sampler: str = "gather", crop_area: float | None = None, **kwargs):
        # float32 whatever the global policy: resampling in bfloat16 would cost image detail.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.flip, self.rotation, self.zoom = flip, _range(rotation), _range(zoom)
        self.seed, self.sampler, self.crop_area = seed, sampler, crop_area
        self.seed_generator = keras.random.SeedGenerator(seed)
        # TensorFlow's affine_transform kernel (ImageProjectiveTransformV3) has no XLA version.
        self.supports_jit = sampler == "gather" or keras.backend.backend() != "tensorflow"

    def matrices(self, batch, height, width):
        """(batch, 8) output-to-input transforms (affine_transform's layout) for one draw.

        Flip F, rotation R and zoom Z all act about the centre ((w-1)/2, (h-1)/2), as in the
        Keras layers; F(R(Z(p))) maps an output pixel to where the stacked layers would have
        sampled it. In centred coordinates that is [[s z cos, -s z sin], [z sin, z cos]] with
        s = -1 for a flipped image.
        """
        if self.crop_area is not None:
            return self.crop_matrices(batch, height, width)
        u = keras.random.uniform((batch, 3), seed=self.seed_generator)
        sign = ops.where(u[:, 0] <= 0.5, -1.0, 1.0) if self.flip else ops.ones((batch,))
        low, high = self.rotation
        angle = (low + (high - low) * u[:, 1]) * 2.0 * math.pi
        low, high = self.zoom
        scale = 1.0 + low + (high - low) * u[:, 2]
        cos, sin = ops.cos(angle) * scale, ops.sin(angle) * scale
        return _about_centre(sign * cos, -sign * sin, sin, cos, height, width)

    def crop_matrices(self, batch, height, width):
        """Flip, rotation, and a random-resized crop in place of the zoom: a window of
        crop_area..1 of the image's area at an aspect of 3/4..4/3, anywhere inside it, stretched
        over the output (Inception's crop, at the image's own size)."""
        u = keras.random.uniform((batch, 6), seed=self.seed_generator)
        sign = ops.where(u[:, 0] <= 0.5, -1.0, 1.0) if self.flip else ops.ones((batch,))
        area = self.crop_area + (1.0 - self.crop_area) * u[:, 1]
        aspect = ops.exp(math.log(3 / 4) + math.log(16 / 9) * u[:, 2])
        sx = ops.minimum(ops.sqrt(area * aspect), 1.0)  # window side / image side
        sy = ops.minimum(ops.sqrt(area / aspect), 1.0)
        low, high = self.rotation
        angle = (low + (high - low) * u[:, 3]) * 2.0 * math.pi
        # the window's centre moves at most to the image's edge: (1 - side) of the half-size
        shift = ((2 * u[:, 4] - 1) * (1 - sx), (2 * u[:, 5] - 1) * (1 - sy))
        cos, sin = ops.cos(angle), ops.sin(angle)
        return _about_centre(cos * sx * sign, -sin * sy, sin * sx * sign, cos * sy, height, width,
                             shift)

    def call(self, images, training=False):
        images = ops.cast(images, self.compute_dtype)
        if not training:
            return images
        shape = ops.shape(images)  # dynamic: progressive resizing trains one network at many sizes
        matrices = self.matrices(shape[0], shape[1], shape[2])
        if self.sampler == "gather":
            return resample(images, matrices)
        return ops.image.affine_transform(images, matrices, interpolation="bilinear",
                                          fill_mode="reflect", data_format="channels_last")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "flip": self.flip, "rotation": self.rotation,
                "zoom": self.zoom, "seed": self.seed, "sampler": self.sampler,
                "crop_area": self.crop_area}


def augmentation(seed: int, xla: bool = False, kind: str = "book", rotation: float = 0.1,
                 crop_area: float = 1.0) -> keras.layers.Layer:
    """Training-only augmentation as one fused resampling instead of three Keras layers.
    kind "book": horizontal flip, rotation, zoom 0.2 (the book's, at rotation 0.1); "crop": flip,
    rotation and a random-resized crop of at least `crop_area`. `xla`: whether the train step is
    XLA-compiled, which decides the faster sampler."""
    return BookAugmentation(flip=True, rotation=rotation, zoom=0.2, seed=seed, name="augmentation",
                            sampler="gather" if xla else "affine_transform",
                            crop_area=crop_area if kind == "crop" else None)
