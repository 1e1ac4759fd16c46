"""The float window features (tinygen.features.WindowFeatures in the float IR) and their quantization into the
integer prefix of a window program: window_input, window_features, feature_input (issue 16).

A float window program is [FloatWindowFeatures, the model's float ops...]: its input is N x C samples per row,
time-major, and FloatWindowFeatures.forward is the float reference (tinygen/featurespec.py). quantize.py
calls `quantize_prefix` on the calibration windows: it chooses the sample formats, builds the integer feature
ops, and returns them with the integer features of the calibration windows and each feature's real scale and
bias; the model is then quantized as a model of those integer features, with the scales and biases folded
into it (`affine_op`), and its input conversion becomes feature_input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...featurespec import FeatureSpec, feature_names, window_features
from ..base import FloatOp
from ..dense import FloatDense
from .extraction import FeatureExtraction
from .registry import build_ops
from .window_input import WindowInput


@dataclass
class FloatWindowFeatures(FloatOp):
    window: int
    channels: list[str]
    specs: list[FeatureSpec]
    sample_rate: float | None = None
    hop: int | None = None
    raw_scales: list[float] | None = None  # declared per channel: a raw register step's real value
    raw_offsets: list[int] | None = None  # declared per channel: the raw register value that means 0
    is_prefix = True  # quantize.py: the ops before the model's input conversion

    @property
    def n_in(self) -> int:
        return self.window * len(self.channels)

    @property
    def n_out(self) -> int:
        return len(self.channels) * sum(spec.n_out for spec in self.specs)

    def feature_names(self) -> list[str]:
        return feature_names(self.channels, self.specs)

    def sample_names(self) -> list[str]:
        """The program's input names: channel[t], time-major."""
        return [f"{channel}[{t}]" for t in range(self.window) for channel in self.channels]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return window_features(x, self.window, len(self.channels), self.specs, self.sample_rate)

    def quantize_prefix(self, windows: np.ndarray) -> tuple[list, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """([window_input, window_features], the calibration windows' integer features [rows, n_out] int64,
        (scale, bias) per feature: real = q * scale + bias)."""
        conversion = WindowInput.from_calibration(windows, self.window, self.channels)
        conversion.offsets = None if self.raw_offsets is None else [int(o) for o in self.raw_offsets]
        if self.raw_scales is not None:  # the device's registers decide the format, not the calibration
            conversion.scales = [float(np.float32(v)) for v in self.raw_scales]
        scales = conversion.sample_scales()
        extraction = FeatureExtraction(window=self.window, n_channels=len(self.channels), specs=list(self.specs),
                                       feature_ops=build_ops(self.specs, self.window, scales, self.sample_rate),
                                       offsets=conversion.offsets, sample_rate=self.sample_rate,
                                       hop=self.hop or self.window)
        features = extraction.forward(conversion.forward(np.asarray(windows, dtype=np.float32)))
        return [conversion, extraction], features, extraction.out_affine()

    @staticmethod
    def affine_op(scale: np.ndarray, bias: np.ndarray) -> FloatDense:
        """The float op that turns integer features into real ones, x = q * scale + bias: the model folds it."""
        return FloatDense(weights=np.diag(np.asarray(scale, dtype=np.float64)), bias=np.asarray(bias, dtype=np.float64))
