"""Decision trees, forests and boosting: DecisionTree, RandomForest, ExtraTrees, GradientBoosting
(classifier and regressor).

scikit-learn casts inputs to float32, goes left when x <= threshold (float64) and sends NaN where each
node's missing_go_to_left says; forests average the trees' class fractions (soft voting: the first class
wins ties) or values; gradient boosting adds learning_rate * leaf to its initial raw score per class (binary:
class 1 when the raw score is > 0; multiclass: argmax). Each tree becomes flat node arrays; the typed op is
built by ops/trees/.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              IsolationForest, RandomForestClassifier, RandomForestRegressor)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ..errors import TinygenError
from ..ops.trees import FloatTrees, Tree
from .linear import FrontendResult


def _tree(estimator) -> Tree:
    tree = estimator.tree_
    if tree.n_outputs != 1:
        raise TinygenError(f"{type(estimator).__name__} was fitted on {tree.n_outputs} targets; tinygen exports single-target trees")
    value = np.asarray(tree.value, dtype=np.float64)[:, 0, :]
    missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
    return Tree(feature=np.asarray(tree.feature, dtype=np.int64), threshold=np.asarray(tree.threshold, dtype=np.float64),
                left=np.asarray(tree.children_left, dtype=np.int64), right=np.asarray(tree.children_right, dtype=np.int64),
                missing_left=np.asarray(missing, dtype=bool), value=value)


def _members(estimator) -> list:
    return list(getattr(estimator, "estimators_", [estimator]))


def convert_classifier(estimator) -> FrontendResult:
    trees = [_tree(member) for member in _members(estimator)]
    for tree in trees:  # fractions per leaf (scikit-learn >= 1.4 stores them so; older versions store counts)
        totals = tree.value.sum(axis=1, keepdims=True)
        tree.value = np.divide(tree.value, totals, out=np.zeros_like(tree.value), where=totals > 0)
    op = FloatTrees(trees=trees, task="classification", n_in=int(estimator.n_features_in_), leaf_kind="fractions")
    return FrontendResult([op], "classification", "argmax", list(estimator.classes_))


def convert_regressor(estimator) -> FrontendResult:
    op = FloatTrees(trees=[_tree(member) for member in _members(estimator)], task="regression",
                    n_in=int(estimator.n_features_in_))
    return FrontendResult([op], "regression", "value", None)


def _boosting(estimator) -> FloatTrees:
    """raw[k] = init[k] + sum over stages of learning_rate * tree_k(x): one tree per stage and column k."""
    init = getattr(estimator, "init_", None)
    if not (init == "zero" or type(init).__name__ in ("DummyClassifier", "DummyRegressor")):
        raise TinygenError(f"{type(estimator).__name__} with init={type(init).__name__}: tinygen exports the default "
                           "init (a constant prior) or init='zero'; refit without a custom init estimator")
    n_features = int(estimator.n_features_in_)
    bias = np.asarray(estimator._raw_predict_init(np.zeros((1, n_features))), dtype=np.float64)[0]
    stages = np.asarray(estimator.estimators_)
    trees = []
    for stage in stages:
        for column, member in enumerate(stage):
            tree = _tree(member)
            value = np.zeros((len(tree.value), stages.shape[1]))
            value[:, column] = estimator.learning_rate * tree.value[:, 0]
            tree.value = value
            trees.append(tree)
    return FloatTrees(trees=trees, task="classification" if hasattr(estimator, "classes_") else "regression",
                      n_in=n_features, combine="sum", leaf_kind="values", bias=bias)


def _hist_boosting(estimator) -> FloatTrees:
    """raw[k] = baseline[k] + sum over iterations of the predictors' leaf values (already shrunk by the
    learning rate). HistGradientBoosting compares float64 inputs with float64 thresholds; from float32 inputs
    (what the C takes) that is the same branch as the float32 floor of the threshold."""
    if getattr(estimator, "is_categorical_", None) is not None and np.any(estimator.is_categorical_):
        raise TinygenError("HistGradientBoosting with categorical features is not supported yet; refit with "
                           "categorical_features=None (encode categories as numbers)")
    n_features = int(estimator.n_features_in_)
    bias = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
    trees = []
    for iteration in estimator._predictors:
        for column, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((len(nodes), len(iteration)))
            value[:, column] = np.where(leaf, nodes["value"], 0.0)
            index = {key: nodes[key].astype(np.int64) for key in ("feature_idx", "left", "right")}  # unsigned there
            trees.append(Tree(feature=np.where(leaf, -1, index["feature_idx"]),
                              threshold=np.asarray(nodes["num_threshold"], dtype=np.float64),
                              left=np.where(leaf, -1, index["left"]), right=np.where(leaf, -1, index["right"]),
                              missing_left=nodes["missing_go_to_left"].astype(bool), value=value))
    return FloatTrees(trees=trees, task="classification" if hasattr(estimator, "classes_") else "regression",
                      n_in=n_features, combine="sum", leaf_kind="values", bias=bias)


def convert_boosting_classifier(estimator) -> FrontendResult:
    op = (_hist_boosting if isinstance(estimator, HistGradientBoostingClassifier) else _boosting)(estimator)
    decision = "positive" if op.n_out == 1 else "argmax"  # binary: class 1 when the raw score is > 0
    return FrontendResult([op], "classification", decision, list(estimator.classes_))


def convert_boosting_regressor(estimator) -> FrontendResult:
    op = (_hist_boosting if isinstance(estimator, HistGradientBoostingRegressor) else _boosting)(estimator)
    return FrontendResult([op], "regression", "value", None)


def convert_isolation_forest(estimator) -> FrontendResult:
    """predict: inlier (1) when decision_function = -2**(-d / D) - offset_ >= 0, d = sum over trees of the
    leaf's path length (depth + average_path_length(leaf size) - 1), D = n_trees * c(max_samples). That is
    d >= -D * log2(-offset_) =: d*, so the program outputs d - d* (bias -d*) and decides "nonnegative"."""
    from sklearn.ensemble._iforest import _average_path_length

    offset = float(estimator.offset_)
    if not offset < 0:
        raise TinygenError(f"IsolationForest with offset_ {offset}: every sample is an outlier; refit it")
    trees = []
    for member, features, path, average in zip(estimator.estimators_, estimator.estimators_features_,
                                               estimator._decision_path_lengths, estimator._average_path_length_per_tree):
        tree = _tree(member)
        features = np.asarray(features, dtype=np.int64)
        tree.feature = np.where(tree.left >= 0, features[np.maximum(tree.feature, 0)], -1)  # subset -> column
        tree.value = (np.asarray(path, dtype=np.float64) + np.asarray(average, dtype=np.float64) - 1.0).reshape(-1, 1)
        trees.append(tree)
    denominator = len(trees) * float(_average_path_length([estimator._max_samples])[0])
    threshold = -denominator * np.log2(-offset)
    op = FloatTrees(trees=trees, task="classification", n_in=int(estimator.n_features_in_), combine="sum",
                    leaf_kind="values", bias=np.array([-threshold]))
    anomaly = {"threshold": float(threshold), "denominator": denominator, "offset": offset}
    return FrontendResult([op], "classification", "nonnegative", [-1, 1], anomaly)


CLASSIFIERS = (DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)
REGRESSORS = (DecisionTreeRegressor, RandomForestRegressor, ExtraTreesRegressor)
CONVERTERS = {**{cls: convert_classifier for cls in CLASSIFIERS}, **{cls: convert_regressor for cls in REGRESSORS},
              GradientBoostingClassifier: convert_boosting_classifier, GradientBoostingRegressor: convert_boosting_regressor,
              HistGradientBoostingClassifier: convert_boosting_classifier,
              HistGradientBoostingRegressor: convert_boosting_regressor, IsolationForest: convert_isolation_forest}
