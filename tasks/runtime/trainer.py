"""The one trainer assembly: what the train stage fits, and what every benchmark times.

Imports keras: import it only after `backend.activate` (tasks.train does, inside `run`).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

from tasks.core.config import Train
from tasks.networks import zoo
from tasks.networks.augment import augmentation
from tasks.runtime import backend, devices
from tasks.runtime.backend import Knobs


@dataclass(frozen=True)
class Trainer:
    """`fit_model` trains (the network under augmentation); `network` is the network inside it
    (bfloat16 under mixed precision); `saved` is the float32 network that is saved."""

    fit_model: keras.Model
    network: keras.Model
    saved: keras.Model
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
        if self.saved is not self.network:
            self.saved.set_weights(self.network.get_weights())


def compile_for_training(model: keras.Model, learning_rate: float, jit_compile: bool | str) -> None:
    """The book's loss and optimizer: binary cross-entropy, RMSprop, accuracy."""
    # Weighted: the same figures without weights, and a padded validation batch's zero-weight
    # rows (tasks/runtime/devices.py) do not count.
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate), loss="binary_crossentropy",
                  weighted_metrics=["accuracy"], jit_compile=jit_compile)


def assemble(cfg: Train, seed: int, knobs: Knobs | None = None) -> Trainer:
    """Build, wrap and compile `cfg.model` for `knobs` (default: this machine's), seeded."""
    keras.backend.clear_session()  # fresh layer names: they are saved in model.keras
    knobs = knobs or backend.resolve_knobs(cfg, keras.backend.backend(), backend.gpu_names())
    keras.utils.set_random_seed(seed)
    placement = devices.place(knobs, cfg.batch_size)
    with placement.scope():  # every variable is created over the devices
        return _build(cfg, seed, knobs, placement)


def _build(cfg: Train, seed: int, knobs: Knobs, placement: devices.Placement) -> Trainer:
    # Under mixed precision the saved model is a float32 twin with the trained weights, so
    # evaluate and export (on any hardware) never see bfloat16 layers.
    saved = network = zoo.build(cfg)
    if knobs.mixed_precision:
        with backend.dtype_policy("mixed_bfloat16"):
            network = zoo.build(cfg)
    network = placement.for_training(network, saved, lambda: zoo.build(cfg))
    fit_model = network
    if cfg.augment:  # a wrapper, so the saved model itself holds no random layers
        inputs = keras.Input(shape=network.input_shape[1:])
        fit_model = keras.Model(inputs, network(augmentation(seed, xla=knobs.jit_compile)(inputs)))
    compile_for_training(fit_model, cfg.learning_rate, knobs.jit_compile)
    fit_model.optimizer.build(fit_model.trainable_variables)  # its variables exist to be restored
    deterministic = backend.make_deterministic(knobs, fit_model.jit_compile)
    return Trainer(fit_model, network, saved, knobs, deterministic, placement)
