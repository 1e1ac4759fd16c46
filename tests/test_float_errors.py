"""numpy set to raise on every float error (`numpy.seterr(all="raise")`, which `import emlearn` sets process-wide).

Outside case (issue 13): `tinygen.convert` of a HistGradientBoostingRegressor under `numpy.seterr(all="raise")`
raised FloatingPointError from `nextafter` (float32_floor of a threshold near 0 makes a subnormal). The host float
math that may overflow or underflow by design (the float32 cast of inputs, float32_floor, the float32
simulators, the host softmax) runs under its own np.errstate, so every family converts, renders its header and
simulates edge rows (NaN, +-inf, +-3e38, subnormals) with numpy raising, and gives what it gives without.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor, IsolationForest,
                              RandomForestClassifier)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import tinygen

from conftest import edge_rows

TREES = {
    "DecisionTreeClassifier": lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    "RandomForestClassifier": lambda: RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0),
    "ExtraTreesRegressor": lambda: ExtraTreesRegressor(n_estimators=5, max_depth=5, random_state=0),
    "GradientBoostingClassifier": lambda: GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0),
    "GradientBoostingRegressor": lambda: GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0),
    "HistGradientBoostingRegressor": lambda: HistGradientBoostingRegressor(max_iter=15, random_state=0),
    "HistGradientBoostingClassifier": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
    "IsolationForest": lambda: IsolationForest(n_estimators=20, random_state=0),
}
OTHERS = {  # name: (estimator, dtypes)
    "LogisticRegression": (lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
                           ("float32", "q15", "q7", "int8")),
    "Ridge": (lambda: Ridge(), ("float32", "q31", "q15", "q7", "int8")),
    "MLPClassifier": (lambda: make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=300,
                                                                            random_state=0)),
                      ("float32", "q15", "q7", "int8")),
    "MLPRegressor": (lambda: make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,), max_iter=300,
                                                                          random_state=0)), ("q15",)),
    "GaussianNB": (lambda: GaussianNB(), ("float32", "q15", "q7")),
}
REGRESSION = {"ExtraTreesRegressor", "GradientBoostingRegressor", "HistGradientBoostingRegressor", "Ridge", "MLPRegressor"}


def _data(name: str):
    X, y = (load_diabetes if name in REGRESSION else load_breast_cancer)(return_X_y=True)
    if name.startswith("Hist"):  # HistGradientBoosting learns where NaN goes
        X = X.copy()
        X[np.random.default_rng(0).random(X.shape) < 0.05] = np.nan
    return X, y


def _fit(name: str, make):
    X, y = _data(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence
        return (make().fit(X) if name == "IsolationForest" else make().fit(X, y)), X


def _edge_rows(X) -> np.ndarray:
    """Rows numpy complains about: NaN, +-inf, +-3e38 (inf in float32), subnormals (0 in float32)."""
    finite = np.nan_to_num(X[:5])
    return np.concatenate([edge_rows(X.shape[1]), finite * 1e300, finite * 1e-300, finite * 1e-40])


def _everything(model, rows) -> list[np.ndarray]:
    out = [model.scores(rows), np.asarray(model.predict(rows))]
    if model.program.probability is not None:
        out.append(model.predict_proba(rows))
    if model.program.anomaly is not None:
        out += [model.score_samples(rows), model.decision_function(rows)]
    model.header("m")
    return out


def _convert_and_run(estimator, X, rows, **kwargs) -> list[np.ndarray]:
    return _everything(tinygen.convert(estimator, calibration=X, **kwargs), rows)


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y, equal_nan=x.dtype.kind == "f") for x, y in zip(a, b))


@pytest.fixture
def numpy_raises():
    old = np.seterr(all="raise")
    yield
    np.seterr(**old)


@pytest.mark.parametrize("name", list(TREES))
def test_BUG_tree_families_convert_under_seterr_raise(name):
    """The outside case itself (HistGradientBoostingRegressor) and every other tree family, each layout
    and bins choice: the same scores, predictions and header text as without seterr."""
    estimator, X = _fit(name, TREES[name])
    rows = _edge_rows(X)
    for layout, bins in (("inline", True), ("table", False), ("auto", None)):
        expected = _convert_and_run(estimator, X, rows, layout=layout, bins=bins)
        old = np.seterr(all="raise")
        try:
            got = _convert_and_run(estimator, X, rows, layout=layout, bins=bins)
        finally:
            np.seterr(**old)
        assert _same(got, expected), (name, layout, bins)


@pytest.mark.parametrize("name", list(OTHERS))
def test_linear_mlp_naive_bayes_under_seterr_raise(name, numpy_raises):
    make, dtypes = OTHERS[name]
    with np.errstate(all="ignore"):
        estimator, X = _fit(name, make)
    rows = _edge_rows(X)
    for dtype in dtypes:
        got = _convert_and_run(estimator, X, rows, dtype=dtype)
        with np.errstate(all="ignore"):
            expected = _convert_and_run(estimator, X, rows, dtype=dtype)
        assert _same(got, expected), (name, dtype)


def test_seterr_is_restored_by_tinygen(numpy_raises):
    """tinygen's own errstate blocks leave the caller's setting as it was."""
    estimator, X = _fit("HistGradientBoostingRegressor", TREES["HistGradientBoostingRegressor"])
    tinygen.convert(estimator).predict(_edge_rows(X))
    assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise", "invalid": "raise"}
