"""The interface of an integer window-feature op: one channel's window of int16 samples in, int32 features out.

The window program (issue 16) is: the samples of every channel converted to int16 (a float sample x becomes
s = to_fixed(x, frac_bits[c]), so x = s * 2^-frac_bits[c]; a raw int16 register value r with a declared scale
and offset becomes s = sat16(r - offset[c]), so x = s * scale[c]); then, channel after channel, each feature op
computes its outputs from that channel's N samples (contiguous int16, copied out of the time-major window or
the stream's ring buffer); then the model. A feature op's output q is an int32 whose real value is
q * scale + bias (out_affine; the bias is how log2 features carry their constant), so the model after it folds
the per-feature scales and biases into its first layer or thresholds, as it folds a StandardScaler.

Which items of the feature list an op computes (tinygen/featurespec.py): one op per kind of computation, so
one pass over the samples serves all its items and one C function serves every channel:
  ops/features/statistics.py   mean, var, std, rms, min, max, ptp, crossings, mad
  ops/features/fft_bands.py    fftK, fftKlog
  ops/features/biquad.py       lp, hp, bp
Each op file holds its integer program (forward: the simulator), its error bound against the float reference
(featurespec.reference on the exactly dequantized samples s * scale), its proven output bounds, its manifest
dict and the C primitives it calls; its template templates/c/features/<op>.c.j2 defines one function
    static inline void NAME_<op>(const int16_t *x, uint8_t channel, int32_t *out)
that writes the op's n_out values for one channel (channel selects the per-channel constants, e.g. a log
floor; N and the rest are compile-time constants of the template). The template prints what Python decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...featurespec import FeatureSpec
from ..types import type_range

INT16 = type_range("int16")
INT32 = type_range("int32")


@dataclass
class FeatureOp:
    """Base of the feature ops. window: N samples per channel; specs: the feature-list items this op computes, in
    list order; sample_scales: per channel, the real value of one int16 sample step."""

    op: ClassVar[str] = "feature"
    window: int
    specs: list[FeatureSpec]
    sample_scales: list[float]

    @property
    def n_channels(self) -> int:
        return len(self.sample_scales)

    def outputs_of(self, spec: FeatureSpec) -> int:
        """How many values one item gives per channel (fftK: K)."""
        return spec.n_out

    @property
    def n_out(self) -> int:
        """Values per channel, the items' outputs in spec order."""
        return sum(self.outputs_of(spec) for spec in self.specs)

    def forward(self, samples: np.ndarray, channel: int) -> np.ndarray:  # pragma: no cover - every op defines it
        """[rows, N] int64 holding int16 values -> [rows, n_out] int64 holding int32 values, as the C computes."""
        raise NotImplementedError

    def out_affine(self, channel: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """(scale, bias), each [n_out] float64: the real value of output k is q * scale[k] + bias[k]."""
        raise NotImplementedError

    def out_bounds(self) -> list[tuple[int, int]]:  # pragma: no cover
        """Per output, the proven [lo, hi] of q over every int16 window (within int32)."""
        raise NotImplementedError

    def error_bounds(self, channel: int) -> np.ndarray:  # pragma: no cover
        """[n_out]: proven max |q * scale + bias - reference(s * sample_scale)| over every int16 window s, in the
        feature's real units (the crossing count: how many crossings a sample at the mean can move)."""
        raise NotImplementedError

    def real(self, q: np.ndarray, channel: int) -> np.ndarray:
        scale, bias = self.out_affine(channel)
        return np.asarray(q, dtype=np.float64) * scale + bias

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives (tinygen/c_primitives.py) and reader macros the template calls."""
        return ()

    def table_bytes(self) -> dict[str, int]:
        """Bytes of each constant table the template emits (flash)."""
        return {}

    def to_dict(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureOp":  # pragma: no cover
        raise NotImplementedError
