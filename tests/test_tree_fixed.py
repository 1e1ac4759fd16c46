"""Trees on pre-quantized input (q15, q7): a split goes left when x_q <= floor(t * 2**frac_bits), which is
exactly the float split on the dequantized input. So the program predicts what scikit-learn predicts on
x_q * 2**-frac_bits, on every row; C equals the simulator on the host and on the Uno."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

import tinygen
from tinygen import fixedpoint
from tinygen.verify import compare_on_target

from conftest import need_tool

CASES = {
    "rf-breast_cancer": (load_breast_cancer, lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0)),
    "tree-wine": (load_wine, lambda: DecisionTreeClassifier(max_depth=6, random_state=0)),
    "gbt-diabetes": (load_diabetes, lambda: GradientBoostingRegressor(n_estimators=30, random_state=0)),
}
BITS = {"q15": 16, "q7": 8}


@functools.lru_cache(maxsize=None)
def fitted(case: str):
    loader, make = CASES[case]
    X, y = loader(return_X_y=True)
    return X, make().fit(X, y)


def dequantized(model, X, dtype):
    """The rows the integer program actually decides on: x_q * 2**-frac_bits (exact in float32)."""
    frac = np.asarray(model.program.ops[0].frac_bits)
    return fixedpoint.to_fixed(np.asarray(X, dtype=np.float32), frac, BITS[dtype]) * 2.0 ** -frac


@pytest.mark.parametrize("dtype", ["q15", "q7"])
@pytest.mark.parametrize("case", list(CASES))
def test_splits_are_exact_for_the_quantized_input(case, dtype):
    need_tool("gcc")
    X, estimator = fitted(case)
    model = tinygen.convert(estimator, dtype=dtype, calibration=X)
    expected = estimator.predict(dequantized(model, X, dtype))
    if case.startswith("gbt"):  # values: leaf rounding and the final float32 product, as in exact mode
        op = model.program.ops[1]
        bound = (len(op.trees) + 1) * 2.0 ** -(op.leaf_frac_bits + 1) + np.abs(expected) * 2.0 ** -23
        assert (np.abs(model.predict(X) - expected) <= bound).all()
    else:
        assert (model.predict(X) == expected).all()
    assert compare_on_target(model, "host", X, "tq")["mismatches"] == 0


def test_q15_forest_agrees_with_scikit_learn_on_the_float_rows():
    X, estimator = fitted("rf-breast_cancer")
    model = tinygen.convert(estimator, dtype="q15", calibration=X)
    assert (model.predict(X) == estimator.predict(X)).mean() >= 0.995


def test_a_narrow_calibration_clips_no_threshold_and_nan():
    """The input formats come from the thresholds, not the calibration range: a calibration 100 times narrower
    than the data (thresholds near -1.5 and 1.5 beyond its +-0.06) decides no split and clips no threshold, and
    the rows it saturates take scikit-learn's branch; NaN converts to 0. (Formats from the calibration range
    clipped those thresholds and replaced their splits by one subtree.)"""
    need_tool("gcc")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.digitize(X[:, 0], [-1.5, 0.0, 1.5])
    estimator = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    model = tinygen.convert(estimator, dtype="q7", calibration=X * 0.01)
    op = model.program.ops[1]
    n_splits = int((estimator.tree_.children_left >= 0).sum())
    assert op.pruned_nodes == 0 and sum(int((t.left >= 0).sum()) for t in op.trees) == n_splits
    assert all(-128 <= t <= 126 for tree in op.trees for t, left in zip(tree.threshold, tree.left) if left >= 0)
    far = np.vstack([X * 1e3, -X * 1e3])  # every one saturates in its split feature
    assert (model.predict(far) == estimator.predict(far)).all()
    rows = np.vstack([X, far, np.full((1, 3), np.nan), np.full((1, 3), np.inf), np.full((1, 3), -np.inf)])
    assert compare_on_target(model, "host", rows, "tq")["mismatches"] == 0
    assert (model.predict(rows) == estimator.predict(np.nan_to_num(dequantized(model, rows, "q7")))).all()


@pytest.mark.parametrize("dtype", ["q15", "q7"])
def test_on_the_uno(dtype):
    for tool in ("avr-gcc", "simavr"):
        need_tool(tool)
    X, estimator = fitted("rf-breast_cancer")
    model = tinygen.convert(estimator, dtype=dtype, calibration=X)
    result = compare_on_target(model, "avr", X[::3], "tq")
    assert result["mismatches"] == 0 and result["ram_bytes"] == 0
