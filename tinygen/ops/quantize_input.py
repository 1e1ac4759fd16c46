"""quantize_input: the float -> fixed conversion of the model inputs (the one float step on the MCU).

Ranges: input any float32 (NaN, +-inf included); output x_q[i] = to_fixed(x[i], frac_bits[i], bits), in
[-2**(bits-1), 2**(bits-1)-1] by saturation. Each feature has its own power-of-two format chosen from the
calibration data, so a feature in the thousands and one below 0.1 both keep `bits` of resolution; the
next dense op absorbs the per-feature scales into its weights, which is how scalers fold away.

Offsets (linear models, MLPs and GaussianNB): a feature far from zero (pressure 1013 +- 5 hPa) would spend its
bits on the magnitude, so it may carry an integer offset in its own format, subtracted in the integer domain:
x_q[i] = to_fixed_offset(x[i], frac_bits[i], offsets[i], bits) = sat(round(x[i] 2**f) - offsets[i]), NaN -> 0.
The offset is the midpoint of the calibration range (not the mean or median: the midpoint minimises
max |x - offset|, which is what sets the format; the mean or median of a skewed feature leaves one tail up
to the whole range away). A feature takes it only where it gains at least one fractional bit and its plain format
resolves its spread coarsely (RESOLVED_BITS), so centred features, and q31 or q15 formats that already
resolve the spread finely, keep offset 0 and nothing changes for them; with `every_gain`, every feature the
offset gives a bit (quantize.py takes that where it measurably helps).
Frac bits with an offset are capped so that the calibration rows convert into the wide range (16 bits, the
faster conversion, where that costs no feature a bit, else 31) with the headroom: |x| 2**f < 2**(wide_bits-2),
which keeps |offset| <= 2**(wide_bits-2). The dense op after this one absorbs
w . offset * 2**-f into its bias in float64 before quantizing (quantize.py), as the scaler folding does (GaussianNB:
its class means take the same offsets), so the integer program computes the float model's function.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..c_primitives import reader
from ..qparams import frac_bits_for, round_half_away
from .base import Op, QFormat
from .counts import Features
from .types import BITS, INT_TYPES, check_type


# The widths an offset feature converts into before the offset is subtracted: 16 takes the 16-bit conversion
# (AVR: about half the cycles of the 32-bit one), chosen when it costs no feature a bit; else 31.
WIDE_CHOICES = (16, fixedpoint.WIDE_BITS)


def _with_offsets(low, high, frac_bits: list[int], bits: int, wide_bits: int,
                  coarse_steps: float) -> tuple[list[int], list[int]]:
    """(frac bits, offsets) per feature for a `wide_bits` wide range: a feature whose plain format (`frac_bits`)
    resolves its spread in fewer than `coarse_steps` steps takes the midpoint offset where the centred format
    (its half-spread with headroom in `bits`) gains a bit. That format is capped so that every calibration value,
    with headroom, converts into `wide_bits` without saturating: |x| 2**f < 2**(wide_bits-2), so |offset| <=
    2**(wide_bits-2) and the C's int32 difference of the wide value and the offset cannot overflow. A feature
    constant on the calibration rows keeps its plain format (a format fitted to no spread would saturate)."""
    frac_bits, offsets_q = list(frac_bits), [0] * len(frac_bits)
    headroom = QuantizeInput.HEADROOM
    for i, (lo, hi) in enumerate(zip(map(float, low), map(float, high))):
        centred = min(frac_bits_for(headroom * (hi - lo) / 2, bits),
                      frac_bits_for(headroom * max(abs(lo), abs(hi)), wide_bits))
        coarse = np.ldexp(hi - lo, frac_bits[i]) < coarse_steps
        if hi > lo and coarse and centred > frac_bits[i]:
            frac_bits[i] = centred
            offsets_q[i] = int(round_half_away(np.ldexp((lo + hi) / 2, centred)))
    return frac_bits, offsets_q


@dataclass
class QuantizeInput(Op):
    op = "quantize_input"
    converts_input = True
    out_type: str  # int8 | int16 | int32
    frac_bits: list[int]  # one per feature
    offsets: list[int] | None = None  # per feature, in its format (real offset = offsets[i] * 2**-frac_bits[i])
    wide_bits: int = fixedpoint.WIDE_BITS  # offset features convert into this width first

    @property
    def has_offsets(self) -> bool:
        return self.offsets is not None and any(self.offsets)

    @property
    def offset_type(self) -> str:
        """The C type of the offset table: |offset| <= 2**(wide_bits-2) fits int16 for a 16-bit wide range."""
        return "int16" if self.wide_bits <= 16 else "int32"

    @property
    def wide_range(self) -> tuple[int, int]:
        return fixedpoint.int_range(self.wide_bits)

    def offsets_real(self) -> np.ndarray:
        """The offsets as float64 values (exact: integers times powers of two); zeros without offsets."""
        if not self.has_offsets:
            return np.zeros(self.n_in)
        return np.ldexp(np.asarray(self.offsets, dtype=np.float64), -np.asarray(self.frac_bits))

    @property
    def n_in(self) -> int:
        return len(self.frac_bits)

    n_out = n_in

    # Rows beyond the calibration range saturate; a factor of 2 (one bit) of headroom over the calibration
    # maximum keeps held-out outliers in range (breast_cancer's test split exceeds its training maxima).
    HEADROOM = 2.0
    # An offset costs the wide conversion (AVR: ~80 cycles a feature more than the narrow one) and, in the dense
    # layer after it, a bit of that feature's weight (its input format is a bit finer), so a feature takes one
    # only where it gains a fractional bit and its plain format resolves its calibration spread in fewer than
    # 2**min(RESOLVED_BITS, bits - 4) steps: 12 bits is a typical MCU ADC's resolution (q15: breast_cancer's 14
    # bits everywhere, no offsets); in q7, 4 bits (16 steps). With 5 bits, 7 of breast_cancer's features took
    # offsets and its 5-fold cross-validated q7 accuracy fell (logreg 0.9772 -> 0.9737, MLP (16,) 0.9824 ->
    # 0.9771) while the Uno's cycles rose 3,356 -> 4,341; a pressure of 1013 +- 5 hPa in q7 has ~1 step.
    RESOLVED_BITS = 12

    @classmethod
    def from_calibration(cls, X_calib: np.ndarray, bits: int, offsets: bool = False,
                         every_gain: bool = False) -> "QuantizeInput":
        """Formats from the calibration rows; with `offsets`, midpoint offsets as _with_offsets chooses them: on
        the coarsely resolved features (RESOLVED_BITS), or with `every_gain` on every feature they gain a bit."""
        finite = np.where(np.isfinite(X_calib), X_calib, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: range 0
            low, high = (np.nan_to_num(f(finite, axis=0), nan=0.0) for f in (np.nanmin, np.nanmax))
        max_abs = np.maximum(np.abs(low), np.abs(high))
        frac_bits = [frac_bits_for(cls.HEADROOM * float(m), bits) for m in max_abs]
        if not offsets:
            return cls(out_type=INT_TYPES[bits], frac_bits=frac_bits)
        # the 16-bit wide range (the faster conversion) unless the 31-bit one gives some feature more bits
        coarse_steps = np.inf if every_gain else 2.0 ** min(cls.RESOLVED_BITS, bits - 4)
        choices = {w: _with_offsets(low, high, frac_bits, bits, w, coarse_steps) for w in WIDE_CHOICES}
        wide_bits = min(WIDE_CHOICES, key=lambda w: (-sum(choices[w][0]), w))
        frac_bits, offsets_q = choices[wide_bits]
        if not any(offsets_q):
            return cls(out_type=INT_TYPES[bits], frac_bits=frac_bits)
        return cls(out_type=INT_TYPES[bits], frac_bits=frac_bits, offsets=offsets_q, wide_bits=wide_bits)

    def table_bytes(self) -> dict[str, int]:
        """Bytes of each constant table the C holds for this op (frac bits as int8)."""
        sizes = {"frac_bits": self.n_in}
        if self.has_offsets:
            sizes["offsets"] = BITS[self.offset_type] // 8 * self.n_in
        return sizes

    def in_formats(self) -> list[QFormat]:
        return self.out_format().channels(self.n_in)

    def out_format(self) -> QFormat:
        return QFormat(self.out_type, tuple(map(int, self.frac_bits)), offset=tuple(map(float, self.offsets_real())),
                       rounding="half_away", saturate=True)

    def cost_group(self) -> str:  # int8: to_fixed_i8, int16: to_fixed_short, int32: the general to_fixed
        return f"quantize_input/{self.out_type}"

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        counts.input_group = group
        for name, per_row in to_fixed_counts(values, self.frac_bits, BITS[self.out_type]).items():
            counts.add_cycles(f"{group}:{name}", per_row)
        if self.has_offsets:  # the wide conversion, then the subtraction and the narrow saturation
            counts.add_cycles(f"{group}:offset_values/wide{self.wide_bits}",
                              np.full(len(values), sum(1 for o in self.offsets if o)))

    def forward(self, x: np.ndarray) -> np.ndarray:
        frac_bits, bits = np.asarray(self.frac_bits), BITS[self.out_type]
        if not self.has_offsets:
            return fixedpoint.to_fixed(x.astype(np.float32), frac_bits, bits)
        return fixedpoint.to_fixed_offset(x.astype(np.float32), frac_bits, np.asarray(self.offsets), bits, self.wide_bits)

    def to_dict(self) -> dict:
        data = {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "frac_bits": list(map(int, self.frac_bits)), "rounding": fixedpoint.INPUT_ROUNDING,
                "nan_to": 0, "saturate": True}
        if self.has_offsets:  # x_q = sat(round(x 2**f) - offsets); absent: 0 (manifests before offsets)
            data["offsets"] = list(map(int, self.offsets))
            data["offset_wide_bits"] = int(self.wide_bits)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "QuantizeInput":
        frac_bits = [int(f) for f in data["frac_bits"]]
        offsets = data.get("offsets")
        wide_bits = int(data.get("offset_wide_bits", fixedpoint.WIDE_BITS))
        if offsets is not None:
            offsets = [int(o) for o in offsets]
            if wide_bits not in WIDE_CHOICES or len(offsets) != len(frac_bits) \
                    or any(abs(o) > 1 << (wide_bits - 2) for o in offsets):
                raise ValueError(f"quantize_input offsets: one per feature, at most 2**(wide_bits-2) in magnitude, "
                                 f"wide_bits in {WIDE_CHOICES}")
        return cls(out_type=check_type(data["out_type"]), frac_bits=frac_bits, offsets=offsets, wide_bits=wide_bits)

    # ---- the C (templates/c/quantize_input.c.j2) -----------------------------------------------------------
    @property
    def convert_kernel(self) -> str:
        """The primitive that converts a feature without an offset: 8- and 16-bit inputs take their own."""
        return {"int8": "to_fixed_i8", "int16": "to_fixed_i16"}.get(self.out_type, "to_fixed")

    @property
    def offset_kernel(self) -> str:
        """The primitive that converts a feature with an offset: q7 with a 16-bit wide range takes the 16-bit one."""
        return "to_fixed_offset_i8" if self.out_type == "int8" and self.wide_bits == 16 else "to_fixed_offset_fast"

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros the template calls (tinygen/c_primitives.py)."""
        offsets = ("ROM", reader(self.offset_type), self.offset_kernel) if self.has_offsets else ()
        return ("ROM", "rd_i8", self.convert_kernel, *offsets)


