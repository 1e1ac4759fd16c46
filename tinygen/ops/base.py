"""The op interface every typed op implements, and the number format of its tensors.

An op is one step of the integer program (as a TFLM kernel is one registration: the host prepares its
parameters, `forward` is the shared reference math). Both implementations of the program read only what an op
says here: the simulator calls `forward`; emit.py renders the op's template (templates/c/<op>.c.j2) with the
C primitives `c_helpers` names; the cost model asks `cost_group` and `count_costs`; the report asks
`in_formats`, `out_format` and `accumulator_bound`; bench, the board check and the shipped-files check ask
`layout_name`, `decision_input` and `shrink_advice`. So a new op family is one file in ops/ and one template,
and nothing outside ops/ tests which op it holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .counts import Features
from .types import BITS, type_range

ROUNDINGS = ("half_away", "floor", "double", "table", "none")


@dataclass(frozen=True)
class QFormat:
    """How the integers q of a tensor mean real numbers: real = (q - zero_point) * scale + offset, with scale =
    2**-frac_bits in the power-of-two formats (q31, q15, q7) and a free float in the affine ones (int8).

    frac_bits, scale_value, zero_point and offset may be per channel (a tuple, one per feature or unit: input
    offsets, per-unit formats, int8's per-feature input scales); `channels()` gives one scalar format per channel. q_min/q_max narrow the type's range where the op
    proves its values narrower (an int8 layer's activation bounds). rounding says how values reach this format:
    "half_away" (the float->fixed input conversion, ties away from zero), "floor" (an arithmetic right shift),
    "double" (TFLM's rounding doubling high multiply then rounding divide), "table" (a lookup table's rounded
    entries), "none" (exact integers, e.g. tree leaf sums). saturate: values beyond the range are clamped
    (False: the op proves they cannot occur)."""

    type_name: str
    frac_bits: int | tuple[int, ...] | None = None
    scale_value: float | tuple[float, ...] | None = None  # the scale when frac_bits is None
    zero_point: int | tuple[int, ...] = 0
    offset: float | tuple[float, ...] = 0.0
    q_min: int | None = None
    q_max: int | None = None
    rounding: str = "floor"
    saturate: bool = False

    def __post_init__(self):
        if (self.frac_bits is None) == (self.scale_value is None):
            raise ValueError("a QFormat has frac_bits or a scale, not both")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"unknown rounding {self.rounding!r}")

    @property
    def per_channel(self) -> bool:
        return any(isinstance(v, tuple) for v in (self.frac_bits, self.scale_value, self.zero_point, self.offset))

    @property
    def scale(self) -> float:
        """The real value of one step (scalar formats only)."""
        if self.per_channel:
            raise ValueError("a per-channel format has one scale per channel: use channels()")
        return 2.0 ** -int(self.frac_bits) if self.frac_bits is not None else float(self.scale_value)

    @property
    def range(self) -> tuple[int, int]:
        lo, hi = type_range(self.type_name)
        return (lo if self.q_min is None else self.q_min, hi if self.q_max is None else self.q_max)

    @property
    def low(self) -> float:
        return (self.range[0] - self.zero_point) * self.scale + self.offset

    @property
    def high(self) -> float:
        return (self.range[1] - self.zero_point) * self.scale + self.offset

    def real(self, q) -> np.ndarray:
        return (np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale + self.offset

    def channels(self, n: int) -> list["QFormat"]:
        """One scalar format per channel (n copies of a scalar format)."""
        def each(value):
            return value if isinstance(value, tuple) else (value,) * n
        return [QFormat(self.type_name, f, s, z, o, self.q_min, self.q_max, self.rounding, self.saturate)
                for f, s, z, o in zip(each(self.frac_bits), each(self.scale_value), each(self.zero_point), each(self.offset))]

    @property
    def text(self) -> str:
        """As the manifest says it: "int16, frac_bits 11" or "int8, scale 0.0123, zero point -5"."""
        if self.frac_bits is not None:
            return f"{self.type_name}, frac_bits {self.frac_bits}" + (f", + {self.offset:g}" if self.offset else "")
        if self.zero_point or self.type_name == "int8":
            return f"{self.type_name}, scale {self.scale:.4g}, zero point {self.zero_point}"
        return f"{self.type_name}, scale {self.scale:.4g}"


class FloatOp:
    """The base of the float IR's ops (from frontends; float64 forward). Ops of a layer chain (`in_chain`: dense
    layers and activations) are quantized one at a time by quantize(step) and converted to float32 by
    to_float32(); the others (trees, GaussianNB) are whole families that quantize.py types at once."""

    in_chain: ClassVar[bool] = False
    is_prefix: ClassVar[bool] = False  # computes the model's inputs on the device (window features): quantize.py
    streams: ClassVar[bool] = False

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - every float op defines it
        raise NotImplementedError


@dataclass
class QuantizeStep:
    """What a float op of a layer chain (linear models and MLPs: dense layers and activations) is quantized from:
    one signature for every such op and dtype, FloatOp.quantize(step) -> the typed op, or None where the op fuses
    into the one before (int8's relu). quantize.py walks the chain and fills it in."""

    dtype: str  # q31, q15, q7 (power-of-two formats) or int8 (affine)
    bits: int  # inputs, weights and activations
    acc_bits: tuple[int, ...]  # accumulator widths to try, narrowest first
    out_bits: int  # this op's output width (the last op writes the 32-bit scores)
    in_type: str  # the previous typed op's output type
    in_format: QFormat  # ... and its format (per feature after the input conversion, per unit after row shifts)
    outputs: np.ndarray  # this op's float outputs on the calibration rows (what its output format must hold)
    next_op: object | None = None  # the float op after this one (its input range sets this one's output format)
    in_range: tuple[int, int] | None = None  # the input integers' (lo, hi) when narrower than in_type
    finer: frozenset = frozenset()  # refinements asked (quantize._refine): "columns", "units"
    first: bool = False  # the op reads the input conversion

    @property
    def affine(self) -> bool:
        return self.dtype == "int8"


class Op:
    """The base of every typed op. Subclasses are dataclasses that set `op` (the manifest's name, also the
    template's: templates/c/<op>.c.j2) and define n_in, n_out, out_type, forward, to_dict and from_dict."""

    op: ClassVar[str]
    converts_input: ClassVar[bool] = False  # the float -> integer input conversion (what NAME_predict_q skips)
    streams: ClassVar[bool] = False  # reads its input from a ring of frames: the header's window and stream API
    trains: ClassVar[bool] = False  # holds weights in RAM that partial_fit updates: the header's training API
    elementwise: ClassVar[bool] = False  # out[i] reads in[i] only, so the C may write it in place (out == in)

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - every op defines it
        """The integer reference: whole arrays of rows in, rows out (int64 holding out_type values, or float32)."""
        raise NotImplementedError

    @property
    def passthrough(self) -> bool:
        """True when the op emits no C of its own (its output is its input, e.g. raw bits read in place)."""
        return False

    @property
    def is_float(self) -> bool:
        """True when the op's C computes in float (soft-float routines on parts without an FPU)."""
        return False

    def table_bytes(self) -> dict[str, int]:
        """The constant tables the C keeps in flash: name -> bytes."""
        return {}

    def layout_name(self) -> str | None:
        """The layout of the op's C where it has more than one (trees: "inline" or "table"); None for the others."""
        return None

    def decision_input(self) -> str | None:
        """What the op's C compares where it decides by comparing its input (trees: "bits", "keys", "bins", "x_q"
        or "float"); None for ops that compute their outputs arithmetically."""
        return None

    def shrink_advice(self) -> list[str]:
        """What would make the op's C smaller, said with its current numbers ("fewer trees (it has 40)"); [] where
        the op itself offers no such choice."""
        return []

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives (templates/c/fixedpoint/) the op's template calls."""
        return ()

    def in_formats(self) -> list[QFormat] | None:
        """An input conversion's format per feature; None for ops that do not read the float features."""
        return None

    def out_format(self) -> QFormat | None:
        """The format of the output tensor; None where the outputs are floats or not numbers (keys, bins)."""
        return None

    def accumulator_bound(self) -> float | None:
        """The proven largest |accumulator| in real units, where the op has an accumulator."""
        return None

    @property
    def out_range(self) -> tuple[int, int] | None:
        """(min, max) of every output integer where the op proves it narrower than its type (the next layer's
        range analysis assumes it); None: the whole type."""
        return None

    def out_bounds(self) -> tuple[int, int] | None:
        """The proven (lowest, highest) output integer (what the header's API comments state); None for floats."""
        if self.out_range is not None:
            return self.out_range
        fmt = self.out_format()
        return None if fmt is None else fmt.range

    @property
    def float_ops_fused(self) -> int:
        """How many ops of the float program this op computes (an int8 layer with its relu fused: 2)."""
        return 1

    @property
    def label(self) -> str:
        """The op's name in reports."""
        return self.op

    def cost_group(self) -> str:
        """The name of the C the op becomes in the cost model: ops of one group share coefficients."""
        return self.op

    def soft_float_routines(self) -> set[str]:
        """The soft-float routines (libgcc's) the op's C calls on a part without an FPU."""
        return {"add", "mul"} if self.is_float else set()

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        """Add the op's cost counts on its input rows `values` (costmodel.py fits a coefficient per count).
        Default: element-wise work, one step per output value."""
        counts.add_cycles(f"{group}:values", np.full(len(values), self.n_out))

    @property
    def buffer_bytes(self) -> int:
        """The bytes of the output buffer the C keeps for the next op (0 where it writes none)."""
        return 0 if self.passthrough else self.n_out * BITS.get(self.out_type, 32) // 8
