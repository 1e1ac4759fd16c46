"""Scalers and PCA in front of a model fold into the one integer dense: no float pre-processing in the C."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

import tinygen
from tinygen.errors import TinygenError
from tinygen.frontend import float_reference, to_float_program
from tinygen.verify import compare_on_target

from conftest import need_tool

FRONTS = {
    "standard": lambda: [StandardScaler()],
    "minmax": lambda: [MinMaxScaler()],
    "maxabs": lambda: [MaxAbsScaler()],
    "robust": lambda: [RobustScaler()],
    "pca": lambda: [StandardScaler(), PCA(n_components=6, random_state=0)],
    "pca-whiten": lambda: [StandardScaler(), PCA(n_components=6, whiten=True, random_state=0)],
    "scaler-no-mean": lambda: [StandardScaler(with_mean=False)],
    "none": lambda: [],
}


@pytest.mark.parametrize("front", FRONTS)
def test_pipeline_folds_and_c_matches(front):
    need_tool("gcc")
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    estimator = make_pipeline(*FRONTS[front](), LogisticRegression(max_iter=5000)).fit(X_train, y_train)
    program = to_float_program(estimator)
    assert [type(op).__name__ for op in program.ops] == ["FloatDense"]  # everything folded into one op
    assert np.allclose(program.scores(X), float_reference(estimator, X), rtol=1e-9, atol=1e-9)
    for dtype in ("q15", "q7"):
        model = tinygen.convert(estimator, dtype=dtype, calibration=X_train)
        header = model.header("m")
        assert "mean" not in header.lower().split("features, in order")[0]
        assert compare_on_target(model, "host", X, "m")["mismatches"] == 0
        accuracy = np.mean(model.predict(X_test) == y_test)
        float_accuracy = np.mean(estimator.predict(X_test) == y_test)
        assert abs(accuracy - float_accuracy) <= (0.002 if dtype == "q15" else 0.02)


def test_minmax_clip_is_refused():
    X, y = load_breast_cancer(return_X_y=True)
    estimator = make_pipeline(MinMaxScaler(clip=True), LogisticRegression(max_iter=5000)).fit(X, y)
    with pytest.raises(TinygenError, match="clip"):
        tinygen.convert(estimator, dtype="q15", calibration=X)


def test_regressor_pipeline_with_pca():
    need_tool("gcc")
    X, y = load_breast_cancer(return_X_y=True)  # a regression on the mean radius column's neighbours
    target, features = X[:, 0], X[:, 1:]
    estimator = make_pipeline(RobustScaler(), PCA(n_components=8, random_state=0), Ridge()).fit(features, target)
    for dtype in ("float32", "q31", "q15", "q7"):
        model = tinygen.convert(estimator, dtype=dtype, calibration=features)
        assert compare_on_target(model, "host", features, "reg")["mismatches"] == 0
