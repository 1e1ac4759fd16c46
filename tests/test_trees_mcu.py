"""Issue 4's acceptance matrix on emulated microcontrollers: every tree estimator in dtype `exact` (DecisionTree,
RandomForest, ExtraTrees, GradientBoosting: classifier and regressor; HistGradientBoosting trained with
missing values: classifier and regressor; IsolationForest) on avr (simavr), cortex-m4, cortex-m0 and rv32
(qemu). Per case, a subsample of real rows plus threshold-edge rows (NaN payloads, +-inf, +-0.0, the float32
values around each threshold): C on the emulator == simulator (scores and prediction, 0 mismatches), and
simulator == scikit-learn on those same rows (tree_cases.check_rows, the oracle of tree_cases.py). The host
half over the full data sets and >= 10,000 edge rows is test_trees.py::test_acceptance_rows.

Data sets: classifiers on breast_cancer / wine / digits, regressors on diabetes, HistGradientBoosting on the
same data with 10 % of the values missing, IsolationForest on breast_cancer. Each model must fit the Uno
(32 KB of flash): that rules out GradientBoosting on wine (120 trees) and the forests on digits."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from tinygen.verify import compare_on_target

from conftest import spread_over_targets
from tree_cases import SPECIALS, check_rows, converted, data, edge_rows, fitted, has_inf, need_target

TARGETS = ("avr", "cortex-m4", "cortex-m0", "rv32", "xtensa-lx106")
CASES = [
    ("digits", "DecisionTreeClassifier"),
    ("breast_cancer", "RandomForestClassifier"),
    ("wine", "ExtraTreesClassifier"),
    ("diabetes", "DecisionTreeRegressor"),
    ("diabetes", "RandomForestRegressor"),
    ("diabetes", "ExtraTreesRegressor"),
    ("breast_cancer", "GradientBoostingClassifier"),
    ("diabetes", "GradientBoostingRegressor"),
    ("breast_cancer+nan", "HistGradientBoostingClassifier"),  # binary: one raw score, class 1 when > 0
    ("wine+nan", "HistGradientBoostingClassifier"),  # multiclass: argmax over three
    ("diabetes+nan", "HistGradientBoostingRegressor"),
    ("breast_cancer", "IsolationForest"),
]
N_REAL, N_EDGE, N_SPECIAL = 600, 200, 100

pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]


@functools.cache
def mcu_rows(dataset: str, kind: str) -> np.ndarray:
    """N_REAL real rows (every row except on digits), N_EDGE rows with a feature on / around a threshold,
    N_SPECIAL rows with NaN or +-inf in split features, and one row per special value (+-0.0, NaN payloads,
    +-inf...) in every feature."""
    X, _ = data(dataset)
    rng = np.random.default_rng(8)
    edges = edge_rows(fitted(dataset, kind), X, seed=7, total=2000, n_special=300)
    generated, uniform = edges[: -len(SPECIALS)], edges[-len(SPECIALS):]
    special = np.isnan(generated).any(axis=1) | has_inf(generated)
    if dataset.endswith("+nan"):  # real rows carry NaN already; "special" here means +-inf
        special = has_inf(generated)
    def pick(rows, n):  # n of them (all when fewer)
        return rows[rng.choice(len(rows), min(n, len(rows)), replace=False)]

    return np.concatenate([pick(X.astype(np.float32), N_REAL), pick(generated[~special], N_EDGE),
                           pick(generated[special], N_SPECIAL), uniform])


# each case on one target by default (each target three of them), every other pair under the slow marker
@pytest.mark.parametrize("dataset,kind,target", spread_over_targets(CASES, TARGETS))
def test_mcu_equals_simulator_equals_sklearn(target, dataset, kind):
    need_target(target)
    estimator, model = fitted(dataset, kind), converted(dataset, kind)
    rows = mcu_rows(dataset, kind)
    assert np.isnan(rows).any() and np.isposinf(rows).any() and np.isneginf(rows).any()
    assert np.signbit(rows[rows == 0]).any() and (~np.signbit(rows[rows == 0])).any(), "rows need -0.0 and +0.0"
    check_rows(estimator, model, rows, f"{kind} on {dataset}, {target} rows")
    result = compare_on_target(model, target, rows, "m")
    assert result["rows"] == len(rows)
    assert result["mismatches"] == 0, (target, result)