def to_fixed_counts(x: np.ndarray, frac_bits, out_bits: int = 32) -> dict[str, np.ndarray]:
    """Per row, the paths and shift loops of the conversion (templates/c/fixedpoint/to_fixed*.h.j2) over the features:
    values scaled up shift left by a variable count (one loop step per bit on AVR, twice: the limit check
    and the shift), values scaled down drop whole bytes first, then shift right bit by bit. Results of 16
    bits take to_fixed_i16, i.e. to_fixed_short, for normal numbers (a 16-bit shift by right - 8 when right is in [8, 16), an
    8-bit one by right - 16 up to 24); 8-bit results take to_fixed_i8 (one multiply, no loop)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)
    if out_bits <= 16:
        exponent = (bits >> 23) & 0xFF
        normal = (exponent != 0) & (exponent != 0xFF)
        right = 149 - exponent - np.asarray(frac_bits, dtype=np.int64)[None, :]
        if out_bits == 8:
            return {"values": normal.sum(axis=1), "zero_values": (~normal).sum(axis=1)}
        short16 = normal & (right >= 8) & (right < 16)
        short8 = normal & (right >= 16) & (right < 24)
        return {"values": normal.sum(axis=1), "zero_values": (~normal).sum(axis=1),
                "right_bits": np.where(short16, right - 8, 0).sum(axis=1) + np.where(short8, right - 16, 0).sum(axis=1)}
    exponent = (bits >> 23) & 0xFF
    mantissa = bits & 0x7FFFFF
    special = exponent == 0xFF
    mantissa = np.where(exponent != 0, mantissa | 0x800000, mantissa)
    exponent = np.where(exponent == 0, 1, exponent)
    shift = exponent - 150 + np.asarray(frac_bits, dtype=np.int64)[None, :]
    live = ~special & (mantissa != 0)
    left = live & (shift >= 0) & (shift < 32)
    right = live & (shift < 0) & (shift >= -24)
    right_count = np.where(right, -shift - 1, 0)
    return {"values": live.sum(axis=1), "zero_values": (~live).sum(axis=1),
            "left_bits": np.where(left, shift, 0).sum(axis=1), "right_bytes": (right_count // 8).sum(axis=1),
            "right_bits": (right_count % 8).sum(axis=1)}
