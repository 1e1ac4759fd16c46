"""Every tensor of a fixed-point program against the range its format holds (hls4ml-style precision profiling):
the float model's values of each tensor on some rows, the simulator's integers of it, the share that saturates or
rounds to zero. `tinygen report` draws it; diagnose.py reads it to say why a program lost accuracy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fixedpoint import int_range
from .ops.activation import FloatActivation
from .ops.fully_connected import FullyConnected
from .ops.int8_activation import Int8Activation
from .ops.quantize_affine import QuantizeAffine
from .ops.quantize_input import QuantizeInput
from .ops.tree_ensemble import TreeEnsemble
from .ops.types import BITS


# ---- what a fixed-point tensor can hold ------------------------------------------------------------------
@dataclass(frozen=True)
class Format:
    """Integers q in [q_min, q_max] of `type_name` that mean (q - zero_point) * scale + offset."""

    type_name: str
    scale: float
    q_min: int
    q_max: int
    zero_point: int = 0
    offset: float = 0.0
    text: str = ""  # as the manifest says it: "int16, frac_bits 11" or "int8, scale 0.0123, zero point -5"

    @property
    def low(self) -> float:
        return (self.q_min - self.zero_point) * self.scale + self.offset

    @property
    def high(self) -> float:
        return (self.q_max - self.zero_point) * self.scale + self.offset

    def real(self, q) -> np.ndarray:
        return (np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale + self.offset


def pow2_format(type_name: str, frac_bits: int, offset: float = 0.0) -> Format:
    q_min, q_max = int_range(BITS[type_name])
    text = f"{type_name}, frac_bits {frac_bits}" + (f", + {offset:g}" if offset else "")
    return Format(type_name, 2.0 ** -int(frac_bits), q_min, q_max, offset=offset, text=text)


def affine_format(scale: float, zero_point: int, q_min: int = -128, q_max: int = 127) -> Format:
    return Format("int8", float(scale), int(q_min), int(q_max), int(zero_point),
                  text=f"int8, scale {float(scale):.4g}, zero point {int(zero_point)}")


def input_formats(op) -> list[Format] | None:
    """One format per feature for a fixed-point input conversion; None for float inputs (float32, exact)."""
    if isinstance(op, QuantizeInput):
        return [pow2_format(op.out_type, f, float(o)) for f, o in zip(op.frac_bits, op.offsets_real())]
    if isinstance(op, QuantizeAffine):
        return [affine_format(s, z) for s, z in zip(op.scale, op.zero_point)]
    return None


def output_format(op) -> Format | list[Format] | None:
    """The format of an op's output tensor, from what the op records; None where its outputs are floats."""
    if isinstance(op, FullyConnected):  # int8 values, even where the last layer widens them to int32 scores
        return affine_format(op.out_scale, op.out_zero_point, op.act_min, op.act_max)
    if isinstance(op, Int8Activation):
        return affine_format(op.out_scale, op.out_zero_point)
    if isinstance(op, TreeEnsemble):
        q_min, q_max = int_range(BITS[op.out_type])
        return Format(op.out_type, float(op.out_scale), q_min, q_max, text=f"{op.out_type}, scale {op.out_scale:.4g}")
    frac_bits = getattr(op, "out_frac_bits", None)
    if frac_bits is None or op.out_type == "float32":
        return None
    if isinstance(frac_bits, tuple):  # per-unit formats (row shifts, and the relu after them): one per unit
        return [pow2_format(op.out_type, f) for f in frac_bits]
    return pow2_format(op.out_type, frac_bits, float(getattr(op, "out_offset", 0.0)))


def accumulator_bound(op) -> float | None:
    """The proven largest |accumulator| in real units, where the op records one in a power-of-two format."""
    if isinstance(op, TreeEnsemble):
        return op.acc_bound * float(op.out_scale)
    if getattr(op, "acc_bound", None) is not None and getattr(op, "weight_frac_bits", None) is not None:
        return op.acc_bound * 2.0 ** -op.weight_frac_bits  # acc = 2^weight_frac_bits * (w . x + b)
    return None


@dataclass
class Stage:
    """One tensor of a fixed-point program: the float model's values of it on the rows, the simulator's
    integers of it (dequantized), and its format."""

    name: str
    fmt: Format
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
    firsts = input_formats(program.ops[0])
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
        taken = 2 if isinstance(op, FullyConnected) and op.activation == "relu" else 1
        if k + taken > len(float_ops):
            return inputs
        for fop in float_ops[k:k + taken]:
            value = fop.forward(value)
        k += taken
        fmt = output_format(op)
        if value.shape != simulated[index].shape:
            return inputs
        if fmt is None:
            continue
        nxt = float_ops[k] if k < len(float_ops) else None
        label = getattr(op, "kind", op.op) if op.op in ("activation", "int8_activation") else op.op
        relu_next, bound = isinstance(nxt, FloatActivation) and nxt.kind == "relu", accumulator_bound(op)
        if isinstance(fmt, list):  # a format per unit: a stage per unit, as for the input features
            stages += [Stage(f"#{index} {label} [{op.n_out}] unit {j}", unit_fmt, value[:, j], simulated[index][:, j],
                             relu_next=relu_next, bound=bound) for j, unit_fmt in enumerate(fmt)]
            continue
        stages.append(Stage(f"#{index} {label} [{op.n_out}]", fmt, value.reshape(-1), simulated[index].reshape(-1),
                            relu_next=relu_next, bound=bound))
    return inputs + stages if k == len(float_ops) else inputs
