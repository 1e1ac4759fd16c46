"""window_input: the float -> int16 conversion of a window's samples, one format per channel (issue 16).

Input: N x C float32 samples, time-major (x[t * C + c]). Output: the int16 samples r the window program runs on,
r[t * C + c] = sat16(to_fixed(x, frac_bits[c]) + offsets[c]) (to_fixed: round half away from zero, NaN -> 0,
+-inf saturate): real sample = (r - offsets[c]) * 2^-frac_bits[c]. offsets are the raw zero of a channel whose
int16 register values the device feeds to NAME_predict_window_q / NAME_push (declared at export, e.g. 512 for a
10-bit ADC centred at mid-scale); 0 otherwise, and then r is to_fixed itself. A NaN sample becomes the offset
(real 0). Frac bits come from the calibration windows (the channel's largest |sample| with one bit of headroom,
as quantize_input chooses them).
Declared scales (a register's real step, e.g. 1/131 deg/s for a gyroscope): real = (r - offsets[c]) * scales[c],
and the float path is r = affine_quantize(x, scales[c], offsets[c], -32768, 32767) (x / scale in float32, round
half away from zero, + offset, saturated; NaN -> the offset), for every channel (a power-of-two scale divides
exactly, so it gives what to_fixed gives).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import fixedpoint
from ...qparams import frac_bits_for
from ..base import Op, QFormat
from ..counts import Features
from ..quantize_input import QuantizeInput, to_fixed_counts
from .base import INT16


@dataclass
class WindowInput(Op):
    op = "window_input"
    converts_input = True
    window: int
    channels: list[str]
    frac_bits: list[int]  # per channel
    offsets: list[int] | None = None  # per channel: the int16 value that means 0 (None: all 0)
    scales: list[float] | None = None  # per channel, declared: the real value of one step of r (the affine path)
    out_type: str = "int16"

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def n_in(self) -> int:
        return self.window * self.n_channels

    @property
    def n_out(self) -> int:
        return self.n_in

    @property
    def has_offsets(self) -> bool:
        return self.offsets is not None and any(self.offsets)

    def channel_offsets(self) -> np.ndarray:
        return np.asarray(self.offsets if self.offsets is not None else [0] * self.n_channels, dtype=np.int64)

    def sample_scales(self) -> list[float]:
        """Per channel, the real value of one step of r."""
        if self.scales is not None:
            return [float(v) for v in self.scales]
        return [2.0 ** -int(f) for f in self.frac_bits]

    def real_ranges(self) -> list[tuple[float, float]]:
        """Per channel, the real samples the int16 values hold: (-32768 - offset) * scale .. (32767 - offset) * scale."""
        return [((INT16[0] - int(offset)) * scale, (INT16[1] - int(offset)) * scale)
                for scale, offset in zip(self.sample_scales(), self.channel_offsets())]

    @classmethod
    def from_calibration(cls, windows: np.ndarray, window: int, channels: list[str]) -> "WindowInput":
        frames = np.asarray(windows, dtype=np.float64).reshape(len(windows), window, len(channels))
        finite = np.where(np.isfinite(frames), np.abs(frames), 0.0)
        peaks = finite.max(axis=(0, 1)) if len(frames) else np.zeros(len(channels))
        return cls(window=window, channels=list(channels), frac_bits=[frac_bits_for(QuantizeInput.HEADROOM * float(p), 16) for p in peaks])

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(len(x), self.window, self.n_channels)
        frac = np.asarray(self.frac_bits, dtype=np.int64)
        if self.scales is not None:
            scales = np.asarray(self.scales, dtype=np.float32)
            return fixedpoint.affine_quantize(x, scales, self.channel_offsets(), *INT16).reshape(len(x), -1)
        if not self.has_offsets:
            return fixedpoint.to_fixed(x, frac, 16).reshape(len(x), -1)
        wide = fixedpoint.to_fixed(x, frac, 31) + self.channel_offsets()  # the C: into [-2^30, 2^30 - 1], then + offset
        wide = np.where(np.isnan(x), self.channel_offsets(), wide)
        return np.clip(wide, *INT16).reshape(len(x), -1)

    def out_format(self) -> QFormat:
        zero = tuple(int(o) for _ in range(self.window) for o in self.channel_offsets())
        if self.scales is not None:
            scales = tuple(float(v) for _ in range(self.window) for v in self.scales)
            return QFormat("int16", scale_value=scales, zero_point=zero, rounding="half_away", saturate=True)
        frac = tuple(int(f) for _ in range(self.window) for f in self.frac_bits)
        return QFormat("int16", frac, zero_point=zero, rounding="half_away", saturate=True)

    def in_formats(self) -> list[QFormat]:
        return self.out_format().channels(self.n_in)

    def table_bytes(self) -> dict[str, int]:
        sizes = {"scales": 4 * self.n_channels} if self.scales is not None else {"frac_bits": self.n_channels}
        if self.has_offsets:
            sizes["offsets"] = 2 * self.n_channels
        return sizes

    def cost_group(self) -> str:
        return "window_input/" + ("affine" if self.scales is not None else "offsets" if self.has_offsets else "int16")

    @property
    def is_float(self) -> bool:
        return self.scales is not None  # a float32 division per sample

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        counts.input_group = group
        frac = np.tile(np.asarray(self.frac_bits), self.window)
        for name, per_row in to_fixed_counts(values, frac, 32 if self.has_offsets else 16).items():
            counts.add_cycles(f"{group}:{name}", per_row)

    def c_helpers(self) -> tuple[str, ...]:
        if self.scales is not None:
            return ("ROM", "rd_f32", "rd_i16", "affine_quantize")
        if self.has_offsets:
            return ("ROM", "rd_i8", "rd_i16", "to_fixed")
        return ("ROM", "rd_i8", "to_fixed_i16")

    def to_dict(self) -> dict:
        data = {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "window": int(self.window),
                "channels": list(self.channels), "frac_bits": [int(f) for f in self.frac_bits],
                "rounding": fixedpoint.INPUT_ROUNDING, "nan_to": "offset", "saturate": True}
        if self.has_offsets:
            data["offsets"] = [int(o) for o in self.offsets]
        if self.scales is not None:
            data["scales"] = [float(v) for v in self.scales]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "WindowInput":
        channels = [str(c) for c in data["channels"]]
        frac_bits = [int(f) for f in data["frac_bits"]]
        offsets = data.get("offsets")
        if len(frac_bits) != len(channels) or (offsets is not None and len(offsets) != len(channels)):
            raise ValueError("window_input: one frac_bits and offset per channel")
        if offsets is not None and any(not INT16[0] <= int(o) <= INT16[1] for o in offsets):
            raise ValueError("window_input offsets are int16")
        if any(not fixedpoint.FRAC_BITS_MIN <= f <= fixedpoint.FRAC_BITS_MAX for f in frac_bits):
            raise ValueError("window_input frac_bits out of range")
        scales = data.get("scales")
        if scales is not None and (len(scales) != len(channels) or not all(np.isfinite(v) and v > 0 for v in scales)):
            raise ValueError("window_input scales: one positive number per channel")
        return cls(window=int(data["window"]), channels=channels, frac_bits=frac_bits,
                   offsets=None if offsets is None else [int(o) for o in offsets],
                   scales=None if scales is None else [float(np.float32(v)) for v in scales])
