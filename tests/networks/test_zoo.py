"""Model builders: pure config -> keras.Model, with the book's exact parameter counts."""
from __future__ import annotations

import pytest

from tasks.core.config import Train
from tasks.networks import zoo


@pytest.mark.parametrize("name, size, count", [
    ("xception_mini", 180, 721_857),  # Chollet ch. 9 summary
    ("residual", 32, 297_697),        # Chollet ch. 9 residual demo summary
    ("simple", 180, 991_041),         # Chollet ch. 8 baseline (without augmentation)
])
def test_parameter_counts_match_the_book(name: str, size: int, count: int):
    assert zoo.build(Train(model=name, image_size=size)).count_params() == count


def test_builders_are_pure_and_take_uint8_range_input():
    cfg = Train(model="xception_mini", image_size=64)
    a, b = zoo.build(cfg), zoo.build(cfg)
    assert a is not b and a.input_shape == (None, 64, 64, 3) and a.output_shape == (None, 1)
    assert a.layers[1].__class__.__name__ == "Rescaling"  # 0-255 in, rescaled inside
    assert not any("Random" in layer.__class__.__name__ for layer in a.layers)


def test_bn_momentum_reaches_every_batch_norm():
    model = zoo.build(Train(model="xception_mini", image_size=64, bn_momentum=0.9))
    bns = [layer for layer in model.layers if layer.__class__.__name__ == "BatchNormalization"]
    assert len(bns) == 10 and {bn.momentum for bn in bns} == {0.9}


def test_resnet50_has_keras_applications_resnet50_body_plus_a_dense_head():
    import keras

    body = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3))
    ours = zoo.build(Train(model="resnet50", image_size=224))
    assert ours.count_params() == body.count_params() + 2049  # Dense(1): 2048 weights + bias
    bns = [layer for layer in ours.layers if layer.__class__.__name__ == "BatchNormalization"]
    assert {bn.epsilon for bn in bns} == {1e-5}
    assert ours.layers[2].__class__.__name__ == "ZeroPadding2D"  # seed 2's stem


@pytest.mark.parametrize("name, count", [("resnet18", 11_186_689), ("resnet34", 21_302_273)])
def test_basic_block_resnets(name: str, count: int):
    model = zoo.build(Train(model=name, image_size=224))
    assert model.count_params() == count and model.output_shape == (None, 1)
    assert not any(layer.__class__.__name__ == "Conv2D" and layer.kernel_size == (1, 1)
                   and layer.strides == (1, 1) for layer in model.layers)  # no bottlenecks


def test_list_models_prints_every_model(capsys):
    from tasks import train

    assert train.main(["--list-models"]) == 0
    out = capsys.readouterr().out
    for line in ("xception_mini    180x180      721,857", "residual           32x32      297,697",
                 "resnet50         224x224   23,589,761"):
        assert line in out
