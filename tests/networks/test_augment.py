"""The fused augmentation against the Keras layers it replaces: same transforms, one resampling."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import layers

from tasks.networks.augment import BookAugmentation, augmentation, resample


def images(n: int = 16, size: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype("float32")


def smooth(n: int = 4, size: int = 48) -> np.ndarray:
    """Low-frequency images: one bilinear resampling and two agree closely on them."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(2 * x + 1), np.cos(3 * y), np.sin(2 * x + 3 * y)], -1)
    return np.stack([128 + 100 * base * (i + 1) / n for i in range(n)]).astype("float32")


def test_inference_is_identity_and_training_keeps_shape_and_dtype():
    x = images()
    aug = augmentation(seed=1, xla=False)
    assert np.array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)
    y = keras.ops.convert_to_numpy(aug(x.astype("uint8"), training=True))
    assert y.shape == x.shape and y.dtype == np.float32 and not np.array_equal(y, x)
    still = BookAugmentation(flip=False, rotation=0.0, zoom=0.0, seed=1)
    assert np.array_equal(keras.ops.convert_to_numpy(still(x, training=True)), x)


def test_the_gather_resampling_is_keras_affine_transform():
    x = images(8, size=20)
    m = keras.ops.convert_to_numpy(BookAugmentation(rotation=0.25, zoom=0.5, seed=5).matrices(8, 20, 20))
    m[0] = [1, 0, 0.5, 0, 1, -0.25, 0, 0]  # a sub-pixel shift
    reference = keras.ops.image.affine_transform(x, m, interpolation="bilinear", fill_mode="reflect")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(resample(x, m)),
                               keras.ops.convert_to_numpy(reference), atol=1e-3)


class Training(keras.layers.Layer):
    """Calls the wrapped layer in training mode even in predict (a compiled function)."""

    def __init__(self, inner: keras.layers.Layer):
        super().__init__()
        self.inner = inner

    def call(self, x):
        return self.inner(x, training=True)


def test_inside_a_compiled_function_both_samplers_agree():
    x = images(8)
    outputs = []
    for sampler in ("gather", "affine_transform"):
        model = keras.Sequential([keras.Input(x.shape[1:]),
                                  Training(BookAugmentation(seed=11, sampler=sampler))])
        outputs.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-3)
    assert not np.allclose(outputs[0], x)


def test_without_rotation_and_zoom_it_is_an_exact_random_horizontal_flip():
    x = images(64)
    y = keras.ops.convert_to_numpy(BookAugmentation(rotation=0.0, zoom=0.0, seed=3)(x, training=True))
    flipped = [np.array_equal(b, a[:, ::-1]) for a, b in zip(x, y)]
    kept = [np.array_equal(b, a) for a, b in zip(x, y)]
    assert all(f != k for f, k in zip(flipped, kept))  # each image exactly one of the two
    assert 16 <= sum(flipped) <= 48


@pytest.mark.parametrize("fused, keras_layer", [
    ({"zoom": (0.2, 0.2)}, layers.RandomZoom((0.2, 0.2))),          # +20%: zoom out
    ({"zoom": (-0.2, -0.2)}, layers.RandomZoom((-0.2, -0.2))),      # -20%: zoom in
    ({"rotation": (0.05, 0.05)}, layers.RandomRotation((0.05, 0.05))),
])
def test_a_fixed_transform_matches_the_keras_layer(fused, keras_layer):
    x = images()
    settings = {"flip": False, "rotation": 0.0, "zoom": 0.0, **fused}
    ours = keras.ops.convert_to_numpy(BookAugmentation(**settings, seed=0)(x, training=True))
    theirs = keras.ops.convert_to_numpy(keras_layer(x, training=True))
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_rotation_then_zoom_composes_like_the_stacked_layers():
    x = smooth()
    ours = BookAugmentation(flip=False, rotation=(0.06, 0.06), zoom=(-0.15, -0.15), seed=0)
    stack = keras.Sequential([layers.RandomRotation((0.06, 0.06)), layers.RandomZoom((-0.15, -0.15))])
    a = keras.ops.convert_to_numpy(ours(x, training=True))[:, 8:-8, 8:-8]
    b = keras.ops.convert_to_numpy(stack(x, training=True))[:, 8:-8, 8:-8]
    assert np.abs(a - b).mean() < 1.0 and np.abs(a - b).max() < 8  # of 0-255
    mirrored = keras.ops.convert_to_numpy(BookAugmentation(
        flip=False, rotation=(-0.06, -0.06), zoom=(-0.15, -0.15), seed=0)(x, training=True))
    assert np.abs(mirrored[:, 8:-8, 8:-8] - b).mean() > 5  # the test tells rotation directions apart


def test_draws_cover_the_books_ranges_and_are_seeded():
    aug = BookAugmentation(seed=7)
    m = keras.ops.convert_to_numpy(aug.matrices(4000, 32, 32))
    det = m[:, 0] * m[:, 4] - m[:, 1] * m[:, 3]
    scale = np.sqrt(np.abs(det))
    angle = np.arctan2(m[:, 3], m[:, 4])  # b0 = z sin, b1 = z cos, whatever the flip
    assert 0.45 < np.mean(det < 0) < 0.55  # half of the images flipped
    assert 0.8 <= scale.min() < 0.81 and 1.19 < scale.max() <= 1.2
    assert -0.2 * math.pi <= angle.min() < -0.19 * math.pi and 0.19 * math.pi < angle.max() <= 0.2 * math.pi
    again = keras.ops.convert_to_numpy(BookAugmentation(seed=7).matrices(4000, 32, 32))
    assert np.array_equal(m, again)  # same seed, same draws
    assert not np.array_equal(m, keras.ops.convert_to_numpy(aug.matrices(4000, 32, 32)))
