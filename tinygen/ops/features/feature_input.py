"""feature_input: the window features (int32) into the model's input format, integers only (issue 16).

The model after the features was quantized as if its inputs were the integer features q themselves (the
features' real scales and biases are folded into its first layer or thresholds, as a scaler is), so its
input conversion chose a power-of-two format per feature exactly as quantize_input does for floats. This op
applies that format to the integers:
  wide = round(q * 2^frac_bits[i])   half away from zero: rdbpot(q, -f) for f < 0 (0 when f < -31: |q| < 2^31
                                      is below half of 2^32), q << f for f >= 0 with |q| clamped to 2^(30-f) first
                                      so the shift stays in int32 (the clamp only moves values that saturate below)
  x_q = sat(wide - offsets[i])        to out_type (int16 or int8); offsets as quantize_input's, in the format
For the float32 models and the exact trees, out_type float32: x = (float)q, round to nearest even where
|q| > 2^24 (the C cast and numpy's astype agree).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import fixedpoint
from ..base import Op, QFormat
from ..types import BITS, type_range

WIDE_LIMIT = 1 << 30


def round_shift(q: np.ndarray, frac_bits: np.ndarray) -> np.ndarray:
    """round(q 2^f) half away from zero for int32 q, clamped to [-2^30, 2^30] (module doc)."""
    q = np.asarray(q, dtype=np.int64)
    f = np.broadcast_to(np.asarray(frac_bits, dtype=np.int64), q.shape)
    down = fixedpoint.rdbpot(q, np.clip(-f, 0, 31))
    down = np.where(f < -31, 0, down)
    limit = WIDE_LIMIT >> np.clip(f, 0, 30)
    up = np.clip(q, -limit, limit) << np.clip(f, 0, 30)
    return np.where(f < 0, down, up)


@dataclass
class FeatureInput(Op):
    op = "feature_input"
    out_type: str  # int16 | int8 | float32
    frac_bits: list[int] | None = None  # per feature (integer outputs)
    offsets: list[int] | None = None  # per feature, in its format
    n_features: int = 0

    def __post_init__(self):
        if self.frac_bits is not None:
            self.n_features = len(self.frac_bits)

    @property
    def n_in(self) -> int:
        return self.n_features

    @property
    def n_out(self) -> int:
        return self.n_features

    @property
    def is_float(self) -> bool:
        return self.out_type == "float32"

    @property
    def has_offsets(self) -> bool:
        return self.offsets is not None and any(self.offsets)

    @classmethod
    def like(cls, conversion, n_features: int) -> "FeatureInput":
        """The integer twin of the model's own input conversion (a QuantizeInput), or float32 without one."""
        if conversion is None:
            return cls(out_type="float32", n_features=n_features)
        return cls(out_type=conversion.out_type, frac_bits=list(conversion.frac_bits),
                   offsets=list(conversion.offsets) if conversion.has_offsets else None)

    def forward(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.int64)
        if self.is_float:
            return q.astype(np.float32)
        wide = round_shift(q, np.asarray(self.frac_bits))
        if self.has_offsets:
            wide = wide - np.asarray(self.offsets, dtype=np.int64)
        lo, hi = type_range(self.out_type)
        return np.clip(wide, lo, hi)

    def out_format(self) -> QFormat | None:
        if self.is_float:
            return None
        offsets = self.offsets if self.has_offsets else [0] * self.n_features
        real = tuple(float(np.ldexp(o, -f)) for o, f in zip(offsets, self.frac_bits))
        return QFormat(self.out_type, tuple(map(int, self.frac_bits)), offset=real, rounding="half_away", saturate=True)

    def table_bytes(self) -> dict[str, int]:
        if self.is_float:
            return {}
        sizes = {"shifts": self.n_features}
        if self.has_offsets:
            sizes["offsets"] = 4 * self.n_features
        return sizes

    def c_helpers(self) -> tuple[str, ...]:
        if self.is_float:
            return ()
        return ("ROM", "rd_i8", "rdbpot", *(("rd_i32",) if self.has_offsets else ()))

    def to_dict(self) -> dict:
        data = {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type}
        if not self.is_float:
            data.update(frac_bits=[int(f) for f in self.frac_bits], rounding="half_away_from_zero", saturate=True)
        if self.has_offsets:
            data["offsets"] = [int(o) for o in self.offsets]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureInput":
        out_type = str(data["out_type"])
        if out_type == "float32":
            return cls(out_type=out_type, n_features=int(data["n_in"]))
        if out_type not in ("int8", "int16"):
            raise ValueError("feature_input converts to int8, int16 or float32")
        frac_bits = [int(f) for f in data["frac_bits"]]
        offsets = data.get("offsets")
        if offsets is not None and (len(offsets) != len(frac_bits) or any(abs(int(o)) > WIDE_LIMIT for o in offsets)):
            raise ValueError("feature_input offsets: one per feature, at most 2**30 in magnitude")
        return cls(out_type=out_type, frac_bits=frac_bits, offsets=None if offsets is None else [int(o) for o in offsets])

    @property
    def buffer_bytes(self) -> int:
        return self.n_out * (4 if self.is_float else BITS[self.out_type] // 8)
