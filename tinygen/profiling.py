"""Every tensor of a fixed-point program against the range its format holds (hls4ml-style precision profiling):
the float model's values of each tensor on some rows, the simulator's integers of it, the share that saturates or
rounds to zero. `tinygen report` draws it; diagnose.py reads it to say why a program lost accuracy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .ops.activation import FloatActivation
from .ops.base import QFormat


@dataclass
class Stage:
    """One tensor of a fixed-point program: the float model's values of it on the rows, the simulator's
    integers of it (dequantized), and its format."""

    name: str
    fmt: QFormat  # a scalar format (per-channel tensors are a stage per channel)
    values: np.ndarray
    simulated: np.ndarray
    relu_next: bool = False  # a relu follows: negative values become 0 anyway, only the top end can saturate
    bound: float | None = None

    def _finite(self) -> np.ndarray:
        return np.isfinite(self.values)

    @property
    def clipped(self) -> float:
        """Fraction of the values that saturate: beyond the format's range by more than the half step that
        rounding takes anyway."""
        v = self.values[self._finite()]
        half = self.fmt.scale / 2
        over = (v > self.fmt.high + half) | ((v < self.fmt.low - half) & (not self.relu_next))
        return float(np.mean(over)) if v.size else 0.0

    @property
    def below_step(self) -> float:
        """Fraction of the nonzero values smaller than half a step: they round to the format's zero."""
        v = np.abs(self.values[self._finite()] - self.fmt.offset)
        v = v[v > 0]
        return float(np.mean(v < self.fmt.scale / 2)) if v.size else 0.0

    @property
    def max_error(self) -> float | None:
        """Largest |simulator - float| over the values within the format's range (rounding and the error
        carried in from earlier tensors; saturation is `clipped`)."""
        half = self.fmt.scale / 2
        inside = self._finite() & (self.values >= self.fmt.low - half) & (self.values <= self.fmt.high + half)
        if not inside.any():
            return None
        return float(np.max(np.abs(self.fmt.real(self.simulated)[inside] - self.values[inside])))

    def chart_row(self) -> dict:
        magnitudes = np.abs(self.values[self._finite()])
        magnitudes = magnitudes[magnitudes > 0]
        top = max(abs(self.fmt.low), abs(self.fmt.high))
        return {"name": self.name, "log2_values": np.log2(magnitudes), "clipped": self.clipped > 0,
                "band": (math.log2(self.fmt.scale), math.log2(top) if top > 0 else math.log2(self.fmt.scale)),
                "bound": math.log2(self.bound) if self.bound else None}


def profile(float_program, program, X: np.ndarray) -> list[Stage]:
    """Every tensor of a fixed-point program with a format (each feature of the input, then each op's output),
    beside the float model's value of the same tensor. Empty for programs on float inputs (float32, exact);
    only the inputs where the ops do not line up one to one with the float ops."""
    firsts = program.ops[0].in_formats()
    if firsts is None:
        return []
    simulated, values = [], program.check_features(X).astype(np.float32)
    for op in program.ops:  # Program.scores, keeping every op's integers
        values = op.forward(values)
        simulated.append(values)
    X = np.asarray(X, dtype=np.float64)
    inputs = [Stage(str(name), fmt, X[:, i], simulated[0][:, i])
              for i, (name, fmt) in enumerate(zip(program.feature_names, firsts))]
    stages, float_ops, k, value = [], float_program.ops, 0, X
    for index, op in enumerate(program.ops[1:], start=1):
        # each later op stands for one float op, or two: an int8 fully_connected with its relu fused
        taken = op.float_ops_fused
        if k + taken > len(float_ops):
            return inputs
        for fop in float_ops[k:k + taken]:
            value = fop.forward(value)
        k += taken
        fmt = op.out_format()
        if value.shape != simulated[index].shape:
            return inputs
        if fmt is None:
            continue
        nxt = float_ops[k] if k < len(float_ops) else None
        label = op.label
        relu_next, bound = isinstance(nxt, FloatActivation) and nxt.kind == "relu", op.accumulator_bound()
        if fmt.per_channel:  # a format per unit: a stage per unit, as for the input features
            stages += [Stage(f"#{index} {label} [{op.n_out}] unit {j}", unit_fmt, value[:, j], simulated[index][:, j],
                             relu_next=relu_next, bound=bound) for j, unit_fmt in enumerate(fmt.channels(op.n_out))]
            continue
        stages.append(Stage(f"#{index} {label} [{op.n_out}]", fmt, value.reshape(-1), simulated[index].reshape(-1),
                            relu_next=relu_next, bound=bound))
    return inputs + stages if k == len(float_ops) else inputs
