"""standardize: a StandardScaler kept as a frozen op in front of a trainable layer (ops/trainable_dense.py).

SGD on weights with the scaler folded in is not SGD in the scaled space, so a trainable program keeps the scaler:
the input conversion before this op subtracts the mean (ops/quantize_input.py's offsets: x_q[i] = sat16(round(x[i]
2**f_i) - o_i), o_i = round(mean_i 2**f_i)), and this op divides by the standard deviation into one common format:
  z_q[i] = sat16(rdbpot(x_q[i] * m[i], s[i]))       z real = z_q 2**-z_frac_bits
with m[i] a uint16 mantissa and s[i] in [0, 31] such that m[i] 2**-s[i] ~= ratio_i = 2**(z_frac_bits - f_i) / std_i.
The shift is FIXED_SHIFT (16) wherever that keeps at least FIXED_MIN_BITS significant bits in m (ratio in [2**-6, 1)):
the C then takes the upper half of the product (byte moves on AVR) instead of a variable 32-bit shift. z's format is
lowered by up to MAX_Z_DROP bits from the range rule (HEADROOM) where that brings every ratio below 1 (a ratio >= 1
means the feature's input format is coarser than z's: the lowered bit was not resolved by the input anyway).
Any other feature takes s = 16 - exponent (m in [2**15, 2**16), 16 significant bits), through the general path;
where that would need s < 0 (a left shift: a std tiny beside its format's step), s = 0 and m = 65535, the largest
mantissa: that feature's z is then too small by the factor the quantizer notes (never on real data).
Ranges: x_q int16, |x_q * m| <= 2**15 (2**16 - 1) < 2**31, so the int32 product is exact; with s = 16 the result is
within [-32767, 32767] (no saturation can occur); z_q int16, saturated otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import fixedpoint
from ..qparams import frac_bits_for, round_half_away
from .base import Op, QFormat
from .counts import Features

MANTISSA_BITS = 16  # m in [2**15, 2**16) where the shift is not the fixed one
FIXED_SHIFT = 16  # the upper half of the product: byte moves on AVR
FIXED_MIN_BITS = 11  # the fixed shift while m keeps this many significant bits (scale error <= 2**-11)
MAX_Z_DROP = 2  # z's format may lose this many bits to the range rule so that every ratio is below 1
HEADROOM = 2.0  # z's format holds twice the calibration rows' largest |z|


@dataclass
class Standardize(Op):
    op = "standardize"
    elementwise: ClassVar[bool] = True
    multipliers: list[int]  # m[i], uint16 in [0, 2**16)
    shifts: list[int]  # s[i] in [0, 31]
    z_frac_bits: int
    out_type: str = "int16"

    @property
    def n_in(self) -> int:
        return len(self.multipliers)

    @property
    def n_out(self) -> int:
        return len(self.multipliers)

    def forward(self, x_q: np.ndarray) -> np.ndarray:
        products = np.asarray(x_q, dtype=np.int64) * np.asarray(self.multipliers, dtype=np.int64)[None, :]
        return fixedpoint.saturate(fixedpoint.rdbpot(products, np.asarray(self.shifts, dtype=np.int64)[None, :]), 16)

    def out_format(self) -> QFormat:
        return QFormat("int16", self.z_frac_bits, rounding="half_away", saturate=True)

    def table_bytes(self) -> dict[str, int]:
        return {"multipliers": 2 * self.n_in, **({} if self.fixed_shift else {"shifts": self.n_in})}

    @property
    def fixed_shift(self) -> bool:
        """Every feature shifts by FIXED_SHIFT: the C has no shift table and no general path."""
        return all(s == FIXED_SHIFT for s in self.shifts)

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        counts.add_cycles(f"{group}:values", np.full(len(values), self.n_out))
        counts.add_cycles(f"{group}:shift_bits", np.full(len(values), int(sum(self.shifts))))

    def c_helpers(self) -> tuple[str, ...]:
        general = () if self.fixed_shift else ("rd_u8", "rdbpot", "sat_i32")
        return ("ROM", "rd_u16", "mul_i16_u16_i32", "rdbpot_16", *general)

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "multipliers": [int(m) for m in self.multipliers], "shifts": [int(s) for s in self.shifts],
                "z_frac_bits": int(self.z_frac_bits), "rounding": "half_away_from_zero", "saturate": True,
                "compute": "z_q = sat16(rdbpot(x_q * multipliers, shifts))"}

    @classmethod
    def from_dict(cls, data: dict) -> "Standardize":
        op = cls(multipliers=[int(m) for m in data["multipliers"]], shifts=[int(s) for s in data["shifts"]],
                 z_frac_bits=int(data["z_frac_bits"]))
        if len(op.shifts) != op.n_in or any(not 0 <= m < 1 << 16 for m in op.multipliers) \
                or any(not 0 <= s <= 31 for s in op.shifts) or not -100 <= op.z_frac_bits <= 100:
            raise ValueError("standardize: one multiplier in [0, 2**16) and one shift in [0, 31] per feature")
        return op


def plan(in_frac_bits, std: np.ndarray, z_calib: np.ndarray) -> tuple[Standardize, list[str]]:
    """The op for features converted with `in_frac_bits` (offsets = the means), divided by `std`; z's format from
    the standardized calibration rows `z_calib` (float), lowered by at most MAX_Z_DROP bits so that every feature
    takes the fixed shift (module doc). Also the notes (features whose mantissa is capped)."""
    finite = np.abs(z_calib[np.isfinite(z_calib)])
    z_range = frac_bits_for(HEADROOM * float(finite.max(initial=0.0)), 16)
    std = np.asarray(std, dtype=np.float64)
    for z_frac in range(z_range, z_range - MAX_Z_DROP - 1, -1):
        ratios = [2.0 ** (z_frac - int(f)) / float(s) for f, s in zip(in_frac_bits, std)]
        if all(_fixed_mantissa(r) is not None for r in ratios):
            break
    multipliers, shifts, notes = [], [], []
    for i, ratio in enumerate(ratios):
        shift, mantissa = (FIXED_SHIFT, _fixed_mantissa(ratio)) if _fixed_mantissa(ratio) is not None \
            else _general(ratio)
        if shift < 0:
            notes.append(f"standardize: feature {i}'s scale needs a left shift of {-shift}; capped (its z is "
                         f"{ratio / 65535:.3g} times too small)")
            shift, mantissa = 0, (1 << MANTISSA_BITS) - 1
        shifts.append(shift)
        multipliers.append(mantissa)
    return Standardize(multipliers=multipliers, shifts=shifts, z_frac_bits=z_frac), notes


def _fixed_mantissa(ratio: float) -> int | None:
    """m for the fixed shift, or None where it would not fit 16 bits or keep FIXED_MIN_BITS significant bits."""
    mantissa = int(round_half_away(np.ldexp(ratio, FIXED_SHIFT)))
    return mantissa if 1 << (FIXED_MIN_BITS - 1) <= mantissa < 1 << 16 else None


def _general(ratio: float) -> tuple[int, int]:
    """(s, m) with m in [2**15, 2**16) (s beyond 31 keeps fewer bits)."""
    _, exponent = np.frexp(ratio)  # ratio in [2**(exponent-1), 2**exponent)
    shift = min(MANTISSA_BITS - int(exponent), 31)
    mantissa = int(round_half_away(np.ldexp(ratio, shift)))
    if mantissa == 1 << MANTISSA_BITS:
        shift, mantissa = shift - 1, 1 << (MANTISSA_BITS - 1)
    return shift, mantissa
