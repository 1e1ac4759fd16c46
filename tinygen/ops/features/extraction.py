"""window_features: the feature ops over every channel of a window, in the feature list's order (issue 16).

Input: the window's int16 samples r, time-major (r[t * C + c]; what window_input writes, or the caller's raw
register values for NAME_predict_window_q), read from a ring of N frames starting at frame `start` (0 for a
plain window; the stream's oldest frame for NAME_predict_latest). Each channel is copied out in time order as
s[t] = sat16(r - offsets[c]) (offsets: the declared raw zeros, usually none), and every feature op
(ops/features/base.py) computes its values from those N samples. Output: int32 features, channel after
channel, each channel's in the order of the feature list (tinygen/featurespec.py) — the order
tinygen.features.WindowFeatures gives the float features in. An op whose items are not contiguous in the list
writes through a position table; the rest write in place.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...featurespec import FeatureSpec, parse
from ..base import Op, QFormat
from ..counts import Features
from . import registry
from .base import INT16, FeatureOp


@dataclass
class FeatureExtraction(Op):
    op = "window_features"
    window: int
    n_channels: int
    specs: list[FeatureSpec]
    feature_ops: list[FeatureOp]
    offsets: list[int] | None = None  # per channel, subtracted while copying a channel out
    sample_rate: float | None = None
    hop: int | None = None  # the stream's step between windows (NAME_HOP; None: the window length)
    out_type: str = "int32"
    streams = True  # emit: the header gets the window and stream API, which read a ring through NAME_..._from

    @property
    def n_in(self) -> int:
        return self.window * self.n_channels

    @property
    def per_channel(self) -> int:
        return sum(spec.n_out for spec in self.specs)

    @property
    def n_out(self) -> int:
        return self.per_channel * self.n_channels

    @property
    def has_offsets(self) -> bool:
        return self.offsets is not None and any(self.offsets)

    def positions(self) -> list[list[int]]:
        """Per feature op, where each of its per-channel outputs goes among the channel's features."""
        starts, at = {}, 0
        for spec in self.specs:
            starts[spec.text] = at
            at += spec.n_out
        return [[starts[spec.text] + k for spec in op.specs for k in range(spec.n_out)] for op in self.feature_ops]

    def placements(self) -> list[dict]:
        """For the template: per op, its C function, output count, and either a base (contiguous outputs) or
        a position table."""
        placed = []
        for op, where in zip(self.feature_ops, self.positions()):
            contiguous = where == list(range(where[0], where[0] + len(where)))
            placed.append({"op": op, "n_out": len(where), "base": where[0] if contiguous else None, "positions": where})
        return placed

    @property
    def scratch_outputs(self) -> int:
        """The int32 buffer an op with a position table writes into first (0: none needed)."""
        return max([p["n_out"] for p in self.placements() if p["base"] is None], default=0)

    def channel_samples(self, r: np.ndarray, channel: int) -> np.ndarray:
        samples = np.asarray(r, dtype=np.int64).reshape(len(r), self.window, self.n_channels)[:, :, channel]
        if self.has_offsets:
            samples = np.clip(samples - int(self.offsets[channel]), *INT16)
        return samples

    def gather(self, values_of, rows: tuple = (), dtype=np.float64) -> np.ndarray:
        """[*rows, n_out]: values_of(op, channel) ([*rows, op's n_out] per op and channel) placed at the features'
        positions, channel after channel in the feature list's order."""
        out = np.zeros((*rows, self.n_out), dtype=dtype)
        positions = self.positions()
        for c in range(self.n_channels):
            for op, where in zip(self.feature_ops, positions):
                out[..., c * self.per_channel + np.asarray(where)] = values_of(op, c)
        return out

    def forward(self, r: np.ndarray) -> np.ndarray:
        samples = [self.channel_samples(r, c) for c in range(self.n_channels)]
        return self.gather(lambda op, c: op.forward(samples[c], c), (len(r),), np.int64)

    def out_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, bias) per feature: real = q * scale + bias."""
        return self.gather(lambda op, c: op.out_affine(c)[0]), self.gather(lambda op, c: op.out_affine(c)[1])

    def error_bounds(self) -> np.ndarray:
        return self.gather(lambda op, c: op.error_bounds(c))

    def out_bounds(self) -> tuple[int, int]:
        per_output = [b for op in self.feature_ops for b in op.out_bounds()]
        return min(lo for lo, _ in per_output), max(hi for _, hi in per_output)

    def out_format(self) -> QFormat:
        scale, bias = self.out_affine()
        low, high = self.out_bounds()
        return QFormat("int32", scale_value=tuple(float(s) for s in scale), offset=tuple(float(b) for b in bias),
                       rounding="floor", q_min=low, q_max=high)

    def table_bytes(self) -> dict[str, int]:
        sizes = {f"{op.op}/{name}": size for op in self.feature_ops for name, size in op.table_bytes().items()}
        tables = sum(p["n_out"] for p in self.placements() if p["base"] is None)
        if tables:
            sizes["positions"] = tables
        if self.has_offsets:
            sizes["offsets"] = 2 * self.n_channels
        return sizes

    def c_helpers(self) -> tuple[str, ...]:
        own = ("ROM", "rd_u8") if any(p["base"] is None for p in self.placements()) else ()
        offsets = ("ROM", "rd_i16") if self.has_offsets else ()
        return ("st_pair", *own, *offsets, *(h for op in self.feature_ops for h in op.c_helpers()))

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        counts.add_cycles(f"{group}:samples", np.full(len(values), self.n_in))
        for op in self.feature_ops:
            counts.add_cycles(f"{group}:{op.op}", np.full(len(values), self.window * self.n_channels))

    @property
    def buffer_bytes(self) -> int:
        return 4 * self.n_out

    def to_dict(self) -> dict:
        data = {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "window": int(self.window),
                "channels": int(self.n_channels), "features": [spec.text for spec in self.specs],
                "sample_rate": self.sample_rate, "hop": int(self.hop or self.window), "feature_ops": [op.to_dict() for op in self.feature_ops]}
        if self.has_offsets:
            data["offsets"] = [int(o) for o in self.offsets]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureExtraction":
        window, sample_rate = int(data["window"]), data.get("sample_rate")
        specs = parse(list(data["features"]), window, sample_rate)
        feature_ops = [registry.op_from_dict(d) for d in data["feature_ops"]]
        offsets = data.get("offsets")
        op = cls(window=window, n_channels=int(data["channels"]), specs=specs, feature_ops=feature_ops,
                 offsets=None if offsets is None else [int(o) for o in offsets], sample_rate=sample_rate,
                 hop=int(data.get("hop") or window))
        covered = sorted(p for where in op.positions() for p in where)
        if covered != list(range(op.per_channel)):
            raise ValueError("window_features: the feature ops do not compute the feature list")
        return op
