"""GradientBoosting and HistGradientBoosting in exact mode: raw = init + learning_rate * sum of tree values, in
int32 fixed point. The acceptance matrix (predict equal to scikit-learn's on every row of wine, breast_cancer,
digits, diabetes and their NaN variants, plus threshold-edge rows; raw scores within tree_cases.raw_bound; C
equal to the simulator on the host and on avr / cortex-m4 / cortex-m0 / rv32) is test_trees.py::
test_acceptance_rows and test_trees_mcu.py; what is particular to boosting stays here."""
from __future__ import annotations

import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor

import tinygen


def test_custom_init_is_refused():
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True)
    estimator = GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(X, y)
    with pytest.raises(tinygen.TinygenError, match="init"):
        tinygen.convert(estimator)
