"""Every linear model x dataset x dtype: the compiled C equals the simulator on every row (host gcc), and
the simulator stays within the stated tolerance of the float model on a held-out split."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression, Perceptron, Ridge,
                                  RidgeClassifier, SGDClassifier, SGDRegressor)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

import tinygen
from tinygen.verify import compare_on_target, metric

from conftest import need_tool

DTYPES = ("float32", "q31", "q15", "q7")
# Allowed |float metric - simulator metric| on the held-out split (accuracy, or R^2 for diabetes).
TOLERANCE = {"float32": 0.002, "q31": 0.002, "q15": 0.002, "q7": 0.02}
CLASSIFIERS = {
    "LogisticRegression": lambda: LogisticRegression(max_iter=5000),
    "LinearSVC": lambda: LinearSVC(max_iter=20000, random_state=0),
    "RidgeClassifier": lambda: RidgeClassifier(),
    "SGDClassifier": lambda: SGDClassifier(random_state=0),
    "Perceptron": lambda: Perceptron(random_state=0),
}
REGRESSORS = {
    "LinearRegression": lambda: LinearRegression(),
    "Ridge": lambda: Ridge(),
    "Lasso": lambda: Lasso(alpha=0.1),
    "ElasticNet": lambda: ElasticNet(alpha=0.01),
    "SGDRegressor": lambda: SGDRegressor(random_state=0),
    "LinearSVR": lambda: LinearSVR(max_iter=20000, random_state=0),
}
DATASETS = {"breast_cancer": load_breast_cancer, "wine": load_wine, "diabetes": load_diabetes}
CASES = [(d, m) for d in ("breast_cancer", "wine") for m in CLASSIFIERS] + [("diabetes", m) for m in REGRESSORS]


@functools.lru_cache(maxsize=None)
def split(dataset: str):
    X, y = DATASETS[dataset](return_X_y=True)
    return X, y, *train_test_split(X, y, test_size=0.25, random_state=0)


@functools.lru_cache(maxsize=None)
def fitted(dataset: str, model: str):
    X, y, X_train, X_test, y_train, y_test = split(dataset)
    factory = {**CLASSIFIERS, **REGRESSORS}[model]
    return make_pipeline(StandardScaler(), factory()).fit(X_train, y_train)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dataset,model", CASES)
def test_c_equals_simulator_and_tolerance(dataset, model, dtype):
    need_tool("gcc")
    X, y, X_train, X_test, y_train, y_test = split(dataset)
    estimator = fitted(dataset, model)
    converted = tinygen.convert(estimator, dtype=dtype, calibration=X_train)
    # C == simulator on every row of the full data set (train and test)
    result = compare_on_target(converted, "host", X, "m")
    assert result["rows"] == len(X)
    assert result["mismatches"] == 0, result
    # simulator vs float model on held-out rows
    task = converted.program.task
    _, float_metric = metric(task, y_test, estimator.predict(X_test))
    _, fixed_metric = metric(task, y_test, converted.predict(X_test))
    assert abs(float_metric - fixed_metric) <= TOLERANCE[dtype], (float_metric, fixed_metric)


def test_float_ir_equals_sklearn_decision():
    """The folded float program is the estimator: scores equal decision_function / predict to 1e-9."""
    for dataset, model in CASES:
        X, *_ = split(dataset)
        estimator = fitted(dataset, model)
        from tinygen.frontend import float_reference, to_float_program

        reference = np.asarray(float_reference(estimator, X), dtype=np.float64)
        scores = to_float_program(estimator).scores(X)
        scores = scores[:, 0] if reference.ndim == 1 else scores
        assert np.allclose(scores, reference, rtol=1e-9, atol=1e-9), (dataset, model)


def test_binary_labels_are_not_inverted():
    """micromlgen's bug: class 1 is predicted when the single score is > 0, with the original labels."""
    X, y, X_train, X_test, y_train, y_test = split("breast_cancer")
    labels = np.where(y_train == 1, "benign", "malignant")
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X_train, labels)
    converted = tinygen.convert(estimator, dtype="q15", calibration=X_train)
    assert list(converted.predict(X_test)) == list(estimator.predict(X_test))


@pytest.mark.parametrize("compiler", ["g++", "avr-gcc"])
def test_every_header_builds_for_cxx11_and_avr(compiler, tmp_path):
    """All 64 headers of the matrix in one program: C++11 with the strict warnings, and the ATmega328P."""
    import subprocess

    path = need_tool(compiler)
    lines, calls = [], []
    for dataset, model in CASES:
        X, y, X_train, *_ = split(dataset)
        for dtype in DTYPES:
            name = f"{dataset}_{model}_{dtype}".lower()
            tinygen.convert(fitted(dataset, model), dtype=dtype, calibration=X_train).save(tmp_path, name)
            lines.append(f'#include "{name}.h"')
            calls.append(f"    sink += (float){name}_predict(x);")
    source = tmp_path / "all.c"
    source.write_text("\n".join(lines + ["volatile float sink;", "int main(void)", "{", "    static const float x[30] = {0};",
                                         *calls, "    return 0;", "}"]) + "\n")
    if compiler == "g++":
        flags = ["-x", "c++", "-std=c++11", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
    else:
        flags = ["-mmcu=atmega328p", "-Os", "-Wall", "-Wextra", "-Werror"]
    done = subprocess.run([path, *flags, "-I", str(tmp_path), str(source), "-o", str(tmp_path / "all")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[:2000]
