"""standardize: a StandardScaler kept as a frozen op in front of a trainable layer (ops/trainable_dense.py).

SGD on weights with the scaler folded in is not SGD in the scaled space, so a trainable program keeps the scaler:
the input conversion before this op subtracts the mean (ops/quantize_input.py's offsets: x_q[i] = sat16(round(x[i]
2**f_i) - o_i), o_i = round(mean_i 2**f_i)), and this op divides by the standard deviation into one common format:
  z_q[i] = sat16(rdbpot(x_q[i] * m[i], s[i]))       z real = z_q 2**-z_frac_bits
with m[i] an int16 mantissa and s[i] in [0, 31] such that m[i] 2**-s[i] ~= 2**(z_frac_bits - f_i) / std_i, with 15
significant bits (m in [2**14, 2**15)). Where that would need s < 0 (a left shift: a feature whose std is tiny
beside its format's step), s = 0 and m = 32767, the largest mantissa: that feature's z is then too small by the
factor the quantizer notes (never on real data: it needs a spread of 2**-17 of the feature's range).
Ranges: x_q int16, |x_q * m| <= 2**15 (2**15 - 1) < 2**31, so the int32 product is exact; z_q int16, saturated
(the format holds the calibration rows' |z| with HEADROOM; rows beyond it saturate).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..qparams import frac_bits_for, round_half_away
from .base import Op, QFormat
from .counts import Features

MANTISSA_BITS = 15  # m in [2**14, 2**15)
HEADROOM = 2.0  # z's format holds twice the calibration rows' largest |z|


@dataclass
class Standardize(Op):
    op = "standardize"
    multipliers: list[int]  # m[i], int16 in [0, 2**15)
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
        return {"multipliers": 2 * self.n_in, "shifts": self.n_in}

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        counts.add_cycles(f"{group}:values", np.full(len(values), self.n_out))
        counts.add_cycles(f"{group}:shift_bits", np.full(len(values), int(sum(self.shifts))))

    def c_helpers(self) -> tuple[str, ...]:
        return ("ROM", "rd_i16", "rd_u8", "rdbpot", "sat_i32")

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "multipliers": [int(m) for m in self.multipliers], "shifts": [int(s) for s in self.shifts],
                "z_frac_bits": int(self.z_frac_bits), "rounding": "half_away_from_zero", "saturate": True,
                "compute": "z_q = sat16(rdbpot(x_q * multipliers, shifts))"}

    @classmethod
    def from_dict(cls, data: dict) -> "Standardize":
        op = cls(multipliers=[int(m) for m in data["multipliers"]], shifts=[int(s) for s in data["shifts"]],
                 z_frac_bits=int(data["z_frac_bits"]))
        if len(op.shifts) != op.n_in or any(not 0 <= m < 1 << 15 for m in op.multipliers) \
                or any(not 0 <= s <= 31 for s in op.shifts) or not -100 <= op.z_frac_bits <= 100:
            raise ValueError("standardize: one multiplier in [0, 2**15) and one shift in [0, 31] per feature")
        return op


def plan(in_frac_bits, std: np.ndarray, z_calib: np.ndarray) -> tuple[Standardize, list[str]]:
    """The op for features converted with `in_frac_bits` (offsets = the means), divided by `std`; z's format from
    the standardized calibration rows `z_calib` (float). Also the notes (features whose mantissa is capped)."""
    finite = np.abs(z_calib[np.isfinite(z_calib)])
    z_frac = frac_bits_for(HEADROOM * float(finite.max(initial=0.0)), 16)
    multipliers, shifts, notes = [], [], []
    for i, (f, s) in enumerate(zip(in_frac_bits, np.asarray(std, dtype=np.float64))):
        ratio = 2.0 ** (z_frac - int(f)) / float(s)
        _, exponent = np.frexp(ratio)  # ratio in [2**(exponent-1), 2**exponent)
        shift = min(MANTISSA_BITS - int(exponent), 31)  # beyond 31: a tiny ratio keeps fewer bits
        mantissa = int(round_half_away(np.ldexp(ratio, shift)))
        if mantissa == 1 << MANTISSA_BITS:
            shift, mantissa = shift - 1, 1 << (MANTISSA_BITS - 1)
        if shift < 0:
            notes.append(f"standardize: feature {i}'s scale needs a left shift of {-shift}; capped (its z is "
                         f"{ratio / 32767:.3g} times too small)")
            shift, mantissa = 0, (1 << MANTISSA_BITS) - 1
        shifts.append(shift)
        multipliers.append(mantissa)
    return Standardize(multipliers=multipliers, shifts=shifts, z_frac_bits=z_frac), notes
