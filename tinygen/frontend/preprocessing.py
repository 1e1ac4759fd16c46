"""Scalers and PCA in front of a model: each is an affine map x -> A x + b, emitted as a FloatDense that
the fold pass merges into the model's dense, so no float pre-processing is left in the C."""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from ..errors import TinygenError
from ..ops.dense import FloatDense


def _diagonal(scale, offset) -> FloatDense:
    """x -> x * scale + offset, elementwise."""
    scale = np.asarray(scale, dtype=np.float64)
    return FloatDense(weights=np.diag(scale), bias=np.asarray(offset, dtype=np.float64) * np.ones_like(scale))


def _ones(n):
    return np.ones(n, dtype=np.float64)


def standard(s: StandardScaler) -> FloatDense:
    n = s.n_features_in_
    inv = 1.0 / s.scale_ if s.scale_ is not None else _ones(n)
    mean = s.mean_ if s.mean_ is not None and s.with_mean else np.zeros(n)
    return _diagonal(inv, -mean * inv)


def minmax(s: MinMaxScaler) -> FloatDense:
    if s.clip:
        raise TinygenError("MinMaxScaler(clip=True) is not an affine map and cannot be folded; refit it with clip=False")
    return _diagonal(s.scale_, s.min_)


def maxabs(s: MaxAbsScaler) -> FloatDense:
    return _diagonal(1.0 / s.scale_, np.zeros(s.n_features_in_))


def robust(s: RobustScaler) -> FloatDense:
    n = s.n_features_in_
    inv = 1.0 / s.scale_ if s.scale_ is not None else _ones(n)
    center = s.center_ if s.center_ is not None else np.zeros(n)
    return _diagonal(inv, -center * inv)


def pca(p: PCA) -> FloatDense:
    components = np.asarray(p.components_, dtype=np.float64)
    if p.whiten:
        components = components / np.sqrt(p.explained_variance_)[:, None]
    return FloatDense(weights=components, bias=-(components @ p.mean_))


CONVERTERS = {StandardScaler: standard, MinMaxScaler: minmax, MaxAbsScaler: maxabs, RobustScaler: robust, PCA: pca}
