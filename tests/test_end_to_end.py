"""Every linear model x dataset x dtype: the compiled C equals the simulator on every row (host gcc), and
the simulator stays within the stated tolerance of the float model on a held-out split."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen.bench import LINEAR_CASES as CASES, fitted, split
from tinygen.quantize import LINEAR_DTYPES as DTYPES
from tinygen.verify import compare_on_target, metric

from conftest import need_tool

# Allowed |float metric - simulator metric| on the held-out split (accuracy, or R^2 for diabetes).
TOLERANCE = {"float32": 0.002, "q31": 0.002, "q15": 0.002, "q7": 0.02}


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
        # compile only: 48 fixed-point models' code does not fit one Uno's 32 KB (each fits on its own)
        flags = ["-mmcu=atmega328p", "-Os", "-Wall", "-Wextra", "-Werror", "-c"]
    done = subprocess.run([path, *flags, "-I", str(tmp_path), str(source), "-o", str(tmp_path / "all.o")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[:2000]
