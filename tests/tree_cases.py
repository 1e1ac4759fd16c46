"""Shared by the tree tests (test_trees.py, test_trees_mcu.py): the data sets, the fitted
estimators of issue 4's acceptance matrix, scikit-learn's own answer for any float32 row (the oracle), the
threshold-edge rows, and the checks of the simulator against that oracle.

The oracle, per family:
  DecisionTree / RandomForest / ExtraTrees: `predict` / `predict_proba` on every row they accept (finite and
      NaN); for rows with +-inf, which they refuse, each member tree's own traversal `tree_.apply(X float32)`
      (the Cython routine predict runs) with `tree_.value` summed over the trees and divided by their number,
      exactly as ForestClassifier.predict_proba does.
  GradientBoosting: the raw score init + sum over stages of learning_rate * tree_.value[tree_.apply(X float32)],
      accumulated in float64 in stage order as `predict_stages` does; class 1 when it is > 0 (binary), argmax
      (multiclass). GradientBoosting refuses NaN and +-inf; on those rows the members' `apply` (NaN follows
      missing_go_to_left, as a DecisionTreeRegressor's predict would) is the only answer scikit-learn has.
  HistGradientBoosting and IsolationForest: `predict` itself, which accepts NaN and +-inf (HistGradientBoosting
      takes the float32 rows as float64, exactly what it would compare).
test_trees.py::test_oracle_is_sklearn pins the apply-based oracles bit for bit to predict / predict_proba /
decision_function on every generated row scikit-learn accepts, so they can be trusted on the others.

Threshold-edge rows: for every internal node of every tree, real rows that reach the node with the node's
feature set to the float32 just below / just above the float64 threshold, float32_floor(threshold) and the
float32 nearest to it; rows mixing such values over all features; rows with +-0.0, NaN (several payloads),
+-inf, +-FLT_MAX, subnormals and FLT_MIN.
"""
from __future__ import annotations

import functools

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              IsolationForest, RandomForestClassifier, RandomForestRegressor)
from sklearn.ensemble._iforest import _average_path_length
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

import tinygen
from tinygen.ops.trees.order_keys import float32_floor
from tinygen.ops.trees import LEAF_SCALE
from tinygen.targets import TARGETS

from conftest import need_tool

PROBA_BOUND = 0.5 / LEAF_SCALE + 1e-12
MIN_EDGE_ROWS = 10_000

LOADERS = {"wine": load_wine, "breast_cancer": load_breast_cancer, "digits": load_digits, "diabetes": load_diabetes}
CLASSIFICATION_DATASETS = ("wine", "breast_cancer", "digits")
CLASSIFIERS = {
    "DecisionTreeClassifier": lambda: DecisionTreeClassifier(max_depth=8, random_state=0),
    "RandomForestClassifier": lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
    "ExtraTreesClassifier": lambda: ExtraTreesClassifier(n_estimators=10, max_depth=6, random_state=0),
}
REGRESSORS = {
    "DecisionTreeRegressor": lambda: DecisionTreeRegressor(max_depth=8, random_state=0),
    "RandomForestRegressor": lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
    "ExtraTreesRegressor": lambda: ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0),
}
BOOSTING = {
    "GradientBoostingClassifier": lambda: GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0),
    "GradientBoostingRegressor": lambda: GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0),
    "HistGradientBoostingClassifier": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
    "HistGradientBoostingRegressor": lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0),
}
KINDS = {**CLASSIFIERS, **REGRESSORS, **BOOSTING,
         "IsolationForest": lambda: IsolationForest(n_estimators=20, random_state=0)}

# issue 4's matrix: every estimator on wine, breast_cancer, digits (classification) and diabetes (regression);
# HistGradientBoosting on the same data with 10 % of the values missing; IsolationForest on all four.
ACCEPTANCE_CASES = [
    *((d, k) for d in CLASSIFICATION_DATASETS for k in (*CLASSIFIERS, "GradientBoostingClassifier")),
    *(("diabetes", k) for k in (*REGRESSORS, "GradientBoostingRegressor")),
    *((d + "+nan", "HistGradientBoostingClassifier") for d in CLASSIFICATION_DATASETS),
    ("diabetes+nan", "HistGradientBoostingRegressor"),
    *((d, "IsolationForest") for d in LOADERS),
]

