"""The saved model's test-time views: the centre zoom (train.test_crop) and the mirror average."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tasks.core.config import Train
from tasks.core.params_file import ParamsError, parse_params
from tasks.networks import tta, zoo


def _network() -> keras.Model:
    keras.utils.set_random_seed(0)
    return zoo.build(Train(model="xception_fast", image_size=40))


def test_the_views_are_the_centre_zoomed_back_and_its_mirror_averaged(tmp_path):
    network = _network()
    x = np.random.default_rng(1).integers(0, 256, (3, 40, 40, 3)).astype("float32")
    centre = keras.ops.convert_to_numpy(keras.ops.image.resize(x[:, 2:37, 2:37], (40, 40)))  # 35 = 0.875 x 40
    expected = (network.predict(centre, verbose=0) + network.predict(centre[:, :, ::-1], verbose=0)) / 2
    model = tta.with_tta(network, mirror=True, crop=0.875)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    model.save(tmp_path / "m.keras")  # and it survives a safe-mode reload unchanged
    np.testing.assert_allclose(tta.load(tmp_path / "m.keras").predict(x, verbose=0), expected, atol=1e-5)
    assert tta.with_tta(network, mirror=False, crop=1.0) is network  # no view: nothing to wrap


@pytest.mark.parametrize("crop", [0.4, 1.5, "0.875"])
def test_a_test_crop_outside_half_to_whole_is_refused_naming_the_key(crop):
    with pytest.raises(ParamsError, match=r"train\.test_crop"):
        parse_params({"train": {"test_crop": crop}})
