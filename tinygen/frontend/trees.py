"""Decision trees and forests of them: DecisionTree, RandomForest, ExtraTrees (classifier and regressor).

scikit-learn casts inputs to float32, goes left when x <= threshold (float64) and sends NaN where each
node's missing_go_to_left says; forests average the trees' class fractions (soft voting: the first class
wins ties) or values. Each tree becomes flat node arrays; the typed op is built by ops/tree_ensemble.py.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
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
    op = FloatTrees(trees=trees, task="classification", n_in=int(estimator.n_features_in_))
    return FrontendResult([op], "classification", "argmax", list(estimator.classes_))


def convert_regressor(estimator) -> FrontendResult:
    op = FloatTrees(trees=[_tree(member) for member in _members(estimator)], task="regression",
                    n_in=int(estimator.n_features_in_))
    return FrontendResult([op], "regression", "value", None)


CLASSIFIERS = (DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)
REGRESSORS = (DecisionTreeRegressor, RandomForestRegressor, ExtraTreesRegressor)
CONVERTERS = {**{cls: convert_classifier for cls in CLASSIFIERS}, **{cls: convert_regressor for cls in REGRESSORS}}
