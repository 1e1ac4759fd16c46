"""tinygen.features.WindowFeatures as the first step of a Pipeline: the float window prefix (issue 16).

A window pipeline's input is N x C samples per row; the float IR is [FloatWindowFeatures, the rest of the
pipeline's ops], and quantize.py turns the prefix into the integer window program. Per-feature scalers after it
fold into the model (dense layers, GaussianNB, and the trees' thresholds), as they do without windows.
"""
from __future__ import annotations

from ..features import WindowFeatures
from ..ops.features.float_window import FloatWindowFeatures


def convert(step: WindowFeatures) -> FloatWindowFeatures:
    return FloatWindowFeatures(window=int(step.window), channels=list(step.channel_names_), specs=step.specs(),
                               sample_rate=step.sample_rate, hop=None if step.hop is None else int(step.hop))


CONVERTERS = {WindowFeatures: convert}
