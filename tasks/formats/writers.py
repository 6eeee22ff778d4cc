"""One writer per export format. Each writes its file(s) under `out` and returns a function that
runs the written artefact, reloaded from disk, on a uint8 batch (N, size, size, 3) and gives
p(dog) per image: the export stage checks every format against Keras with it.

TensorFlow is imported only here, inside the writers: the Keras model itself is backend-neutral.
"""
from __future__ import annotations

import logging
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from tasks.core.errors import StageError
from tasks.core.native_log import filtered_stderr
from tasks.networks import tta

Predict = Callable[[np.ndarray], np.ndarray]


def _tf():
    if keras.backend.backend() != "tensorflow":
        raise StageError("SavedModel, TFLite and ONNX need Keras' TensorFlow backend "
                         "(KERAS_BACKEND=tensorflow)")
    import tensorflow as tf

    _log_once(tf.get_logger())
    return tf


def _log_once(logger: logging.Logger) -> None:
    """TensorFlow gives its logger a stderr handler of its own unless the root logger has one
    ("This prevents double logging", tf_logging.get_logger). It is imported before the stage
    configures logging, so each of its records ("Assets written to ...") came out twice: in the
    stage log and as "INFO:tensorflow:..." on stderr. Once the root logger has a handler, drop
    TensorFlow's, as it would have."""
    if logging.getLogger().handlers:
        for handler in list(logger.handlers):
            ours = getattr(handler.formatter, "_fmt", None) == logging.BASIC_FORMAT
            if type(handler) is logging.StreamHandler and ours:
                logger.removeHandler(handler)


def keras_file(model: keras.Model, out: Path, checkpoint: Path) -> Predict:
    """`model.keras`: the checkpoint itself, already byte-reproducible; loads with safe_mode."""
    shutil.copyfile(checkpoint, out / "model.keras")
    return load(out / "model.keras")


def savedmodel(model: keras.Model, out: Path, checkpoint: Path) -> Predict:
    """A TF SavedModel whose `serving_default` takes a batch of raw uint8 images of any size and
    resizes them inside (bilinear, as training did), returning {"p_dog": (N, 1)}."""
    tf = _tf()
    size = model.input_shape[1:3]
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(images):
        pixels = tf.image.resize(tf.cast(images, tf.float32), size, method="bilinear", antialias=False)
        return {"p_dog": model(pixels, training=False)}

    archive.add_endpoint("serving_default", serve,
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    archive.write_out(str(out / "saved_model"), verbose=False)
    return load(out / "saved_model")


def _tflite(model: keras.Model, quantize: bool) -> bytes:
    tf = _tf()
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize:  # dynamic-range int8: weights in int8, activations in float
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


# LiteRT's one start-up line, printed (not logged) by its native code on the first allocation.
XNNPACK_LINE = re.compile(rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.")


def _tflite_runner(path: Path) -> Predict:
    # LiteRT (ai-edge-litert), tf.lite.Interpreter's replacement: TF 2.21's still works but warns
    # that it "is scheduled for deletion in TF 2.20". The same runtime, so the same numbers.
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))  # reads and checks the file now

    def predict(x: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(x.shape))
        with filtered_stderr(XNNPACK_LINE):
            interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.astype(np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).ravel()

    return predict


def tflite_float(model: keras.Model, out: Path, checkpoint: Path) -> Predict:
    """`model.tflite`: float32 TFLite."""
    (out / "model.tflite").write_bytes(_tflite(model, quantize=False))
    return load(out / "model.tflite")


def tflite_int8(model: keras.Model, out: Path, checkpoint: Path) -> Predict:
    """`model_int8.tflite`: dynamic-range quantized TFLite (about 4x smaller)."""
    (out / "model_int8.tflite").write_bytes(_tflite(model, quantize=True))
    return load(out / "model_int8.tflite")


def onnx(model: keras.Model, out: Path, checkpoint: Path) -> Predict:
    """`model.onnx`, through Keras' own ONNX export; checked with onnxruntime."""
    _tf()
    with warnings.catch_warnings():
        # Keras' tf2onnx patch (keras/src/export/tf2onnx_lib.py) probes `hasattr(np, "object")`,
        # which NumPy 2 answers with "FutureWarning: In the future `np.object` will be defined
        # as the corresponding NumPy scalar": a library's probe, not ours, harmless.
        warnings.filterwarnings("ignore", r".*`np\.object`", FutureWarning)
        model.export(str(out / "model.onnx"), format="onnx", verbose=False)
    return load(out / "model.onnx")


def load(path: Path) -> Predict:
    """A runner for any exported artefact, chosen by its name: .keras, a SavedModel folder,
    .tflite or .onnx. A file that is missing or that its runtime refuses (truncated, not a model,
    refused by safe_mode) is a StageError naming it."""
    if not path.exists():
        raise StageError(f"{path}: no such model")
    try:
        return _runner(path)
    except StageError:
        raise
    except Exception as err:  # each runtime has its own errors; all mean this file is unusable
        raise StageError(f"{path}: cannot load the model: {type(err).__name__}: {err}") from None


def _runner(path: Path) -> Predict:
    if path.is_dir() and (path / "saved_model.pb").is_file():
        tf = _tf()
        loaded = tf.saved_model.load(str(path))  # the lambda keeps it alive: its variables live there
        return lambda x: loaded.signatures["serving_default"](
            images=tf.constant(x, tf.uint8))["p_dog"].numpy().ravel()
    if path.suffix == ".keras":
        model = tta.load(path)
        return lambda x: model.predict(x.astype(np.float32), verbose=0).ravel()
    if path.suffix == ".tflite":
        return _tflite_runner(path)
    if path.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x.astype(np.float32)})[0].ravel()
    raise StageError(f"{path}: not an exported model (.keras, .tflite, .onnx or a SavedModel folder)")


EXPORTERS: dict[str, Callable[[keras.Model, Path, Path], Predict]] = {
    "keras": keras_file, "savedmodel": savedmodel, "tflite": tflite_float,
    "tflite_int8": tflite_int8, "onnx": onnx}
QUANTIZED = {"tflite_int8"}  # checked by label agreement, not by probability
