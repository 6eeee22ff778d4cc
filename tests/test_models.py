"""Model builders: pure config -> keras.Model, with the book's exact parameter counts."""
from __future__ import annotations

import pytest

from tasks import models
from tasks.config import Train


@pytest.mark.parametrize("name, size, count", [
    ("xception_mini", 180, 721_857),  # Chollet ch. 9 summary
    ("residual", 32, 297_697),        # Chollet ch. 9 residual demo summary
    ("simple", 180, 991_041),         # Chollet ch. 8 baseline (without augmentation)
])
def test_parameter_counts_match_the_book(name: str, size: int, count: int):
    assert models.build(Train(model=name, image_size=size)).count_params() == count


def test_builders_are_pure_and_take_uint8_range_input():
    cfg = Train(model="xception_mini", image_size=64)
    a, b = models.build(cfg), models.build(cfg)
    assert a is not b and a.input_shape == (None, 64, 64, 3) and a.output_shape == (None, 1)
    assert a.layers[1].__class__.__name__ == "Rescaling"  # 0-255 in, rescaled inside
    assert not any("Random" in layer.__class__.__name__ for layer in a.layers)


def test_bn_momentum_reaches_every_batch_norm():
    model = models.build(Train(model="xception_mini", image_size=64, bn_momentum=0.9))
    bns = [layer for layer in model.layers if layer.__class__.__name__ == "BatchNormalization"]
    assert len(bns) == 10 and {bn.momentum for bn in bns} == {0.9}
