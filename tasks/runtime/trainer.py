"""The one trainer assembly: what the train stage fits, and what every benchmark times.

Imports keras: import it only after `backend.activate` (tasks.train does, inside `run`).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

from tasks.core.config import Train
from tasks.networks import tta, zoo
from tasks.networks.augment import augmentation
from tasks.runtime import backend, devices
from tasks.runtime.backend import Knobs


@dataclass(frozen=True)
class Trainer:
    """`fit_model` trains (the network under augmentation); `network` is the network inside it
    (bfloat16 under mixed precision, any input size under progressive resizing); `saved` is what
    is saved: `core`, the float32 network at train.image_size, wrapped for its test-time views
    (zoom, mirror) if the recipe asks for them."""

    fit_model: keras.Model
    network: keras.Model
    saved: keras.Model
    core: keras.Model
    knobs: Knobs
    deterministic: bool
    placement: devices.Placement

    @property
    def variables(self) -> list:
        """Every variable a resumed run must restore: the model's, then the optimizer's."""
        return self.fit_model.variables + self.fit_model.optimizer.variables

    def describe(self) -> str:
        """One log line: backend, device and what each knob resolved to."""
        k = self.knobs
        # Keras turns XLA off if a layer cannot be compiled: report what it kept, not what was asked.
        jit = "on" if self.fit_model.jit_compile else \
            f"off (a layer has no XLA kernel on {k.backend})" if k.jit_compile else "off"
        return (f"backend {k.backend} on {k.device}; mixed precision "
                f"{'on' if k.mixed_precision else 'off'} (policy {self.network.dtype_policy.name}); "
                f"XLA jit_compile {jit}; TF op determinism {'on' if self.deterministic else 'off'}; "
                f"{self.placement.describe()}")

    def keep_best(self) -> None:
        """Copy the trained weights into the float32 twin that is saved (after a new best)."""
        if self.core is not self.network:
            self.core.set_weights(self.network.get_weights())


def optimizer(cfg: Train, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer, its learning rate stepped per batch: constant (the book's), or a
    linear warm-up over warmup_epochs then a cosine decay to 0 at the last step."""
    rate: float | keras.optimizers.schedules.LearningRateSchedule = cfg.learning_rate
    if cfg.schedule == "cosine":
        total = steps_per_epoch * cfg.epochs
        warm = min(steps_per_epoch * cfg.warmup_epochs, total - 1)
        rate = keras.optimizers.schedules.CosineDecay(
            0.0 if warm else cfg.learning_rate, total - warm,
            warmup_target=cfg.learning_rate if warm else None, warmup_steps=warm)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay)
    return keras.optimizers.RMSprop(rate, weight_decay=cfg.weight_decay or None)


def compile_for_training(model: keras.Model, optimizer: keras.optimizers.Optimizer | float,
                         jit_compile: bool | str, label_smoothing: float = 0.0) -> None:
    """Binary cross-entropy (label-smoothed if asked) and accuracy; a number for `optimizer` is
    the book's RMSprop at that learning rate."""
    if isinstance(optimizer, float):
        optimizer = keras.optimizers.RMSprop(optimizer)
    # Weighted: the same figures without weights, and a padded validation batch's zero-weight
    # rows (tasks/runtime/devices.py) do not count.
    model.compile(optimizer=optimizer, weighted_metrics=["accuracy"], jit_compile=jit_compile,
                  loss=keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing))


def assemble(cfg: Train, seed: int, knobs: Knobs | None = None,
             steps_per_epoch: int = 1) -> Trainer:
    """Build, wrap and compile `cfg.model` for `knobs` (default: this machine's), seeded.
    `steps_per_epoch` paces a cosine schedule."""
    keras.backend.clear_session()  # fresh layer names: they are saved in model.keras
    knobs = knobs or backend.resolve_knobs(cfg, keras.backend.backend(), backend.gpu_names())
    keras.utils.set_random_seed(seed)
    placement = devices.place(knobs, cfg.batch_size)
    with placement.scope():  # every variable is created over the devices
        return _build(cfg, seed, knobs, placement, steps_per_epoch)


def _build(cfg: Train, seed: int, knobs: Knobs, placement: devices.Placement,
           steps_per_epoch: int) -> Trainer:
    # Under mixed precision the saved model is a float32 twin with the trained weights, so
    # evaluate and export (on any hardware) never see bfloat16 layers.
    # Under progressive resizing the trained network takes any size; the saved one is fixed.
    any_size = bool(cfg.progressive)
    core = network = zoo.build(cfg, any_size)
    if knobs.mixed_precision:
        with backend.dtype_policy("mixed_bfloat16"):
            network = zoo.build(cfg, any_size)
    if any_size:
        core = zoo.build(cfg)
    network = placement.for_training(network, core, lambda: zoo.build(cfg, any_size))
    fit_model = network
    if cfg.augment:  # a wrapper, so the saved model itself holds no random layers
        inputs = keras.Input(shape=network.input_shape[1:])
        layer = augmentation(seed, xla=knobs.jit_compile, kind=cfg.augmentation,
                             rotation=cfg.rotation, crop_area=cfg.crop_area)
        fit_model = keras.Model(inputs, network(layer(inputs)))
    compile_for_training(fit_model, optimizer(cfg, steps_per_epoch), knobs.jit_compile,
                         cfg.label_smoothing)
    fit_model.optimizer.build(fit_model.trainable_variables)  # its variables exist to be restored
    deterministic = backend.make_deterministic(knobs, fit_model.jit_compile)
    saved = tta.with_tta(core, cfg.tta, cfg.test_crop)
    return Trainer(fit_model, network, saved, core, knobs, deterministic, placement)


class StepBar(keras.callbacks.Callback):
    """A per-step progress bar on the terminal (steps, img/s, ETA, loss); silent when stderr is
    not a terminal (DVC's and Prefect's logs get one EPOCH line per epoch instead)."""

    def __init__(self, images: int, batch_size: int, label: str):
        super().__init__()
        self.images, self.batch_size, self.label = images, batch_size, label

    def on_train_begin(self, logs=None):
        from tqdm import tqdm

        self.bar = tqdm(total=self.images, unit="img", desc=self.label, disable=None, leave=False,
                        dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:  # before update, whose redraw then shows it
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)
        self.bar.update(min(self.batch_size, self.images - self.bar.n))

    def on_train_end(self, logs=None):
        self.bar.close()
