"""fully_connected: TFLM's int8 FULLY_CONNECTED with per-channel symmetric int8 weights (dtype int8).

Integer form (TFLM reference kernel, per output channel c):
    acc = bias[c] + sum_i w[c][i] * (in[i] - in_zero_point)           int32
    out[c] = clamp(mbqm(acc, multiplier[c], shift[c]) + out_zero_point, act_min, act_max)   int8
with (multiplier[c], shift[c]) = quantize_multiplier(double(in_scale) * double(w_scale[c]) / double(out_scale))
from the float32 scales, as TFLM computes them in Prepare. The C folds the input zero point into the bias
(bias_folded[c] = bias[c] - in_zero_point * sum_i w[c][i]) so its inner loop is a plain int8 x int8 MAC; the
sum is the same integer.
Ranges: in int8, w in [-127, 127], bias int32. quantize() proves |bias| + 255 * sum|w| and
|bias_folded| + 128 * sum|w| (every partial sum of either form) <= acc_bound, and acc_bound * 2^max(shift, 0)
< 2^31, so neither the accumulator nor mbqm's left shift can overflow int32 for any int8 input.
act_min/act_max: TFLM's CalculateActivationRangeQuantized (relu: max(-128, out_zero_point + round(0 / scale))).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..errors import TinygenError
from ..qparams import quantize_multiplier, round_half_away
from .base import Op, QFormat
from .counts import Features, count_macs
from .types import as_ints, check_type

INT8_MIN, INT8_MAX = -128, 127


@dataclass
class FullyConnected(Op):
    op = "fully_connected"
    weights: np.ndarray  # [n_out, n_in] int8 values (int64), symmetric per channel
    bias: np.ndarray  # [n_out] int32 values, scale in_scale * w_scale[c]
    w_scale: list[float]  # float32, per output channel
    in_scale: float
    in_zero_point: int
    out_scale: float
    out_zero_point: int
    multiplier: list[int]
    shift: list[int]
    act_min: int
    act_max: int
    activation: str  # "none" | "relu" (fused)
    acc_bound: int
    in_type: str = "int8"
    weight_type: str = "int8"
    acc_type: str = "int32"
    out_type: str = "int8"  # the last layer writes int32 scores (NAME_scores' int32_t), values still int8

    @property
    def n_in(self) -> int:
        return self.weights.shape[1]

    @property
    def n_out(self) -> int:
        return self.weights.shape[0]

    @property
    def bias_folded(self) -> np.ndarray:
        return self.bias - self.in_zero_point * self.weights.sum(axis=1)

    def table_bytes(self) -> dict[str, int]:
        return {"weights": self.weights.size, "bias": 4 * self.n_out, "multiplier": 4 * self.n_out, "shift": self.n_out}

    def out_format(self) -> QFormat:  # int8 values, even where the last layer widens them to int32 scores
        return QFormat("int8", scale_value=float(self.out_scale), zero_point=int(self.out_zero_point),
                       q_min=int(self.act_min), q_max=int(self.act_max), rounding="double", saturate=True)

    @property
    def float_ops_fused(self) -> int:
        return 2 if self.activation == "relu" else 1

    def cost_group(self) -> str:
        return f"fully_connected/{self.out_type}"

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        count_macs(self, values, group, counts, float_zeros=False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        acc = self.bias[None, :] + (as_ints(x) - self.in_zero_point) @ self.weights.T
        if acc.size and int(np.abs(acc).max()) > self.acc_bound:
            raise AssertionError("fully_connected accumulator beyond its proven bound: the range analysis is wrong")
        out = fixedpoint.mbqm(acc, np.asarray(self.multiplier)[None, :], np.asarray(self.shift)[None, :])
        return np.clip(out + self.out_zero_point, self.act_min, self.act_max)

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "in_type": self.in_type,
                "weight_type": self.weight_type, "acc_type": self.acc_type, "out_type": self.out_type,
                "activation": self.activation, "in_scale": float(self.in_scale), "in_zero_point": self.in_zero_point,
                "out_scale": float(self.out_scale), "out_zero_point": self.out_zero_point,
                "w_scale": [float(v) for v in self.w_scale], "multiplier": [int(v) for v in self.multiplier],
                "shift": [int(v) for v in self.shift], "act_min": self.act_min, "act_max": self.act_max,
                "acc_bound": self.acc_bound, "requantize": fixedpoint.REQUANTIZE_ROUNDING,
                "overflow": "impossible: |bias| + 255*sum|w| <= acc_bound and acc_bound * 2^max(shift,0) < 2^31",
                "weights": [[int(v) for v in row] for row in self.weights], "bias": [int(v) for v in self.bias]}

    @classmethod
    def from_dict(cls, data: dict) -> "FullyConnected":
        return cls(weights=as_ints(data["weights"]).reshape(data["n_out"], data["n_in"]), bias=as_ints(data["bias"]),
                   w_scale=[float(v) for v in data["w_scale"]], in_scale=float(data["in_scale"]),
                   in_zero_point=int(data["in_zero_point"]), out_scale=float(data["out_scale"]),
                   out_zero_point=int(data["out_zero_point"]), multiplier=[int(v) for v in data["multiplier"]],
                   shift=[int(v) for v in data["shift"]], act_min=int(data["act_min"]), act_max=int(data["act_max"]),
                   activation=str(data["activation"]), acc_bound=int(data["acc_bound"]),
                   out_type=check_type(data.get("out_type", "int8")))

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/fully_connected.c.j2 calls (tinygen/c_primitives.py)."""
        return ("ROM", "rd_i8", "rd_i32", "mac_i8_i32", "mbqm")


