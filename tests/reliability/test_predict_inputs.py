"""predict as a careless user or an odd folder drives it: `python -m tasks.predict` on the tiny
project's exported model, with a --submission target that must not be written (params.yaml, a
missing folder, a folder), a bogus model file, and inputs that are odd but legitimate: a FIFO
named .jpg, a 16-bit PNG, a 6000 x 6000 JPEG, a photo stored sideways with an EXIF orientation.
The model was trained on the synthetic sample, which predict must say."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..helpers.oddimages import blocky, fifo, huge_jpeg, jpeg, sideways_jpeg, sixteen_bit_png
from .harness import Project

pytestmark = pytest.mark.reliability("predict")


def predict(project: Project, *args: str | Path, measured: bool = False, timeout: float = 120):
    cmd = (sys.executable, "-m", "tasks.predict", *args)
    return project.measured(*cmd, timeout=timeout) if measured else project.run(*cmd, timeout=timeout)


def p_dog(stdout: str) -> dict[str, float]:
    """{file name: p(dog)} from predict's `file<TAB>label<TAB>p(dog)` lines."""
    return {Path(f).name: float(p) for f, _, p in (line.split("\t") for line in stdout.splitlines())}


@pytest.fixture(scope="module")
def odd_run(reference: Project, sample_images: dict[str, bytes], tmp_path_factory):
    """One predict run over a folder of odd photos, each beside its plain twin; its peak memory."""
    folder = tmp_path_factory.mktemp("odd") / "photos"
    folder.mkdir()
    rgb = np.asarray(Image.open(io.BytesIO(sample_images["dog.0.jpg"])).convert("RGB"))
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    sixteen_bit_png(folder / "deep.png", grey)
    Image.fromarray(grey).save(folder / "eight.png")
    photo = blocky(rgb[:rgb.shape[0] // 16 * 16, :rgb.shape[1] // 16 * 16])
    jpeg(folder / "upright.jpg", photo)
    sideways_jpeg(folder / "sideways.jpg", photo)
    done, peak = predict(reference, folder, measured=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, p_dog(done.stdout), peak


def test_a_sixteen_bit_png_reads_as_its_eight_bit_twin(odd_run):
    _, p, _ = odd_run
    assert p["deep.png"] == p["eight.png"], p  # not all white


def test_a_photo_stored_sideways_is_turned_upright(odd_run):
    _, p, _ = odd_run
    # The tiny model is near chance, yet it told the two apart as stored (0.4975 against 0.4982);
    # turned upright they differ by JPEG rounding only, within one printed unit.
    assert abs(p["sideways.jpg"] - p["upright.jpg"]) <= 0.0001, p


def test_a_model_trained_on_the_synthetic_sample_is_said_to_be(odd_run):
    done, _, _ = odd_run
    assert "data/export/model.keras was trained on the synthetic sample" in done.stderr


def test_a_huge_jpeg_is_classified_in_bounded_memory(odd_run, reference: Project, tmp_path: Path):
    (tmp_path / "photos").mkdir()
    huge_jpeg(tmp_path / "photos" / "huge.jpg", 6000)
    done, peak = predict(reference, tmp_path / "photos", measured=True)
    assert done.returncode == 0 and list(p_dog(done.stdout)) == ["huge.jpg"], done.stderr[-3000:]
    # A full decode of 6000 x 6000 RGB is 108 MB, and the old reader took 500-630 MB more than the
    # small photos; the drafted decode adds next to nothing, but a whole TensorFlow process's peak
    # varies by ~100 MB between runs (128 MB seen once in CI-like conditions).
    assert peak - odd_run[2] < 250, f"peak RSS {peak} MB against {odd_run[2]} MB for small photos"


def test_a_fifo_in_the_folder_is_skipped_not_waited_for(reference: Project, sample_images, tmp_path: Path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(sample_images["cat.0.jpg"])
    fifo(tmp_path / "photos" / "pipe.jpg")
    done = predict(reference, tmp_path / "photos", timeout=90)  # before: blocked until killed
    assert done.returncode == 0 and list(p_dog(done.stdout)) == ["cat.jpg"], done.stderr[-3000:]
    assert f"skipped: {tmp_path / 'photos' / 'pipe.jpg'}: not a regular file" in done.stderr


def test_submission_refuses_to_overwrite_params_yaml(project: Project):
    before = (project.root / "params.yaml").read_bytes()
    done = predict(project, project.paths.split / "test", "--submission", "params.yaml")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "params.yaml: exists and is not an earlier submission" in done.stderr
    assert (project.root / "params.yaml").read_bytes() == before and project.status() == {}


@pytest.mark.parametrize("target, said", [("no/such/dir/x.csv", "folder no/such/dir does not exist"),
                                          ("data", "data: is a folder")])
def test_a_bad_submission_target_is_refused_before_any_work(project: Project, target: str, said: str):
    done = predict(project, project.paths.split / "test", "--submission", target)
    assert done.returncode == 1 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""  # refused before classifying: nothing was printed


def test_a_bogus_tflite_model_is_one_clear_error(project: Project):
    (project.root / "bogus.tflite").write_bytes(b"bogus")
    done = predict(project, project.paths.split / "test", "--model", "bogus.tflite", "--image-size", "32")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "error: predict: bogus.tflite: cannot load the model" in done.stderr
