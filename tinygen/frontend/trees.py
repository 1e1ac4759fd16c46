"""Decision trees, forests and boosting: DecisionTree, RandomForest, ExtraTrees, GradientBoosting
(classifier and regressor).

scikit-learn casts inputs to float32, goes left when x <= threshold (float64) and sends NaN where each
node's missing_go_to_left says; forests average the trees' class fractions (soft voting: the first class
wins ties) or values; gradient boosting adds learning_rate * leaf to its initial raw score per class (binary:
class 1 when the raw score is > 0; multiclass: argmax). Each tree becomes flat node arrays; the typed op is
built by ops/tree_ensemble.py.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ..errors import TinygenError
from ..ops.tree_ensemble import FloatTrees, Tree
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


def convert_boosting_classifier(estimator) -> FrontendResult:
    op = _boosting(estimator)
    decision = "positive" if op.n_out == 1 else "argmax"  # binary: class 1 when the raw score is > 0
    return FrontendResult([op], "classification", decision, list(estimator.classes_))


def convert_boosting_regressor(estimator) -> FrontendResult:
    return FrontendResult([_boosting(estimator)], "regression", "value", None)


CLASSIFIERS = (DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)
REGRESSORS = (DecisionTreeRegressor, RandomForestRegressor, ExtraTreesRegressor)
CONVERTERS = {**{cls: convert_classifier for cls in CLASSIFIERS}, **{cls: convert_regressor for cls in REGRESSORS},
              GradientBoostingClassifier: convert_boosting_classifier, GradientBoostingRegressor: convert_boosting_regressor}
