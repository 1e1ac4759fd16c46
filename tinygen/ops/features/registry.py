"""Which feature op computes which items of a feature list, and the manifest names of the feature ops.

Items of one family share an op (one pass over the samples, one C function for every channel): the statistics,
the FFT bands, the filters. Each family's class has `build(window, specs, sample_scales, sample_rate)` and
`from_dict`; this module only groups items and looks classes up.
"""
from __future__ import annotations

import importlib

from ...errors import TinygenError
from ...featurespec import FILTERS, STATISTICS, FeatureSpec

# family -> (module in tinygen/ops/features, class); the order families appear in is the order of the ops
FAMILIES = {"statistics": ("statistics", "WindowStatistics"), "fft": ("fft_bands", "FftBands"),
            "filter": ("biquad", "BiquadRms")}


def family_of(spec: FeatureSpec) -> str:
    if spec.kind in STATISTICS:
        return "statistics"
    if spec.kind in ("fft", "fftlog"):
        return "fft"
    if spec.kind in FILTERS:
        return "filter"
    raise TinygenError(f"no feature op computes {spec.text!r}")


def op_class(family: str):
    module, name = FAMILIES[family]
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def build_ops(specs: list[FeatureSpec], window: int, sample_scales: list[float], sample_rate: float | None) -> list:
    """The feature ops that compute `specs` for channels with these sample scales, one per family."""
    families: dict[str, list[FeatureSpec]] = {}
    for spec in specs:
        families.setdefault(family_of(spec), []).append(spec)
    return [op_class(family).build(window, members, sample_scales, sample_rate) for family, members in families.items()]


def op_from_dict(data: dict):
    by_name = {op_class(family).op: family for family in FAMILIES}
    if data.get("op") not in by_name:
        raise ValueError(f"unknown feature op {data.get('op')!r}")
    return op_class(by_name[data["op"]]).from_dict(data)