F32 = np.finfo(np.float32)
NAN_BITS = (0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FA5A5A5)
NANS = np.array(NAN_BITS, dtype=np.uint32).view(np.float32)
SPECIALS = np.concatenate([
    np.array([0.0, -0.0, np.inf, -np.inf, F32.max, -F32.max, F32.tiny, -F32.tiny], dtype=np.float32),
    np.array([0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00400000], dtype=np.uint32).view(np.float32),
    NANS,
])


# ---- data and models -----------------------------------------------------------------------------------
def with_nans(X, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    X[rng.random(X.shape) < fraction] = np.nan
    return X


@functools.cache
def data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A bundled data set; NAME+nan: its float32-representable values with 10 % missing (seed 0)."""
    base, _, variant = name.partition("+")
    X, y = LOADERS[base](return_X_y=True)
    if variant == "nan":
        X = with_nans(X.astype(np.float32), 0.1, seed=0)
    X.setflags(write=False)
    return X, y


@functools.cache
def fitted(dataset: str, kind: str):
    X, y = data(dataset)
    estimator = KINDS[kind]()
    with threadpool_limits(1):  # HistGradientBoosting's OpenMP threads: 20x slower than one on 2 busy cores
        return estimator.fit(X) if isinstance(estimator, IsolationForest) else estimator.fit(X, y)


@functools.cache
def converted(dataset: str, kind: str, layout: str = "auto"):
    return tinygen.convert(fitted(dataset, kind), layout=layout)


def members(estimator) -> list:
    """The trees of a DecisionTree / RandomForest / ExtraTrees, in order."""
    return list(getattr(estimator, "estimators_", [estimator]))


def is_classifier(estimator) -> bool:
    return hasattr(estimator, "classes_")


def family(estimator) -> str:
    if isinstance(estimator, IsolationForest):
        return "isolation"
    if isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        return "hist"
    if isinstance(estimator, (GradientBoostingClassifier, GradientBoostingRegressor)):
        return "boosting"
    return "forest"


def has_inf(X) -> np.ndarray:
    return np.isinf(np.asarray(X, dtype=np.float32)).any(axis=1)


def need_target(target: str) -> None:
    """Every compiler and emulator `target` needs (skip locally, fail in CI; see conftest.need_tool)."""
    for tool in getattr(TARGETS[target], "tools", None) or (("avr-gcc", "simavr") if target == "avr" else ("gcc",)):
        need_tool(tool)


# ---- the oracle: scikit-learn's own answer for any float32 row (see the module docstring) ----------------
def _applied(member, X32) -> np.ndarray:
    return member.tree_.value[member.tree_.apply(X32), 0, :]


def sklearn_output(estimator, X) -> np.ndarray:
    """What the simulator's scores * output_scale approximate: forests: predict_proba (classifiers) or predict
    (regressors); boosting: the raw score, (n, columns) for classifiers, (n,) for regressors; IsolationForest:
    the path-length sum d - d* (n, 1), from score_samples = -2**(-d / D)."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    kind = family(estimator)
    if kind == "forest":
        trees = members(estimator)
        total = None
        for member in trees:
            value = _applied(member, X32)
            total = value.copy() if total is None else total + value
        total /= len(trees)
        return total[:, : len(estimator.classes_)] if is_classifier(estimator) else total[:, 0]
    if kind == "boosting":
        # the init estimator is a constant prior (it refuses +-inf and NaN rows, but never reads them)
        init = estimator._raw_predict_init(np.zeros((1, X32.shape[1]), dtype=np.float32))
        raw = np.repeat(np.asarray(init, dtype=np.float64), len(X32), axis=0)
        for stage in estimator.estimators_:
            for column, member in enumerate(stage):
                raw[:, column] += estimator.learning_rate * _applied(member, X32)[:, 0]
        return raw if is_classifier(estimator) else raw[:, 0]
    if kind == "hist":
        X64 = X32.astype(np.float64)
        with threadpool_limits(1):
            return estimator._raw_predict(X64) if is_classifier(estimator) else estimator.predict(X64)
    denominator = len(estimator.estimators_) * _average_path_length([estimator._max_samples])[0]
    d = -np.log2(-estimator.score_samples(X32)) * denominator
    return (d + denominator * np.log2(-estimator.offset_)).reshape(-1, 1)


def sklearn_predict(estimator, X, output: np.ndarray | None = None) -> np.ndarray:
    kind = family(estimator)
    if kind in ("hist", "isolation"):
        with threadpool_limits(1):
            return estimator.predict(np.asarray(X, dtype=np.float32).astype(np.float64))
    out = sklearn_output(estimator, X) if output is None else output
    if not is_classifier(estimator):
        return out
    if kind == "boosting" and out.shape[1] == 1:
        return estimator.classes_.take((out[:, 0] > 0).astype(int))
    return estimator.classes_.take(np.argmax(out, axis=1))


# ---- threshold-edge rows ---------------------------------------------------------------------------------
def edge_values(threshold: float) -> np.ndarray:
    """float32 values around a float64 threshold: two below, float32_floor, nearest, two above."""
    floor = np.float32(float32_floor(threshold))
    with np.errstate(over="ignore"):
        nearest = np.float32(threshold)
    below = floor if float(floor) < threshold else np.nextafter(floor, np.float32(-np.inf))
    above = np.nextafter(floor, np.float32(np.inf))
    values = [np.nextafter(below, np.float32(-np.inf)), below, floor, nearest, above,
              np.nextafter(above, np.float32(np.inf))]
    return np.unique(np.array(values, dtype=np.float32))


def internal_nodes(member):
    tree = member.tree_
    return [int(i) for i in np.nonzero(tree.children_left >= 0)[0]]


def _tree_members(estimator) -> list:
    """(fitted sklearn tree, column of each of its features or None) for every tree scikit-learn built."""
    kind = family(estimator)
    if kind == "boosting":
        return [(member, None) for member in np.asarray(estimator.estimators_).ravel()]
    if kind == "isolation":  # trees see X[:, features] only when features are subsampled (as score_samples)
        subsampled = estimator._max_features != estimator.n_features_in_
        return [(member, np.asarray(features) if subsampled else None)
                for member, features in zip(estimator.estimators_, estimator.estimators_features_)]
    return [(member, None) for member in members(estimator)]


def split_sites(estimator, X32: np.ndarray):
    """(feature column, float64 threshold, indices of the rows of X32 that reach the node) for every split of
    every tree, found through scikit-learn's own fitted trees (never through tinygen's conversion)."""
    if family(estimator) == "hist":
        X64 = X32.astype(np.float64)
        for predictor in (p for iteration in estimator._predictors for p in iteration):
            nodes = predictor.nodes
            stack = [(0, np.arange(len(X64)))]
            while stack:
                node, rows = stack.pop()
                if nodes["is_leaf"][node]:
                    continue
                feature, threshold = int(nodes["feature_idx"][node]), float(nodes["num_threshold"][node])
                x = X64[rows, feature]
                left = np.where(np.isnan(x), bool(nodes["missing_go_to_left"][node]), x <= threshold)
                yield feature, threshold, rows
                stack += [(int(nodes["left"][node]), rows[left]), (int(nodes["right"][node]), rows[~left])]
        return
    for member, columns in _tree_members(estimator):
        tree = member.tree_
        reach = tree.decision_path(np.ascontiguousarray(X32 if columns is None else X32[:, columns])).tocsc()
        for node in internal_nodes(member):
            feature = int(tree.feature[node])
            yield (feature if columns is None else int(columns[feature]), float(tree.threshold[node]),
                   reach.indices[reach.indptr[node]:reach.indptr[node + 1]])


def edge_rows(estimator, X, seed: int = 0, total: int = MIN_EDGE_ROWS, n_special: int = 1500):
    """Threshold-edge rows (float32) for every internal node of every tree of `estimator`, plus mixed
    rows and rows of special values; at least `total` + `n_special` rows.

    per node: real rows that reach the node, with the node's feature set to each of edge_values(threshold),
    4 to 32 rows per value (down to 1 where that would make more than 2 * total rows); mixed: real rows where
    every feature a split uses takes an edge value of one of its thresholds with probability 1/4; special: real
    rows with 1 to 4 split features set to SPECIALS; and one row per special value with every feature set to
    it (the last len(SPECIALS) rows)."""
    rng = np.random.default_rng(seed)
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    sites, by_feature = [], {}
    for feature, threshold, rows in split_sites(estimator, X32):
        values = edge_values(threshold)
        by_feature.setdefault(feature, []).append(values)
        sites.append((feature, values, rows if len(rows) else np.arange(len(X32))))
    n_values = sum(len(v) for _, v, _ in sites)
    per_value = int(np.clip((total // 2) // n_values, 4, 32))
    if per_value * n_values > 2 * total:  # thousands of splits (boosting): fewer rows per value, each value met
        per_value = max(1, 2 * total // n_values)
    blocks = []
    for feature, values, rows in sites:
        base = rng.choice(rows, size=per_value * len(values), replace=len(rows) < per_value * len(values))
        block = X32[base].copy()
        block[:, feature] = np.repeat(values, per_value)
        blocks.append(block)
    per_node = np.concatenate(blocks)
    features = sorted(by_feature)
    pools = {f: np.unique(np.concatenate(by_feature[f])) for f in features}
    n_mixed = max(total - len(per_node), total // 5)
    mixed = X32[rng.integers(0, len(X32), n_mixed)].copy()
    for f in features:  # every feature a split uses: an edge value of one of its thresholds, 1 time in 4
        hit = rng.random(n_mixed) < 0.25
        mixed[hit, f] = rng.choice(pools[f], size=int(hit.sum()))
    special = X32[rng.integers(0, len(X32), n_special)].copy()
    for row in special:
        chosen = rng.choice(features, size=min(len(features), int(rng.integers(1, 5))), replace=False)
        row[chosen] = rng.choice(SPECIALS, size=len(chosen))
    uniform = np.repeat(SPECIALS[:, None], X32.shape[1], axis=1)  # every feature the same special value
    return np.concatenate([per_node, mixed, special, uniform])


# ---- the checks ------------------------------------------------------------------------------------------
def raw_bound(model) -> float:
    """Boosting and IsolationForest: |simulated raw score - scikit-learn's| <= half a step 2**-frac for the
    bias and for each tree's leaf, over the trees of one column."""
    op = model.program.ops[1]
    trees_per_column = len(op.trees) // op.n_out
    return (trees_per_column + 1) * 2.0 ** -(op.leaf_frac_bits + 1)


def check_rows(estimator, model, X, what: str) -> None:
    """Simulator == scikit-learn on every row: predict equal (classifiers, IsolationForest) or within the
    stated bound (regressors), and the raw outputs within theirs."""
    kind = family(estimator)
    expected_out = sklearn_output(estimator, X)
    expected = sklearn_predict(estimator, X, expected_out)
    got = model.predict(X)
    if is_classifier(estimator) or kind == "isolation":
        bad = np.nonzero(got != expected)[0]
        assert len(bad) == 0, (f"{what}: simulator predict != scikit-learn on {len(bad)} of {len(X)} rows; first: "
                               f"row {bad[0]} = {X[bad[0]].tolist()}, sklearn {expected[bad[0]]!r} output "
                               f"{expected_out[bad[0]].tolist()}, tinygen {got[bad[0]]!r} "
                               f"scores {model.scores(X[bad[0]:bad[0] + 1])[0].tolist()}")
        out = model.scores(X) * model.program.output_scale
        # the IsolationForest oracle goes through log2(-score_samples): float64 slack
        bound = PROBA_BOUND if kind == "forest" else raw_bound(model) + (1e-9 if kind == "isolation" else 0.0)
        error = np.abs(out - expected_out).max()
        assert error <= bound, f"{what}: raw output error {error} > bound {bound}"
    elif kind == "forest":
        check_regression_bound(model, got, expected_out, what)
    else:  # boosting: the raw rounding, then one float32 rounding of the value (output_scale is 2**-frac)
        raw = raw_bound(model)
        bound = raw + 2.0 ** -24 * (np.abs(expected) + raw) + float(F32.tiny)
        error = np.abs(np.asarray(got, dtype=np.float64) - expected)
        worst = int(np.argmax(error - bound))
        assert np.all(error <= bound), (f"{what}: |value - sklearn| = {error[worst]} > bound {bound[worst]} (row "
                                        f"{worst}, sklearn {expected[worst]}, tinygen {got[worst]})")


def check_regression_bound(model, got, expected, what: str) -> None:
    """Forest regressors; the bound is derived in test_trees.py's docstring."""
    op = model.program.ops[1]
    n, frac = len(op.trees), op.leaf_frac_bits
    leaf_term = n * 2.0 ** -(frac + 1) / n
    got = np.asarray(got, dtype=np.float64)
    stated = leaf_term + 2.0 ** -23 * np.abs(expected) + float(F32.tiny)
    worst = np.argmax(np.abs(got - expected) - stated)
    assert np.all(np.abs(got - expected) <= stated), (
        f"{what}: |value - sklearn| = {abs(got[worst] - expected[worst])} > bound {stated[worst]} "
        f"(row {worst}, sklearn {expected[worst]}, tinygen {got[worst]}, leaf_frac_bits {frac}, {n} trees)")
