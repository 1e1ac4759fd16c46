"""activation: out[j] = f(in[j]) elementwise between the dense layers of an MLP, f in relu, tanh, logistic
(identity is no op: the frontend emits nothing, and the fold pass merges the two denses around it).

Typed forms (what the C in templates/c/activation.c.j2 computes, element by element):
- relu, fixed: out = in < 0 ? 0 : in, same type and format (no requantization: the dense before it already
  chose the format from the positive calibration range). Range: [0, max of in_type].
- tanh / logistic, fixed: a table over the input's whole integer range, so C and simulator index the same
  integers the same way (the table is in the manifest):
    u = in - in_min  (in [0, 2**in_bits), as unsigned)
    index_shift 0 (q7):  out = table[u]                      256 entries, one per int8 input
    index_shift s > 0 (q15): i = u >> s, r = u & (2**s - 1)   257 entries at every 2**s-th input
                         out = table[i] + (((table[i+1] - table[i]) * r + 2**(s-1)) >> s)
  table[k] = round((f((in_min + k * 2**s) * 2**-in_frac_bits) - out_offset) * 2**out_frac_bits), saturated to
  out_type (out_offset 1/2 for logistic, 0 for tanh: real output = out * 2**-out_frac_bits + out_offset).
  Ranges: the output lies between two neighbouring table entries (monotone f, rounding shift), so it never
  leaves out_type; |table[i+1] - table[i]| < 2**out_bits and r < 2**s, so the product is below
  2**(out_bits + s) = 2**24 (q15) and fits int32. Outputs are in [min(table), max(table)], which is the
  input range the next dense's accumulator bound uses.
  Formats: tanh out in Q7 / Q15 ([-1, 1)); logistic out as logistic - 1/2 in Q8 / Q16 ([-1/2, 1/2): the
  whole signed range, one bit finer than [0, 1) in Q7 / Q15); the next dense adds 1/2 * sum_i w[j][i] to its
  bias in float before quantizing (quantize.py), so the integer program needs no extra step. The input format
  is the previous dense's output format, chosen to cover the calibration range with one bit of headroom but
  no more than where f has saturated to within an output step (INPUT_RANGE: q7 tanh +-4, logistic +-8;
  q15 tanh +-8, logistic +-16); beyond it the dense saturates, where f is already flat.
  Error (max over every input integer, against the exact f of that input's value; computed exhaustively at
  export and recorded as "max_abs_error"): q7 direct tables are within half an output step, 2**-8 =
  0.0039 (tanh: except at the top of Q7, where 1.0 saturates to 127/128, error <= 2**-7 = 0.0078; logistic
  in Q8: <= 2**-9 + saturation at 1 - 2**-8); q15 piecewise linear tables over 256 segments are within
  ~4e-4 (tanh, Q12 input, step 1/16: h**2/8 * max|f''|) and ~2e-4 (logistic, Q11, step 1/8), plus output
  rounding. A finer calibration range gives a finer input format and a smaller error.
- float32 (no libm in the header): relu as above (NaN stays NaN); tanh and logistic from one float32 exp,
  each operation rounded to float32 in the same order in C and numpy (build with -ffp-contract=off):
    exp(x), |x| <= 80: k = (int32)(x * log2(e) +- 0.5) (round half away), r = (x - k*LN2_HI) - k*LN2_LO,
                       p = Horner 1 + r + r^2/2 + ... + r^6/720 (|r| <= 0.35: relative error ~1e-7),
                       result = p * 2**k (k in [-116, 116]: normal floats only, no subnormals)
    tanh(x) = sign(x) * (1 - t) / (1 + t), t = exp(-2 min(|x|, 40)); logistic(x) = 1 / (1 + exp(-clamp(x, +-80)))
  NaN in gives NaN out. Error against the true function: a few float32 ulps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import fixedpoint
from ..c_primitives import reader
from ..errors import TinygenError
from ..qparams import round_half_away
from . import int8_activation
from .base import FloatOp, Op, QFormat, QuantizeStep
from .types import BITS, as_ints, check_type, frac_bits_from_json, frac_bits_to_json, is_float

KINDS = ("relu", "tanh", "logistic")
TABLE_KINDS = ("tanh", "logistic")
# Largest |pre-activation| a table covers, by kind and bits: beyond it f is within an output step of its limit.
INPUT_RANGE = {("tanh", 8): 4.0, ("logistic", 8): 8.0, ("tanh", 16): 8.0, ("logistic", 16): 16.0}
# What the integer outputs hold: f(x) - OUT_OFFSET (the next dense adds OUT_OFFSET * sum_i w[j][i] to its
# bias), so logistic's [0, 1) uses the whole signed range as [-1/2, 1/2) in Q8 / Q16: one bit more than Q7 / Q15.
OUT_OFFSET = {"relu": 0.0, "tanh": 0.0, "logistic": 0.5}
INDEX_BITS = 8  # table index bits: a direct 256-entry table for int8, 257 knots for int16
HEADROOM = 2.0  # as QuantizeInput: one bit over the calibration maximum


def _exact(kind: str, x: np.ndarray) -> np.ndarray:
    """f in float64 (the reference the tables approximate)."""
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "tanh":
        return np.tanh(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # logistic, without overflow warnings


@dataclass
class FloatActivation(FloatOp):
    """Float IR: out = f(in), float64. head_input: the last hidden activation of an MLP exported with a trainable
    head (frontend/mlp.py); the head's SGD reads its outputs as real values, so they take one format for every unit
    and no out_offset (logistic: Q15, [0, 1) saturating at 1 - 2**-15), and kind may be "identity" (it keeps the fold
    pass from merging the body into the head; the dense before it writes the head's int16 input, and it emits no op)."""

    in_chain = True

    kind: str
    n: int
    head_input: bool = False

    @property
    def n_in(self) -> int:
        return self.n

    @property
    def n_out(self) -> int:
        return self.n

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x if self.kind == "identity" else _exact(self.kind, x)

    def input_max_abs(self, pre: np.ndarray, bits: int) -> float:
        """The |value| the integer input of this activation must hold, from the calibration pre-activations:
        relu needs only the positive side (negatives all become 0), tanh/logistic no more than INPUT_RANGE."""
        finite = pre[np.isfinite(pre)]
        if self.kind == "identity":
            return HEADROOM * float(np.abs(finite).max(initial=0.0))
        if self.kind == "relu":
            return HEADROOM * float(np.max(finite, initial=0.0))
        table_range = INPUT_RANGE[(self.kind, bits)] * (1.0 - 2.0 ** -bits)  # a format covering [-R, R) exactly
        return min(HEADROOM * float(np.abs(finite).max(initial=0.0)), table_range)

    @property
    def per_unit_formats(self) -> bool:
        """True when the dense before may give each unit its own format (relu passes them through; the
        tables take one input format; the head's input takes one format)."""
        return self.kind == "relu" and not self.head_input

    def quantize(self, step: QuantizeStep) -> "Activation | int8_activation.Int8Activation | None":
        """The typed activation for `step` (ops/base.py); int8's relu is fused into the layer before (None), and so
        is the identity that marks a trainable head's input."""
        if self.kind == "identity":
            return None
        if not step.affine:
            return quantize(self, step.in_type, step.in_format.frac_bits)
        if self.kind == "relu":
            return None
        return int8_activation.quantize(self.kind, self.n, step.in_format.scale, step.in_format.zero_point)

    def to_float32(self) -> "Activation":
        return Activation(kind=self.kind, n=self.n, in_type="float32", out_type="float32")


# float32 exp: Cody-Waite ln 2 split (LN2_HI has 9 significant bits, so k * LN2_HI is exact) and Taylor terms
LOG2E = np.float32(1.44269504)
LN2_HI = np.float32(0.693359375)
LN2_LO = np.float32(-2.12194440e-4)
EXP_TERMS = tuple(np.float32(c) for c in (1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0))  # Horner, r^6 first
EXP_LIMIT = np.float32(80.0)


def exp_f32(x: np.ndarray) -> np.ndarray:
    """exp for float32 |x| <= 80, every step rounded to float32 (the C's exp in activation.c.j2, line for line)."""
    f32 = np.float32
    x = x.astype(f32)
    k = np.trunc((x * LOG2E).astype(f32) + np.where(x < 0, f32(-0.5), f32(0.5))).astype(np.int32)
    kf = k.astype(f32)
    r = ((x - (kf * LN2_HI).astype(f32)).astype(f32) - (kf * LN2_LO).astype(f32)).astype(f32)
    p = np.full_like(r, EXP_TERMS[0])
    for c in EXP_TERMS[1:]:
        p = ((p * r).astype(f32) + c).astype(f32)
    scale = ((k.astype(np.int64) + 127) << 23).astype(np.uint32).view(f32)
    return (p * scale).astype(f32)


def tanh_f32(x: np.ndarray) -> np.ndarray:
    f32 = np.float32
    a = np.where(x < 0, -x, x).astype(f32)
    a = np.where(a > f32(40.0), f32(40.0), a).astype(f32)
    t = exp_f32(np.where(np.isnan(a), f32(0.0), (f32(-2.0) * a).astype(f32)))
    y = ((f32(1.0) - t).astype(f32) / (f32(1.0) + t).astype(f32)).astype(f32)
    y = np.where(x < 0, -y, y).astype(f32)
    return np.where(np.isnan(x), x, y).astype(f32)


def logistic_f32(x: np.ndarray) -> np.ndarray:
    f32 = np.float32
    c = np.where(x < -EXP_LIMIT, -EXP_LIMIT, np.where(x > EXP_LIMIT, EXP_LIMIT, x)).astype(f32)
    e = exp_f32(np.where(np.isnan(c), f32(0.0), -c).astype(f32))
    y = (f32(1.0) / (f32(1.0) + e).astype(f32)).astype(f32)
    return np.where(np.isnan(x), x, y).astype(f32)


@dataclass
class Activation(Op):
    op = "activation"
    elementwise: ClassVar[bool] = True
    kind: str  # relu | tanh | logistic
    n: int
    in_type: str
    out_type: str
    in_frac_bits: int | tuple[int, ...] | None = None  # fixed only; relu after per-unit formats: one per unit
    out_frac_bits: int | tuple[int, ...] | None = None
    index_shift: int = 0  # tables: input bits below the table index (0: one entry per input value)
    table: np.ndarray | None = None  # tanh / logistic fixed: int64 holding out_type values
    max_abs_error: float | None = None  # tables: max |out * 2**-out_frac + out_offset - f(in * 2**-in_frac)|
    out_offset: float = 0.0  # real output = out * 2**-out_frac_bits + out_offset (logistic: 1/2, see OUT_OFFSET)
    # the float32 exp's constants, for the template
    LOG2E, LN2_HI, LN2_LO, EXP_TERMS = LOG2E, LN2_HI, LN2_LO, EXP_TERMS

    @property
    def n_in(self) -> int:
        return self.n

    @property
    def n_out(self) -> int:
        return self.n

    @property
    def is_float(self) -> bool:
        return is_float(self.in_type)

    @property
    def in_min(self) -> int:
        return -(1 << (BITS[self.in_type] - 1))

    @property
    def out_range(self) -> tuple[int, int]:
        """(min, max) of every output integer: what the next dense's range analysis assumes (None: float32)."""
        if self.is_float:
            return None
        if self.table is not None:
            return int(self.table.min()), int(self.table.max())
        return 0, fixedpoint.int_range(BITS[self.out_type])[1]

    def table_bytes(self) -> dict[str, int]:
        return {} if self.table is None else {"table": self.table.size * BITS[self.out_type] // 8}

    def out_format(self) -> QFormat | None:
        if self.is_float or self.out_frac_bits is None:
            return None
        return QFormat(self.out_type, self.out_frac_bits, offset=float(self.out_offset),
                       rounding="none" if self.table is None else "table")

    @property
    def label(self) -> str:
        return self.kind

    def cost_group(self) -> str:
        return f"activation/{self.kind}/{self.in_type}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.is_float:
            x = x.astype(np.float32)
            if self.kind == "relu":
                return np.where(x < 0, np.float32(0.0), x).astype(np.float32)
            with np.errstate(all="ignore"):  # NaN and inf inputs: handled by the formulas' own branches
                return (tanh_f32 if self.kind == "tanh" else logistic_f32)(x)
        x = as_ints(x)
        if self.kind == "relu":
            return np.where(x < 0, 0, x)
        u = x - self.in_min
        if self.index_shift == 0:
            return self.table[u]
        s = self.index_shift
        i = u >> s
        r = u & ((1 << s) - 1)
        lo, hi = self.table[i], self.table[np.minimum(i + 1, len(self.table) - 1)]
        return lo + fixedpoint.shift_right((hi - lo) * r + (1 << (s - 1)), s)

    def to_dict(self) -> dict:
        data = {"op": self.op, "kind": self.kind, "n_in": self.n, "n_out": self.n, "in_type": self.in_type,
                "out_type": self.out_type}
        if self.is_float:
            data["formula"] = "float32 exp polynomial (ops/activation.py)" if self.kind != "relu" else "x < 0 ? 0 : x"
            return data
        data.update({"in_frac_bits": frac_bits_to_json(self.in_frac_bits),
                     "out_frac_bits": frac_bits_to_json(self.out_frac_bits),
                     "out_offset": self.out_offset})
        if self.table is not None:
            data.update({"index_shift": self.index_shift, "max_abs_error": self.max_abs_error,
                         "overflow": "impossible: out lies between two table entries; (t[i+1]-t[i])*r < 2^(out_bits+index_shift)",
                         "rounding": "table: half away from zero; interpolation: + 2^(index_shift-1), arithmetic shift",
                         "table": [int(v) for v in self.table]})
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Activation":
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown activation {kind!r}")
        types = {k: check_type(data[k]) for k in ("in_type", "out_type")}
        if is_float(types["in_type"]):
            return cls(kind=kind, n=int(data["n_in"]), **types)
        op = cls(kind=kind, n=int(data["n_in"]), **types, in_frac_bits=frac_bits_from_json(data["in_frac_bits"]),
                 out_frac_bits=frac_bits_from_json(data["out_frac_bits"]), out_offset=float(data.get("out_offset", 0.0)))
        if kind in TABLE_KINDS:
            op.index_shift = int(data["index_shift"])
            op.table = as_ints(data["table"])
            op.max_abs_error = float(data["max_abs_error"])
            expected = (1 << (BITS[op.in_type] - op.index_shift)) + (1 if op.index_shift else 0)
            if len(op.table) != expected or not 0 <= op.index_shift < BITS[op.in_type]:
                raise ValueError(f"activation table has {len(op.table)} entries, expected {expected}")
            lo, hi = fixedpoint.int_range(BITS[op.out_type])
            if op.table.min() < lo or op.table.max() > hi:
                raise ValueError("activation table entries outside the output type")
        return op

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/activation.c.j2 calls (tinygen/c_primitives.py): a table's."""
        return () if self.table is None else ("ROM", reader(self.out_type))


def quantize(fop: FloatActivation, in_type: str, in_frac_bits) -> Activation:
    """The fixed-point activation for integer inputs of in_type with in_frac_bits (the previous dense's output)."""
    bits = BITS[in_type]
    if fop.kind == "relu":
        return Activation(kind="relu", n=fop.n, in_type=in_type, out_type=in_type, in_frac_bits=in_frac_bits,
                          out_frac_bits=in_frac_bits)
    if bits not in (8, 16):
        raise TinygenError(f"{fop.kind} tables are for 8- and 16-bit activations (q7, q15), not {in_type}")
    offset = 0.0 if fop.head_input else OUT_OFFSET[fop.kind]  # nothing after a head's input folds an offset
    out_frac = bits - 1 if offset == 0 else bits  # tanh in [-1, 1): Q7/Q15; logistic - 1/2 in [-1/2, 1/2): Q8/Q16
    shift = max(0, bits - INDEX_BITS)
    lo, hi = fixedpoint.int_range(bits)
    knots = np.arange(lo, hi + 2, 1 << shift, dtype=np.int64) if shift else np.arange(lo, hi + 1, dtype=np.int64)
    exact = _exact(fop.kind, knots * 2.0 ** -in_frac_bits) - offset
    table = np.clip(round_half_away(exact * 2.0 ** out_frac), lo, hi)
    op = Activation(kind=fop.kind, n=fop.n, in_type=in_type, out_type=in_type, in_frac_bits=in_frac_bits,
                    out_frac_bits=out_frac, index_shift=shift, table=table, out_offset=offset)
    every = np.arange(lo, hi + 1, dtype=np.int64)
    error = np.abs(op.forward(every) * 2.0 ** -out_frac + offset - _exact(fop.kind, every * 2.0 ** -in_frac_bits))
    op.max_abs_error = float(error.max())
    return op
