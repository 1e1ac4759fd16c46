"""Window features: the grammar of a feature list and the float reference of every feature.

A window is N samples of C channels, flattened time-major (row = [x[0][0], x[0][1], ..., x[0][C-1], x[1][0], ...]).
Features are computed per channel, channel after channel, each channel's features in the order of the list:
[ch0 f0, ch0 f1, ..., ch1 f0, ...]. This module is the float definition that `tinygen.features.WindowFeatures`
trains with and that every integer feature op (tinygen/ops/features/) states its error bound against; it knows
nothing of fixed point.

Grammar (`--features SPEC`, `WindowFeatures(features=...)`): a comma-separated list of items
  mean          the mean                                    var, std   population variance, its square root
  rms           sqrt(mean(x^2))                             min, max, ptp   minimum, maximum, max - min
  crossings     the mean-crossing count: i in 1..N-1 with (x[i-1] >= m) != (x[i] >= m), m the window's mean
  mad           the mean absolute first difference, sum |x[i] - x[i-1]| / (N - 1)
  fftK          K band energies: the power spectrum P[j] = |X[j]|^2 / N^2 of the periodic-Hann-windowed window
                (X = rfft(x w), w[n] = 1/2 - cos(2 pi n / N) / 2), bins j = 1..N/2 (DC left out: `mean` has it)
                cut into K contiguous bands of (N/2)/K bins; a band's energy is the mean of its P[j]. N must be a
                power of two in 16..256 and K must divide N/2.
  fftKlog       log2(energy + eps) of the same bands; `fftKlog:EPS` sets eps (default 2^-20, in the squared
                units of the samples), which keeps silent bands finite
  lp:F, hp:F    the RMS of the window low-/high-passed by a 2nd-order Butterworth filter at F Hz
  bp:F1-F2      the RMS of the window band-passed by a 4th-order Butterworth filter (F1..F2 Hz); the filters start
                from rest at every window (scipy.signal.sosfilt with zero initial state) and need the sample rate
Feature names are CHANNEL_ITEM (acc_x_mean), with the band index for the FFT items (acc_x_fft8_0 .. acc_x_fft8_7,
acc_x_fft8log_0 ..) and the item without its colon otherwise (acc_x_bp0.5-3).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .errors import TinygenError

STATISTICS = ("mean", "var", "std", "rms", "min", "max", "ptp", "crossings", "mad")
FILTERS = ("lp", "hp", "bp")
FFT_SIZES = (16, 32, 64, 128, 256)
DEFAULT_LOG_EPS = 2.0 ** -20
FILTER_ORDER = {"lp": 2, "hp": 2, "bp": 2}  # scipy's N: a band-pass of N = 2 is 4th order (two sections)
GRAMMAR = ("mean, var, std, rms, min, max, ptp, crossings, mad, fftK, fftKlog[:EPS], lp:HZ, hp:HZ, bp:HZ-HZ "
           "(e.g. mean,std,rms,fft8,bp:0.5-3)")
_FFT = re.compile(r"fft(\d+)(log)?(?::(.+))?$")
_FILTER = re.compile(r"(lp|hp|bp):(.+)$")


@dataclass(frozen=True)
class FeatureSpec:
    """One item of a feature list. kind: a statistic, "fft", "fftlog" or a filter ("lp", "hp", "bp");
    bands (fft), eps (fftlog) and cutoffs in Hz (filters)."""

    text: str
    kind: str
    bands: int = 0
    eps: float = DEFAULT_LOG_EPS
    cutoffs: tuple[float, ...] = field(default_factory=tuple)

    @property
    def n_out(self) -> int:
        return self.bands if self.kind in ("fft", "fftlog") else 1

    def names(self, channel: str) -> list[str]:
        if self.kind in ("fft", "fftlog"):
            stem = f"fft{self.bands}" + ("log" if self.kind == "fftlog" else "")
            return [f"{channel}_{stem}_{b}" for b in range(self.bands)]
        return [f"{channel}_{self.text.replace(':', '')}"]


def parse(features, window: int, sample_rate: float | None = None) -> list[FeatureSpec]:
    """The feature list (a comma-separated string or a list of items) checked against the window length and the
    sample rate; a bad item is a TinygenError that names it and shows the grammar."""
    items = [i.strip() for i in (features.split(",") if isinstance(features, str) else features)]
    if not items or any(not i for i in items):
        raise TinygenError(f"empty feature item in {features!r}; the grammar is {GRAMMAR}")
    specs = [_parse_item(item, window, sample_rate) for item in items]
    seen = set()
    for spec in specs:
        if spec.text in seen:
            raise TinygenError(f"feature {spec.text!r} is listed twice")
        seen.add(spec.text)
    return specs


def _parse_item(item: str, window: int, sample_rate: float | None) -> FeatureSpec:
    text = item.lower()
    if text in STATISTICS:
        return FeatureSpec(text, text)
    fft = _FFT.match(text)
    if fft:
        return _parse_fft(text, int(fft.group(1)), fft.group(2) is not None, fft.group(3), window)
    filtered = _FILTER.match(text)
    if filtered:
        return _parse_filter(text, filtered.group(1), filtered.group(2), sample_rate)
    raise TinygenError(f"unknown feature {item!r}; the grammar is {GRAMMAR}")


def _parse_fft(text: str, bands: int, log: bool, eps_text: str | None, window: int) -> FeatureSpec:
    if window not in FFT_SIZES:
        raise TinygenError(f"{text} needs a window of 16, 32, 64, 128 or 256 samples, not {window}")
    if bands < 1 or (window // 2) % bands:
        raise TinygenError(f"{text}: the band count must divide the {window // 2} FFT bins of a {window}-sample window")
    if eps_text is not None and not log:
        raise TinygenError(f"{text}: only fftKlog takes :EPS")
    eps = DEFAULT_LOG_EPS
    if eps_text is not None:
        try:
            eps = float(eps_text)
        except ValueError:
            raise TinygenError(f"{text}: EPS must be a number, e.g. fft8log:1e-6") from None
        if not (math.isfinite(eps) and eps > 0):
            raise TinygenError(f"{text}: EPS must be a positive number")
    return FeatureSpec(text, "fftlog" if log else "fft", bands=bands, eps=eps)


def _parse_filter(text: str, kind: str, edges: str, sample_rate: float | None) -> FeatureSpec:
    cutoffs = _band_edges(edges) if kind == "bp" else _numbers([edges])
    if len(cutoffs) != (2 if kind == "bp" else 1) or not all(math.isfinite(c) and c > 0 for c in cutoffs):
        example = "bp:0.5-3" if kind == "bp" else f"{kind}:5"
        raise TinygenError(f"{text}: give the cutoff in Hz, e.g. {example}")
    if sample_rate is None:
        raise TinygenError(f"{text} gives its cutoff in Hz: give the sample rate (--sample-rate HZ)")
    if kind == "bp" and not cutoffs[0] < cutoffs[1]:
        raise TinygenError(f"{text}: the lower edge must come first")
    if max(cutoffs) >= sample_rate / 2:
        raise TinygenError(f"{text}: cutoffs must be below the Nyquist frequency, {sample_rate / 2:g} Hz")
    return FeatureSpec(text, kind, cutoffs=cutoffs)


def _numbers(texts: list[str]) -> tuple[float, ...]:
    """The texts as floats, or () if one is not a number."""
    try:
        return tuple(float(text) for text in texts)
    except ValueError:
        return ()


def _band_edges(edges: str) -> tuple[float, ...]:
    """LO-HI, where either may be written with an exponent (1e-05-2e-05): the one dash that splits it into two
    numbers, or ()."""
    splits = [_numbers([edges[:i], edges[i + 1:]]) for i, c in enumerate(edges) if c == "-" and 0 < i < len(edges) - 1]
    return next((pair for pair in splits if pair), ())


# ---- the float reference ---------------------------------------------------------------------------------
def hann(window: int) -> np.ndarray:
    """The periodic Hann window, w[n] = 1/2 - cos(2 pi n / N) / 2."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)


