"""quantize_input: the float -> fixed conversion of the model inputs (the one float step on the MCU).

Ranges: input any float32 (NaN, +-inf included); output x_q[i] = to_fixed(x[i], frac_bits[i], bits), in
[-2**(bits-1), 2**(bits-1)-1] by saturation. Each feature has its own power-of-two format chosen from the
calibration data, so a feature in the thousands and one below 0.1 both keep `bits` of resolution; the
next dense op absorbs the per-feature scales into its weights, which is how scalers fold away.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from .types import BITS, INT_TYPES, check_type


@dataclass
class QuantizeInput:
    op = "quantize_input"
    out_type: str  # int8 | int16 | int32
    frac_bits: list[int]  # one per feature

    @property
    def n_in(self) -> int:
        return len(self.frac_bits)

    n_out = n_in

    # Rows beyond the calibration range saturate; a factor of 2 (one bit) of headroom over the calibration
    # maximum keeps held-out outliers in range (breast_cancer's test split exceeds its training maxima).
    HEADROOM = 2.0

    @classmethod
    def from_calibration(cls, X_calib: np.ndarray, bits: int) -> "QuantizeInput":
        with np.errstate(invalid="ignore"):
            max_abs = np.nanmax(np.abs(np.where(np.isfinite(X_calib), X_calib, np.nan)), axis=0)
        max_abs = np.nan_to_num(max_abs, nan=0.0)
        return cls(out_type=INT_TYPES[bits], frac_bits=[fixedpoint.frac_bits_for(cls.HEADROOM * float(m), bits) for m in max_abs])

    def table_bytes(self) -> dict[str, int]:
        """Bytes of each constant table the C holds for this op (frac bits as int8)."""
        return {"frac_bits": self.n_in}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return fixedpoint.to_fixed(x.astype(np.float32), np.asarray(self.frac_bits), BITS[self.out_type])

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "frac_bits": list(map(int, self.frac_bits)), "rounding": fixedpoint.INPUT_ROUNDING,
                "nan_to": 0, "saturate": True}

    @classmethod
    def from_dict(cls, data: dict) -> "QuantizeInput":
        return cls(out_type=check_type(data["out_type"]), frac_bits=[int(f) for f in data["frac_bits"]])
