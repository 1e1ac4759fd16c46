"""The input formats of q15/q7 trees (ops/trees/quantize.py, threshold_frac_bits): per feature the finest f in which
every split threshold T = floor(t * 2**f) lies in [lo, hi - 1], so that saturating an input changes no decision. A
property test over random thresholds and inputs (the integer decision is the float decision on the unsaturated
quantized value; saturated inputs take the float branch of the input itself), the formats' maximality and the
fallbacks (unused features, all-zero thresholds, the integer inputs of window programs), the pruning of decided
splits, and the case that motivated them: an outlier in the calibration rows no longer costs q7 agreement."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier

import tinygen
from tinygen import fixedpoint
from tinygen.fixedpoint import FRAC_BITS_MAX
from tinygen.ops.trees import FloatTrees, Tree, quantize_fixed, threshold_frac_bits
from tinygen.qparams import round_half_away

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BITS = (8, 16)


def stump(feature: int, threshold: float, index: int) -> Tree:
    """One split on `feature`: left leaf 0, right leaf 1 (distinct leaves: nothing prunes it as equal subtrees)."""
    return Tree(feature=np.array([feature, -1, -1]), threshold=np.array([threshold, 0.0, 0.0]),
                left=np.array([1, -1, -1]), right=np.array([2, -1, -1]), missing_left=np.array([True, False, False]),
                value=np.array([[0.0], [0.0], [1.0 + index]]))


def stumps(thresholds, n_in: int = 1, feature: int = 0) -> FloatTrees:
    return FloatTrees(trees=[stump(feature, t, i) for i, t in enumerate(thresholds)], task="regression", n_in=n_in,
                      combine="sum", leaf_kind="values")


def floor_scaled(t: float, f: int) -> int:
    """floor(t * 2**f) in exact rationals."""
    return math.floor(Fraction(t) * Fraction(2) ** f)


# float64 thresholds (scikit-learn's midpoints), of every magnitude a float32 feature has, small ones and integers
thresholds_st = st.lists(st.one_of(st.floats(-1e30, 1e30), st.floats(-1e6, 1e6), st.floats(-2.0 ** -10, 2.0 ** -10),
                                   st.integers(-300, 300).map(float), st.just(0.0)), min_size=1, max_size=8)
inputs_st = st.lists(st.one_of(st.floats(width=32, allow_nan=False), st.floats(-1e7, 1e7, width=32)),
                     min_size=1, max_size=8)


@SETTINGS
@given(thresholds=thresholds_st, bits=st.sampled_from(BITS))
def test_the_format_is_the_finest_that_holds_every_threshold(thresholds, bits):
    lo, hi = fixedpoint.int_range(bits)
    (f,) = threshold_frac_bits(stumps(thresholds), bits, fallback=[3])
    if not any(thresholds):  # every format gives T = 0: the fallback
        assert f == 3
        return
    assert all(lo <= floor_scaled(t, f) <= hi - 1 for t in thresholds)
    assert f == FRAC_BITS_MAX or not all(lo <= floor_scaled(t, f + 1) <= hi - 1 for t in thresholds)


@SETTINGS
@given(thresholds=thresholds_st, x=inputs_st, bits=st.sampled_from(BITS))
def test_saturation_changes_no_decision(thresholds, x, bits):
    """For every split and input: the simulator's branch (quantize_fixed's T against the saturated x_q) is the
    branch of the unsaturated rounding r = round(x 2**f), i.e. the float split on r * 2**-f (exact rationals); and
    where x saturates (r beyond [lo, hi]), the float split's branch on x itself."""
    lo, hi = fixedpoint.int_range(bits)
    trees = stumps(thresholds)
    frac_bits = threshold_frac_bits(trees, bits, fallback=[0])
    op = quantize_fixed(trees, frac_bits, bits)
    assert op.pruned_nodes == 0  # no threshold is beyond the input range: no split is decided
    x32 = np.asarray(x, dtype=np.float32)
    x_q = fixedpoint.to_fixed(x32[:, None], frac_bits, bits)
    reached = op.leaves_reached(x_q)
    for tree, t, leaves in zip(op.trees, thresholds, reached):
        T = int(tree.threshold[0])
        assert T == floor_scaled(t, frac_bits[0]) and lo <= T <= hi - 1
        for value, q, leaf in zip(x32, x_q[:, 0], leaves):
            went_left = bool(leaf == tree.left[0])
            if not np.isfinite(value):  # +-inf saturate: right of every split, left of every split
                assert went_left == (value < 0)
                continue
            r = round_half_away(Fraction(float(value)) * Fraction(2) ** frac_bits[0])
            assert went_left == (q <= T) == (r <= T) == (Fraction(r) / Fraction(2) ** frac_bits[0] <= Fraction(t))
            if not lo <= r <= hi:
                assert went_left == (float(value) <= t)