ACC_OVERFLOW = "an int8 layer's accumulator could overflow int32 (bias or weights too large for its scales); try dtype q15"


def quantize(weights: np.ndarray, bias: np.ndarray, in_scale: float, in_zero_point: int, out_scale: float,
             out_zero_point: int, activation: str, bias_offset: np.ndarray | None = None) -> FullyConnected:
    """TFLM int8 layer for real y = weights @ x_real + bias with x_real = in_scale * (x_q - in_zero_point).
    `weights` may already hold per-feature input scales (first layer: in_scale 1); `bias_offset` (int, per
    channel, in accumulator units) is added to the quantized bias (the first layer's per-feature zero points)."""
    if not np.all(np.isfinite(weights)) or not np.all(np.isfinite(bias)):
        raise TinygenError("the model has non-finite weights or intercepts; refit it on finite data")
    in_scale = float(np.float32(in_scale))
    out_scale = float(np.float32(out_scale))
    max_abs = np.abs(weights).max(axis=1)
    w_scale = np.where(max_abs > 0, (max_abs / 127.0), 1.0).astype(np.float32)
    if np.any(w_scale == 0) or not np.all(np.isfinite(w_scale)):
        raise TinygenError("the model's weights are outside float32's range; refit or rescale the features")
    w_q = np.clip(round_half_away(weights / w_scale.astype(np.float64)[:, None]), -127, 127)
    with np.errstate(over="ignore", divide="ignore"):
        bias_scaled = bias / (in_scale * w_scale.astype(np.float64))
    if not np.all(np.abs(bias_scaled) <= fixedpoint.INT32_MAX):  # checked before rounding: int64 would wrap
        raise TinygenError(ACC_OVERFLOW)
    b_q = round_half_away(bias_scaled)
    if bias_offset is not None:
        b_q = b_q + as_ints(bias_offset)
    folded = b_q - in_zero_point * w_q.sum(axis=1)
    mag = np.abs(w_q).sum(axis=1)
    channel_bound = np.maximum(np.abs(b_q) + 255 * mag, np.abs(folded) + 128 * mag)
    bound = int(np.max(channel_bound, initial=0))
    # a channel whose accumulator is always 0 (zero weights, bias rounded to 0) gets multiplier 0: its real
    # multiplier may be beyond any shift (a bias of 1e-40 makes the output scale subnormal)
    pairs = [quantize_multiplier(in_scale * float(s) / out_scale) if b else (0, 0)
             for s, b in zip(w_scale, channel_bound)]
    left = max((max(s, 0) for _, s in pairs), default=0)
    if (bound << left) > fixedpoint.INT32_MAX:
        raise TinygenError(ACC_OVERFLOW)
    if activation == "relu":
        zero_q = out_zero_point + int(round_half_away(np.float32(0.0) / np.float32(out_scale)))
        act_min = max(INT8_MIN, zero_q)
    elif activation == "none":
        act_min = INT8_MIN
    else:
        raise TinygenError(f"int8 fuses relu or no activation, not {activation!r}")
    return FullyConnected(weights=as_ints(w_q), bias=as_ints(b_q), w_scale=[float(v) for v in w_scale], in_scale=in_scale,
                          in_zero_point=int(in_zero_point), out_scale=out_scale, out_zero_point=int(out_zero_point),
                          multiplier=[m for m, _ in pairs], shift=[s for _, s in pairs], act_min=act_min,
                          act_max=INT8_MAX, activation=activation, acc_bound=bound)
