"""WindowFeatures: the scikit-learn transformer that turns flattened sensor windows into window features.

A row is one window of ``window`` samples of ``channels`` channels, flattened time-major:
[x[0][0], x[0][1], ..., x[0][C-1], x[1][0], ...] (what :func:`tinygen.windows.load_windows` cuts from a raw CSV).
``transform`` is :func:`tinygen.featurespec.window_features`, the float reference that every integer feature op
states its error bound against; the features come channel after channel, each channel's in the order of the list,
named CHANNEL_ITEM (:func:`tinygen.featurespec.feature_names`). So that

    Pipeline([("features", WindowFeatures(64, ["acc_x", "acc_y", "acc_z"], "mean,std,fft8")),
              ("scale", StandardScaler()), ("model", RandomForestClassifier())]).fit(windows, y)

trains on raw windows. NaN and infinite samples are not checked: the float math of featurespec propagates them.
A NaN sample makes every feature of its channel NaN but ``crossings``, which counts 0 (every comparison with
the NaN mean is false); a +-inf sample makes mean, rms, max/min, ptp, mad and the FFT items +-inf or their
magnitude inf and var, std and the filter items NaN. The next step decides what happens then: StandardScaler
passes NaN on, the tree models route NaN as a missing value, and LogisticRegression or an MLP refuse it.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import featurespec
from .errors import TinygenError

# The features a WindowFeatures (and `tinygen train --window`) computes when none are given: the statistics a
# hand port usually starts with; every one is defined for any window length (the FFT items need 16..256).
DEFAULT_FEATURES = "mean,std,min,max,rms,crossings"


class WindowError(TinygenError, ValueError):
    """A bad WindowFeatures parameter or input: a TinygenError (one line at the CLI) and a ValueError (what
    scikit-learn's tools expect of an estimator given bad parameters)."""


def channel_names(channels) -> list[str]:
    """The names of ``channels``: an int C -> ch0..ch{C-1}; a list of names -> those names, checked."""
    if isinstance(channels, numbers.Integral) and not isinstance(channels, bool):
        if channels < 1:
            raise WindowError(f"channels must be at least 1, not {channels}")
        return [f"ch{c}" for c in range(int(channels))]
    if isinstance(channels, str) or not hasattr(channels, "__iter__"):
        raise WindowError(f"channels must be a count or a list of channel names, not {channels!r}")
    names = [str(name) for name in channels]
    if not names or any(not name.strip() for name in names):
        raise WindowError(f"channels must name at least one channel, each with a non-empty name: {names!r}")
    if len(set(names)) != len(names):
        raise WindowError(f"channel names must differ: {names!r}")
    return names


class WindowFeatures(TransformerMixin, BaseEstimator):
    """Window features of flattened time-major windows (module doc).

    window       samples per window (at least 2; the FFT items need a power of two in 16..256)
    channels     the channel count (named ch0, ch1, ...) or the list of channel names
    features     the feature list: a comma-separated string or a list of items (featurespec's grammar)
    sample_rate  samples per second; needed by the filter items (lp:HZ, hp:HZ, bp:HZ-HZ), which give Hz
    hop          the samples between the starts of two windows the model was trained on (None: the window,
                 no overlap); transform does not use it: it is what the exported streaming API steps by
    """

    def __init__(self, window=64, channels=1, features=DEFAULT_FEATURES, sample_rate=None, hop=None):
        self.window = window
        self.channels = channels
        self.features = features
        self.sample_rate = sample_rate
        self.hop = hop

    def specs(self) -> list[featurespec.FeatureSpec]:
        """The parsed feature list, the parameters checked (a WindowError names the bad one)."""
        window = self.window
        if not isinstance(window, numbers.Integral) or isinstance(window, bool) or window < 2:
            raise WindowError(f"window must be a whole number of samples, at least 2, not {window!r}")
        if self.hop is not None and (not isinstance(self.hop, numbers.Integral) or isinstance(self.hop, bool)
                                     or self.hop < 1):
            raise WindowError(f"hop must be a whole number of samples, at least 1, or None, not {self.hop!r}")
        rate = self.sample_rate
        if rate is not None and (not isinstance(rate, numbers.Real) or not math.isfinite(rate) or rate <= 0):
            raise WindowError(f"sample_rate must be a positive number of samples per second, not {rate!r}")
        channel_names(self.channels)
        try:
            return featurespec.parse(self.features, int(window), rate)
        except TinygenError as exc:
            raise WindowError(str(exc)) from None

    def fit(self, X, y=None):
        """Check the parameters and that each row holds window x channels values; record the names."""
        specs = self.specs()
        names = channel_names(self.channels)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=True)
        self._check_row_length(X.shape[1], names)
        self.channel_names_ = names
        self.n_features_out_ = len(names) * sum(spec.n_out for spec in specs)
        self.feature_names_out_ = np.asarray(featurespec.feature_names(names, specs), dtype=object)
        return self

    def _check_row_length(self, n_values: int, names: list[str]) -> None:
        expected = int(self.window) * len(names)
        if n_values != expected:
            raise WindowError(f"each row must hold one window of {self.window} samples x {len(names)} channels = "
                              f"{expected} values (time-major), but the rows hold {n_values}")

    def transform(self, X):
        """[rows, features] float64: featurespec.window_features of each row."""
        check_is_fitted(self, "feature_names_out_")
        if np.ndim(X) == 2:  # a clearer message than validate_data's "X has N features"
            self._check_row_length(np.shape(X)[1], self.channel_names_)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        return featurespec.window_features(X, int(self.window), len(self.channel_names_), self.specs(),
                                           self.sample_rate)

    def get_feature_names_out(self, input_features=None):
        """The output names, CHANNEL_ITEM (acc_x_mean, acc_x_fft8_0, ...); input_features, if given, must have one
        name per input value."""
        check_is_fitted(self, "feature_names_out_")
        if input_features is not None and len(input_features) != self.n_features_in_:
            raise WindowError(f"input_features has {len(input_features)} names, but the windows hold "
                              f"{self.n_features_in_} values")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # propagated (module doc)
        return tags
