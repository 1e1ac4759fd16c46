"""quantize_affine: float -> affine int8 features, TFLM's AffineQuantize with one (scale, zero point) per
feature (dtype int8).

Ranges: input any float32 (NaN -> zero point, +-inf saturate); output x_q[i] = clamp(round(x[i] / scale[i])
+ zero_point[i], -128, 127) with the division in float32 and ties away from zero (fixedpoint.affine_quantize).
Each feature keeps its own range (raw features in the thousands and below 0.1 side by side); the first
fully_connected folds the per-feature scales into its per-channel weight scales and the zero points into its
bias, so from there on the program is exactly TFLM's int8 graph with an int8 input of scale 1, zero point 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..errors import TinygenError
from ..qparams import round_half_away
from .base import Op, QFormat
from .counts import Features


def affine_params(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero_point) of an int8 tensor holding [lo, hi] (widened to include 0), TFLite converter
    style: scale = (hi - lo) / 255 in float32, zero_point = round(-128 - lo / scale) clamped; a zero range
    gets scale 1."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    with np.errstate(over="ignore"):
        scale = np.float32((hi - lo) / 255.0)
    if not np.isfinite(scale):  # a layer's outputs beyond float32 (weights near FLT_MAX) have no int8 scale
        raise TinygenError(f"an int8 tensor's range [{lo:.3g}, {hi:.3g}] is beyond float32's; use --dtype q15 or "
                           "refit the model with smaller weights")
    if not scale > 0:
        return 1.0, 0
    zero_point = int(np.clip(round_half_away(-128.0 - lo / float(scale)), -128, 127))
    return float(scale), zero_point


@dataclass
class QuantizeAffine(Op):
    op = "quantize_affine"
    converts_input = True
    scale: list[float]  # float32 values, one per feature
    zero_point: list[int]
    out_type: str = "int8"

    @property
    def n_in(self) -> int:
        return len(self.scale)

    n_out = n_in

    # The calibration range is widened by this factor around its midpoint... kept at 1 (TFLM: plain min/max);
    # held-out rows beyond it saturate.
    @classmethod
    def from_calibration(cls, X_calib: np.ndarray) -> "QuantizeAffine":
        finite = np.where(np.isfinite(X_calib), X_calib, np.nan)
        with np.errstate(invalid="ignore"):
            lo = np.nan_to_num(np.nanmin(finite, axis=0), nan=0.0)
            hi = np.nan_to_num(np.nanmax(finite, axis=0), nan=0.0)
        params = [affine_params(a, b) for a, b in zip(lo, hi)]
        return cls(scale=[p[0] for p in params], zero_point=[p[1] for p in params])

    def table_bytes(self) -> dict[str, int]:
        return {"scale": 4 * self.n_in, "zero_point": self.n_in}

    def in_formats(self) -> list[QFormat]:
        return self.out_format().channels(self.n_in)

    def out_format(self) -> QFormat:
        return QFormat("int8", scale_value=tuple(map(float, self.scale)), zero_point=tuple(map(int, self.zero_point)),
                       rounding="half_away", saturate=True)

    def soft_float_routines(self) -> set[str]:
        return {"div", "compare"}  # x / scale, then range checks

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        counts.input_group = group  # a soft-float divide per value, quick for zeros
        zeros = (values == 0).sum(axis=1)
        counts.add_cycles(f"{group}:zero_values", zeros)
        counts.add_cycles(f"{group}:values", self.n_out - zeros)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return fixedpoint.affine_quantize(x, np.asarray(self.scale, dtype=np.float32), np.asarray(self.zero_point))

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "scale": [float(np.float32(s)) for s in self.scale], "zero_point": [int(z) for z in self.zero_point],
                "rounding": "x / scale in float32, half away from zero (TfLiteRound)", "nan_to": "zero_point",
                "saturate": True}

    @classmethod
    def from_dict(cls, data: dict) -> "QuantizeAffine":
        return cls(scale=[float(np.float32(s)) for s in data["scale"]], zero_point=[int(z) for z in data["zero_point"]])

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/quantize_affine.c.j2 calls (tinygen/c_primitives.py)."""
        return ("ROM", "rd_f32", "rd_i8", "affine_quantize")
