"""IsolationForest in exact mode: the program sums each tree's path length (depth + the average path length
of the leaf's samples - 1) in int32 fixed point, minus the threshold d* = -D log2(-offset_), and predicts an
inlier when the sum is >= 0 — the same as scikit-learn's decision_function >= 0. The acceptance matrix
(every data set plus threshold-edge rows, host and MCU targets) is test_trees.py::test_acceptance_rows and
test_trees_mcu.py."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import IsolationForest

import tinygen
from tinygen.verify import compare_on_target

from conftest import need_tool


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine])
@pytest.mark.parametrize("options", [{}, {"max_features": 0.5}, {"contamination": 0.1}])
def test_predict_equals_scikit_learn(loader, options):
    need_tool("gcc")
    X, _ = loader(return_X_y=True)
    forest = IsolationForest(n_estimators=50, random_state=0, **options).fit(X)
    model = tinygen.convert(forest)
    assert (model.predict(X) == forest.predict(X)).all()
    assert compare_on_target(model, "host", X, "iso")["mismatches"] == 0
    # the path-length sum behind it, within the rounding of one leaf per tree plus the threshold
    op = model.program.ops[1]
    bound = (len(op.trees) + 1) * 2.0 ** -(op.leaf_frac_bits + 1)
    from sklearn.ensemble._iforest import _average_path_length

    denominator = len(forest.estimators_) * _average_path_length([forest._max_samples])[0]
    expected = -np.log2(-forest.score_samples(X)) * denominator + denominator * np.log2(-forest.offset_)
    assert np.abs(model.scores(X)[:, 0] * op.out_scale - expected).max() <= bound + 1e-9


def test_score_samples_and_decision_function(tmp_path):
    """From the integer sum d - d*: score_samples = -2**(-d / D), decision_function = score_samples - offset_;
    |error| <= ln 2 / D * (the path-length bound), far below 1e-5 here; the manifest carries D, d*, offset_."""
    X, _ = load_breast_cancer(return_X_y=True)
    forest = IsolationForest(n_estimators=50, random_state=0).fit(X)
    model = tinygen.convert(forest)
    op = model.program.ops[1]
    depth_bound = (len(op.trees) + 1) * 2.0 ** -(op.leaf_frac_bits + 1)
    bound = np.log(2) / model.program.anomaly["denominator"] * depth_bound + 1e-12
    assert np.abs(model.score_samples(X) - forest.score_samples(X)).max() <= bound
    assert np.abs(model.decision_function(X) - forest.decision_function(X)).max() <= bound
    model.save(tmp_path, "iso")
    loaded = tinygen.load(tmp_path / "iso.json")
    assert np.array_equal(loaded.decision_function(X), model.decision_function(X))
    with pytest.raises(tinygen.TinygenError, match="IsolationForest"):
        tinygen.convert(load_breast_cancer_tree()).score_samples(X)


def load_breast_cancer_tree():
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_breast_cancer(return_X_y=True)
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
