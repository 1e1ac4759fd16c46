"""A fleet device that is an emulated MCU (issue 17): the generated C trains on a target's emulator.

EmulatedDevice offers what the simulator device (a trainable ConvertedModel) offers -- partial_fit,
trainable_weights, load_weights, predict, reset -- but its partial_fit compiles the model's header for a target
(default avr: the ATmega328P under simavr) and runs NAME_partial_fit there, through the target's measure(...,
updates=..., start_weights=...): the firmware loads the device's weights with NAME_load_weights, applies the rows
and reports NAME_weights(), steps and saturations. Those reported bytes are what trainable_weights() returns.

predict does not run the C: it is the simulator loaded with the weights the MCU reported (the harness proves C ==
simulator on every row elsewhere; the fleet's server evaluates with a simulator anyway).

The firmware starts each run from NAME_init (steps 0) and at most one NAME_load_weights, so the device replays: it
keeps the weights it started from (the last load_weights, or the exported ones after reset) and every row since, and
each partial_fit runs the firmware over all of them. The rows stay in this object only (on the device side), never in
what a fleet client sends. A load_weights after steps were taken would restart a decaying schedule at step 1 on
the MCU where the simulator keeps counting, so partial_fit refuses that case; a constant schedule does not read steps.

Plain data (a ConvertedModel, bytes, arrays), so pickle and copy.deepcopy work: Flower's Ray workers get their
devices through cloudpickle.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .errors import TinygenError
from .targets import get as get_target
from .targets import toolchain

HEADER_NAME = "device"  # the prefix of the C the emulated device runs (device_partial_fit, ...)
HOST_TOOLS = {"host": ("gcc",), "avr": ("avr-gcc", "simavr")}


def check_target(target: str) -> None:
    """A TinygenError (ToolMissing: exit 2, one line) unless ``target`` exists and its toolchain is installed."""
    module = get_target(target)
    for tool in HOST_TOOLS.get(target) or module.tools:
        toolchain.find(tool)


class EmulatedDevice:
    """A trainable ConvertedModel's C, trained on an emulated MCU (``target``: avr, cortex-m4, cortex-m0, rv32, or
    host for the compiled C on this machine)."""

    def __init__(self, model, target: str = "avr"):
        if model.program.trainable_op is None:
            raise TinygenError("an emulated device trains a trainable model; convert it with trainable=True")
        get_target(target)
        self.model, self.target = model, target
        self.reset()

    def reset(self) -> None:
        """Back to the exported weights, steps and saturations 0 (NAME_init)."""
        self.model.reset()
        self._start, self._base = None, (0, 0)  # None: the firmware's own NAME_init weights
        self._rows: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._weights = self.model.trainable_weights()

    def load_weights(self, weights: bytes) -> None:
        """NAME_load_weights: the next partial_fit starts the firmware from these weights (clamped there as here)."""
        state = self.model.training_state()
        self.model.load_weights(weights)  # checks the length; its clamps are counted again by the firmware's load
        self._start, self._base = bytes(weights), (state["steps"], state["saturations"])
        self._rows, self._labels = [], []
        self._weights = self.model.trainable_weights()

    def partial_fit(self, X, y) -> "EmulatedDevice":
        """The rows through NAME_partial_fit on the target, after the rows since the last load_weights / reset."""
        X = self.model.program.check_features(np.asarray(X))
        y = np.asarray(y).reshape(-1)
        if len(y) != len(X):
            raise TinygenError(f"partial_fit got {len(X)} rows and {len(y)} labels")
        if len(y) == 0:
            return self
        op = self.model.program.trainable_op
        if self._base[0] and op.schedule.breakpoints:
            raise TinygenError("an emulated device restarts its learning-rate schedule at load_weights; with a "
                               "decaying schedule, load the weights before any partial_fit (or reset first)")
        labels = y.astype(np.float32) if op.regression else self.model.label_indices(y)
        self._rows.append(np.asarray(X, dtype=np.float64))
        self._labels.append(labels)
        self._run()
        return self

    def _run(self) -> None:
        """The firmware over every row since the start; keeps the weights, steps and saturations it reports."""
        X, y = np.concatenate(self._rows), np.concatenate(self._labels)
        with tempfile.TemporaryDirectory(prefix="tinygen-device-") as tmp:
            header = Path(tmp) / f"{HEADER_NAME}.h"
            header.write_text(self.model.header(HEADER_NAME))
            measured = get_target(self.target).measure(self.model.program, header, HEADER_NAME, X[:1],
                                                       updates=(X, y), start_weights=self._start)
        steps, saturations = self._base
        self.model.load_weights(measured.weights)  # within the limits the MCU kept: nothing clamps here
        state = self.model.program.trainable_op.state
        state.steps = (steps + measured.steps) % 2**32
        # the firmware counts its own load's clamps; the simulator's load (in load_weights) counted them already
        state.saturations = (saturations + measured.saturations) % 2**32
        self._weights = measured.weights

    def trainable_weights(self) -> bytes:
        """The NAME_weights() bytes the MCU reported after its last run (the loaded or exported ones before)."""
        return self._weights

    def training_state(self) -> dict:
        """weights, bias, steps, saturations as the MCU reported them (ConvertedModel.training_state's form)."""
        return self.model.training_state()

    def predict(self, X) -> np.ndarray:
        """The simulator's predictions with the MCU's weights (not a run of the C)."""
        return self.model.predict(X)

    def __repr__(self) -> str:
        return f"<EmulatedDevice {self.target}: {self.model!r}>"
