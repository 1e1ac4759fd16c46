"""GradientBoosting in exact mode: raw = init + learning_rate * sum of tree values, in int32 fixed point.
predict equals scikit-learn's on every row; the raw scores stay within the stated rounding bound; C equals
the simulator on the host and on MCU instruction sets."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

import tinygen
from tinygen.targets import TARGETS
from tinygen.verify import compare_on_target

from conftest import need_tool

CASES = {"breast_cancer": (load_breast_cancer, GradientBoostingClassifier),
         "wine": (load_wine, GradientBoostingClassifier),
         "diabetes": (load_diabetes, GradientBoostingRegressor)}


@functools.lru_cache(maxsize=None)
def fitted(dataset: str):
    loader, cls = CASES[dataset]
    X, y = loader(return_X_y=True)
    return X, y, cls(n_estimators=40, max_depth=3, random_state=0).fit(X, y)


def raw_bound(model) -> float:
    """|simulated raw score - scikit-learn's|: init and each tree's leaf rounded to 2**-frac (half a step
    each), for the trees of one column."""
    op = model.program.ops[1]
    trees_per_column = len(op.trees) // op.n_out
    return (trees_per_column + 1) * 2.0 ** -(op.leaf_frac_bits + 1)


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_classifier_predict_and_raw_scores(dataset):
    need_tool("gcc")
    X, y, estimator = fitted(dataset)
    model = tinygen.convert(estimator)
    assert model.dtype == "exact"
    assert (model.predict(X) == estimator.predict(X)).all()
    raw = model.scores(X) * model.program.output_scale
    assert np.abs(raw - estimator.decision_function(X).reshape(len(X), -1)).max() <= raw_bound(model)
    assert compare_on_target(model, "host", X, "gbt")["mismatches"] == 0


def test_regressor_value_error_is_bounded():
    need_tool("gcc")
    X, y, estimator = fitted("diabetes")
    model = tinygen.convert(estimator)
    expected = estimator.predict(X)
    # raw rounding, then the float32 product score * 2**-frac (half an ulp of the value)
    bound = raw_bound(model) + np.abs(expected) * 2.0 ** -24 + 1e-30
    assert (np.abs(model.predict(X) - expected) <= bound).all()
    assert compare_on_target(model, "host", X, "gbt")["mismatches"] == 0


@pytest.mark.parametrize("target", ["avr", "cortex-m0", "rv32"])
def test_on_mcu(target):
    for tool in getattr(TARGETS[target], "tools", None) or ("avr-gcc", "simavr"):
        need_tool(tool)
    for dataset in ("breast_cancer", "diabetes"):
        X, y, estimator = fitted(dataset)
        rows = np.vstack([X[::4], np.full((1, X.shape[1]), np.nan), np.zeros((1, X.shape[1]))])
        result = compare_on_target(tinygen.convert(estimator), target, rows, "gbt")
        assert result["mismatches"] == 0, result


def test_custom_init_is_refused():
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True)
    estimator = GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(X, y)
    with pytest.raises(tinygen.TinygenError, match="init"):
        tinygen.convert(estimator)


@functools.lru_cache(maxsize=None)
def hist_fitted(dataset: str):
    """HistGradientBoosting on float32-representable data with 10 % of the values missing."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    loader, cls = CASES[dataset]
    X, y = loader(return_X_y=True)
    X = X.astype(np.float32).astype(np.float64)  # what the C sees: HistGradientBoosting compares float64
    X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    hist = HistGradientBoostingClassifier if cls is GradientBoostingClassifier else HistGradientBoostingRegressor
    return X, y, hist(max_iter=30, random_state=0).fit(X, y)


@pytest.mark.parametrize("dataset", list(CASES))
def test_hist_gradient_boosting_with_missing_values(dataset):
    need_tool("gcc")
    X, y, estimator = hist_fitted(dataset)
    model = tinygen.convert(estimator)
    expected = estimator.predict(X)
    if dataset == "diabetes":
        assert (np.abs(model.predict(X) - expected) <= raw_bound(model) + np.abs(expected) * 2.0 ** -24).all()
    else:
        assert (model.predict(X) == expected).all()
        raw = model.scores(X) * model.program.output_scale
        assert np.abs(raw - estimator.decision_function(X).reshape(len(X), -1)).max() <= raw_bound(model)
    assert compare_on_target(model, "host", X, "hgb")["mismatches"] == 0


def test_hist_gradient_boosting_on_avr():
    for tool in ("avr-gcc", "simavr"):
        need_tool(tool)
    X, y, estimator = hist_fitted("breast_cancer")
    assert compare_on_target(tinygen.convert(estimator), "avr", X[::3], "hgb")["mismatches"] == 0