def band_energies(x: np.ndarray, bands: int) -> np.ndarray:
    """[rows, bands]: the mean of P[j] = |X[j]|^2 / N^2 over each band of bins 1..N/2 (module doc)."""
    n = x.shape[1]
    spectrum = np.fft.rfft(x * hann(n), axis=1)[:, 1:n // 2 + 1]
    power = (spectrum.real ** 2 + spectrum.imag ** 2) / float(n * n)
    return power.reshape(len(x), bands, -1).mean(axis=2)


def filter_sos(spec: FeatureSpec, sample_rate: float) -> np.ndarray:
    """The Butterworth second-order sections of a filter item (scipy.signal.butter, output="sos")."""
    from scipy.signal import butter

    btype = {"lp": "lowpass", "hp": "highpass", "bp": "bandpass"}[spec.kind]
    edges = spec.cutoffs if spec.kind == "bp" else spec.cutoffs[0]
    return butter(FILTER_ORDER[spec.kind], edges, btype=btype, fs=sample_rate, output="sos")


def reference(spec: FeatureSpec, x: np.ndarray, sample_rate: float | None = None) -> np.ndarray:
    """[rows, spec.n_out] float64: the feature of one channel's windows x ([rows, N] real sample values)."""
    x = np.asarray(x, dtype=np.float64)
    kind = spec.kind
    if kind in ("fft", "fftlog"):
        energy = band_energies(x, spec.bands)
        return energy if kind == "fft" else np.log2(energy + spec.eps)
    if kind in FILTERS:
        from scipy.signal import sosfilt

        filtered = sosfilt(filter_sos(spec, sample_rate), x, axis=1)
        return np.sqrt(np.mean(filtered * filtered, axis=1))[:, None]
    return _statistic(kind, x)[:, None]


def _statistic(kind: str, x: np.ndarray) -> np.ndarray:
    if kind == "mean":
        return x.mean(axis=1)
    if kind in ("var", "std"):
        var = x.var(axis=1)
        return var if kind == "var" else np.sqrt(var)
    if kind == "rms":
        return np.sqrt(np.mean(x * x, axis=1))
    if kind in ("min", "max", "ptp"):
        return {"min": x.min(axis=1), "max": x.max(axis=1), "ptp": np.ptp(x, axis=1)}[kind]
    if kind == "crossings":
        above = x >= x.mean(axis=1, keepdims=True)
        return (above[:, 1:] != above[:, :-1]).sum(axis=1).astype(np.float64)
    if kind == "mad":
        return np.abs(np.diff(x, axis=1)).mean(axis=1)
    raise TinygenError(f"unknown statistic {kind!r}")


def window_features(X: np.ndarray, window: int, channels: int, specs: list[FeatureSpec],
                    sample_rate: float | None = None) -> np.ndarray:
    """[rows, channels * sum(n_out)] float64 features of flattened time-major windows X [rows, window * channels]."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != window * channels:
        raise TinygenError(f"windows must be rows of {window} x {channels} = {window * channels} values (time-major), "
                           f"got {X.shape[1] if X.ndim == 2 else X.shape}")
    frames = X.reshape(len(X), window, channels)
    columns = [reference(spec, frames[:, :, c], sample_rate) for c in range(channels) for spec in specs]
    return np.concatenate(columns, axis=1) if columns else np.zeros((len(X), 0))


def feature_names(channel_names: list[str], specs: list[FeatureSpec]) -> list[str]:
    return [name for channel in channel_names for spec in specs for name in spec.names(channel)]