def test_unused_zero_and_integer_features():
    """A feature no split reads, or whose thresholds are all 0, takes the fallback; integer inputs (max_frac_bits
    0, window programs) take at most 0, and the fallback is capped the same way."""
    trees = FloatTrees(trees=[stump(1, 0.0, 0), stump(2, 0.75, 1), stump(2, -3.0, 2)], task="regression", n_in=4,
                       combine="sum", leaf_kind="values")
    assert threshold_frac_bits(trees, 8, fallback=[5, 6, 7, -2]) == [5, 6, 5, -2]  # 0.75 * 2**5 = 24 ... -3 * 32 = -96
    assert threshold_frac_bits(trees, 8, fallback=[5, 6, 7, -2], max_frac_bits=0) == [0, 0, 0, -2]
    assert threshold_frac_bits(stumps([126.0]), 8, fallback=[0]) == [0]  # 126 = hi - 1 still fits
    assert threshold_frac_bits(stumps([127.0]), 8, fallback=[0]) == [-1]  # 127 would be hi: every x_q went left
    assert threshold_frac_bits(stumps([-128.0]), 8, fallback=[0]) == [0]  # lo itself fits
    assert threshold_frac_bits(stumps([-128.5]), 8, fallback=[0]) == [-1]


def test_constant_splits_and_splits_decided_above_are_still_pruned():
    """Two thresholds that floor to the same integer on one path: the lower split is decided by the one above
    (every x_q reaching it is <= T) and goes; a +-inf threshold (a zero-scale fold) is constant and goes too."""
    chain = Tree(feature=np.array([0, 0, -1, -1, -1]), threshold=np.array([100.3, 100.1, 0, 0, 0]),
                 left=np.array([1, 2, -1, -1, -1]), right=np.array([4, 3, -1, -1, -1]),
                 missing_left=np.array([True] * 5), value=np.array([[0.0], [0.0], [1.0], [2.0], [3.0]]))
    constant = stump(1, np.inf, 5)
    trees = FloatTrees(trees=[chain, constant], task="regression", n_in=2, combine="sum", leaf_kind="values")
    frac_bits = threshold_frac_bits(trees, 8, fallback=[0, 4])
    assert frac_bits == [0, 4]  # 100.3 needs f = 0 in q7; feature 1 has no finite threshold
    op = quantize_fixed(trees, frac_bits, 8)
    assert op.pruned_nodes == 4  # the chain's lower split (2 nodes), the constant split (2 nodes)
    assert list(op.trees[0].threshold[op.trees[0].left >= 0]) == [100] and (op.trees[1].left < 0).all()
    x_q = np.array([[100, 0], [101, 0], [-128, 127], [127, -128]])  # x <= +inf: the constant split's leaf 0
    assert np.array_equal(op.forward(x_q) * op.out_scale, [[1.0], [3.0], [1.0], [3.0]])


@pytest.mark.parametrize("dtype", ["q7", "q15"])
def test_an_outlier_in_the_calibration_costs_no_agreement(dtype):
    """Values on a 1/8 grid in [-4, 4), thresholds on the 1/16 grid between them: every format from f = 4 resolves
    both exactly. One calibration row 10**4 away set q7's format from the calibration range to 2**-8 steps, which
    collapsed every threshold; from the thresholds the program agrees with scikit-learn on every row, and the
    outlier leaves the formats unchanged."""
    rng = np.random.default_rng(0)
    X = rng.integers(-32, 32, size=(400, 4)) / 8.0
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0.3).astype(int) + (X[:, 3] > 1.5)
    forest = RandomForestClassifier(10, max_depth=6, random_state=0).fit(X, y)
    outlier = np.vstack([X, np.full((1, 4), 1e4)])
    model = tinygen.convert(forest, dtype=dtype, calibration=outlier)
    assert model.program.ops[0].frac_bits == tinygen.convert(forest, dtype=dtype, calibration=X).program.ops[0].frac_bits
    assert min(model.program.ops[0].frac_bits) >= 4
    assert (model.predict(X) == forest.predict(X)).all()
    far = np.vstack([X * 1e3, np.full((1, 4), 1e4), np.full((1, 4), -1e4)])  # saturate: still scikit-learn's branches
    assert (model.predict(far) == forest.predict(far)).all()


def test_the_diagnosis_blames_no_saturated_tree_input():
    """Saturating a q7 tree's input changes no branch, and no calibration range would change its formats: the
    diagnosis names no input saturation (only the wider dtype), though every far row saturates."""
    from tinygen.diagnose import diagnose
    from tinygen.frontend import to_float_program

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    forest = RandomForestClassifier(5, max_depth=4, random_state=0).fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
    program = tinygen.convert(forest, dtype="q7", calibration=X).program
    causes = diagnose(to_float_program(forest), program, X * 100)
    assert [cause["op"] for cause in causes] == [None] and "--dtype exact" in causes[0]["fix"]
