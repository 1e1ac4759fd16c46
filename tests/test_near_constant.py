"""Issue 14: features below the input's resolution, and a diagnosis when precision is lost.

Outside case: the standard deviation of a z-normalised series window (0.9966611 +- 2e-9) beside informative
features. StandardScaler folds 1/sigma ~ 5e8 into the weights, the output format keeps a few fractional bits
and every other feature's contribution rounds away: LogisticRegression 0.747 -> 0.493 in q15 (binary) and
0.54 -> 0.10 (10 classes, every row one class), and verify said only "accuracy drop".
"""
from __future__ import annotations

import json
import subprocess
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen.ir import Program
from tinygen.modelio import save_model
from tinygen.ops.dense import FloatDense
from tinygen.passes import fold_format_setter
from tinygen.verify import compare_on_target, verify

from conftest import need_tool, tinygen_command

NEAR = 2  # the near-constant column


def near_constant_data(n_classes: int, rows: int = 800, seed: int = 0):
    """Five informative features and, at column NEAR, 0.9966611 + N(0, 2e-9): constant to float32."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, rows)
    informative = rng.normal(0, 1.0, (n_classes, 5))[y] + rng.normal(0, 1.3, (rows, 5))
    near = 0.9966611 + rng.normal(0, 2e-9, rows)
    return np.column_stack([informative[:, :NEAR], near, informative[:, NEAR:]]), y


def fitted(estimator, n_classes: int):
    X, y = near_constant_data(n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X[:600], y[:600])
    return estimator, X[:600], y[:600], X[600:], y[600:]


def accuracy(pred, y) -> float:
    return float(np.mean(np.asarray(pred) == y))


@pytest.mark.parametrize("n_classes", [2, 10])
@pytest.mark.parametrize("dtype,tolerance", [("q15", 0.01), ("q7", 0.02), ("int8", 0.02)])
def test_near_constant_feature_is_folded(n_classes, dtype, tolerance):
    """The outside case, binary and 10 classes: the fixed model is as good as scikit-learn on the float32 inputs
    the MCU sees (better: the folded constant is the float model's own mean), and as good as scikit-learn with the
    feature held at its centre (all a float32 device can know of it). Before the fix: q15 0.46 / 0.11 here."""
    model, X_calib, _, X, y = fitted(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), n_classes)
    converted = tinygen.convert(model, dtype=dtype, calibration=X_calib)
    fixed = accuracy(converted.predict(X), y)
    sklearn_float32 = accuracy(model.predict(X.astype(np.float32).astype(np.float64)), y)
    held = X.copy()
    held[:, NEAR] = X_calib[:, NEAR].mean()
    assert fixed >= sklearn_float32 - tolerance, (fixed, sklearn_float32)
    assert abs(fixed - accuracy(model.predict(held), y)) <= tolerance
    assert fixed >= accuracy(model.predict(X), y) - 3 * tolerance  # the float64 model, which sees noise below 1e-8
    (ignored,) = converted.program.ignored_features
    assert (ignored["index"], ignored["name"], ignored["reason"]) == (NEAR, "x2", "float32")
    assert "'x2' is constant to float32 resolution (spread" in ignored["note"]
    assert np.all(converted.program.ops[1].weights[:, NEAR] == 0)  # dropped from the arithmetic, still an input
    assert converted.program.n_features == X.shape[1]


@pytest.mark.parametrize("dtype", ["q15", "q7"])
def test_near_constant_mlp_first_layer(dtype):
    """The same feature in front of an MLP: its first layer (scaler folded in) ignores it."""
    model, X_calib, _, X, y = fitted(make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=300, random_state=0)), 2)
    converted = tinygen.convert(model, dtype=dtype, calibration=X_calib)
    assert [f["index"] for f in converted.program.ignored_features] == [NEAR]
    held = X.copy()
    held[:, NEAR] = X_calib[:, NEAR].mean()
    assert abs(accuracy(converted.predict(X), y) - accuracy(model.predict(held), y)) <= 0.02


@pytest.mark.parametrize("target", ["host", "avr"])
@pytest.mark.parametrize("dtype", ["q15", "q7", "int8"])
def test_near_constant_c_equals_simulator(target, dtype):
    """C == simulator on every row, host and AVR, for the folded program (10 classes)."""
    if target == "avr":
        need_tool("avr-gcc")
        need_tool("simavr")
    model, X_calib, _, X, _ = fitted(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), 10)
    converted = tinygen.convert(model, dtype=dtype, calibration=X_calib)
    result = compare_on_target(converted, target, X, "nc")
    assert result["rows"] == len(X) and result["mismatches"] == 0, result
    assert (result["cycles_unit"] == "cycles") == (target == "avr")  # simavr ran it


def test_ignored_features_in_manifest_and_cli(tmp_path):
    """export prints one note per ignored feature and records it in the manifest (which loads it back); verify
    prints the same note and puts the list in its JSON."""
    model, X_calib, y_calib, X, _ = fitted(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), 2)
    save_model(model, tmp_path / "m.skops")
    csv = tmp_path / "d.csv"
    np.savetxt(csv, np.column_stack([X_calib, y_calib]), delimiter=",", comments="",
               header=",".join([f"x{i}" for i in range(X.shape[1])] + ["y"]), fmt="%.17g")
    run = subprocess.run([*tinygen_command(), "export", str(tmp_path / "m.skops"), "--dtype", "q15", "--calibration",
                          str(csv), "--label", "y", "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    notes = [line for line in run.stderr.splitlines() if line.startswith("note: feature")]
    assert len(notes) == 1 and notes[0].startswith("note: feature 'x2' is constant to float32 resolution (spread ")
    assert notes[0].endswith(" around 0.9966611): folded into the bias, the input is ignored")
    manifest = json.loads((tmp_path / "out" / "m.json").read_text())
    assert [(f["index"], f["name"], f["reason"]) for f in manifest["ignored_features"]] == [(2, "x2", "float32")]
    assert Program.load(tmp_path / "out" / "m.json").ignored_features == manifest["ignored_features"]
    header = (tmp_path / "out" / "m.h").read_text()
    assert "x[2] x2 (read but ignored: below its resolution), x[3] x3" in header
    run = subprocess.run([*tinygen_command(), "verify", str(tmp_path / "m.skops"), "--data", str(csv), "--label", "y",
                          "--json", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert f"  {notes[0]}" in run.stdout.splitlines()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ignored_features"] == manifest["ignored_features"] and report["diagnosis"] == []


def test_format_setter_without_reach_is_folded():
    """The feature whose weight per input step sets the layer's format, but whose weight x spread cannot move the
    output by half a step, is folded out (bias += w * centre); a feature that can move it stays."""
    X = np.column_stack([1e-9 * np.array([-1.0, 0.0, 1.0]), [0.5, 1.0, 2.0]])
    program = Program(dtype="float", task="regression", decision="value", n_features=2, feature_names=["tiny", "big"],
                      labels=None, ops=[FloatDense(np.array([[1e6, 3.0]]), np.array([0.25]))])
    folded, (ignored,) = fold_format_setter(program, X, input_steps=[2.0 ** -10, 2.0 ** -13], out_step=2.0 ** -4)
    assert (ignored.name, ignored.reason) == ("tiny", "output_step")
    assert folded.ops[0].weights.tolist() == [[0.0, 3.0]] and folded.ops[0].bias[0] == pytest.approx(0.25)
    assert fold_format_setter(program, X, input_steps=[2.0 ** -10, 2.0 ** -13], out_step=2.0 ** -20)[1] == []


def huge_weight_model():
    """A forced precision loss in q15: one feature (mostly 0, rare spikes) with a weight of 1e6 beside informative
    ones. (In q7 per-input weight formats now hold it: 8-bit inputs and weights leave an int32 accumulator 16 bits
    of span for column shifts; 16-bit ones leave none, so q15 still loses it. q31 keeps it.)"""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    X = rng.normal(0, 1, (400, 4)) + y[:, None] * 0.8
    X[:, 3] = np.where(rng.random(400) < 0.03, rng.normal(0, 1, 400), 0.0)
    model = LogisticRegression(max_iter=2000).fit(X, y)
    model.coef_[0, 3] = 1e6
    return model, X, y


def test_diagnosis_names_the_feature_and_the_fix(tmp_path):
    """verify fails on the accuracy drop and says why: the dense weights' format set by x3's 1e6 weight, the
    other weights rounded to 0, and what to do (rescale or drop x3, --dtype q31); export --calibration --label
    warns of the same."""
    model, X, y = huge_weight_model()
    report = verify(model, X, y, dtype="q15", targets=())
    assert not report["passed"]
    outlier, *_, wider = report["diagnosis"]
    assert outlier["feature"] == "feature 'x3'" and outlier["weight"] == 1e6 and outlier["rounded_to_zero"] == 1.0
    assert outlier["cause"].startswith("#1 dense weights: format set by feature 'x3' weight 1e+06,")
    assert "rescale or drop feature 'x3'" in outlier["fix"] and wider["fix"].startswith("--dtype q31")
    save_model(model, tmp_path / "h.skops")
    csv = tmp_path / "h.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", comments="", header="x0,x1,x2,x3,y", fmt="%.17g")
    run = subprocess.run([*tinygen_command(), "verify", str(tmp_path / "h.skops"), "--data", str(csv), "--label", "y",
                          "--dtype", "q15"], capture_output=True, text=True)
    assert run.returncode == 1
    assert "  diagnosis: #1 dense weights: format set by feature 'x3' weight 1e+06" in run.stdout
    assert "what to do: rescale or drop feature 'x3'" in run.stdout and "what to do: --dtype q31" in run.stdout
    run = subprocess.run([*tinygen_command(), "export", str(tmp_path / "h.skops"), "--dtype", "q15", "--calibration",
                          str(csv), "--label", "y", "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 0
    assert "warning: #1 dense weights: format set by feature 'x3'" in run.stderr


def test_no_diagnosis_when_the_drop_holds():
    """The same model in q31 keeps its accuracy: no diagnosis (a check that cannot fail would say nothing)."""
    model, X, y = huge_weight_model()
    report = verify(model, X, y, dtype="q31", targets=())
    assert report["passed"] and report["diagnosis"] == []


def test_report_marks_the_cause(tmp_path):
    """tinygen report's precision profile says the same as verify for the dtype that loses accuracy, and nothing
    for the one that keeps it."""
    from tinygen.report import write_report

    model, X, y = huge_weight_model()
    analysis = write_report(model, X, y, tmp_path / "r.html", dtypes=("q15", "q31"))
    assert analysis["results"]["q31"].diagnosis == []
    assert analysis["results"]["q15"].diagnosis[0]["feature"] == "feature 'x3'"
    page = (tmp_path / "r.html").read_text()
    assert page.count("Accuracy lost: #1 dense weights: format set by feature &#39;x3&#39; weight 1e+06") == 1


def test_diagnosis_names_degenerate_gaussian_variances():
    """Issue 14's GaussianNB case (digits, q15 0.80 -> 0.13): pixels constant within a class get var_smoothing's
    variance, whose terms set the score format; the diagnosis names those features and var_smoothing."""
    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB

    from tinygen.diagnose import diagnose
    from tinygen.frontend import to_float_program

    X, y = load_digits(return_X_y=True)
    model = GaussianNB().fit(X, y)
    program = tinygen.convert(model, dtype="q15", calibration=X).program
    cause = diagnose(to_float_program(model), program, X[:300])[0]
    assert cause["op"] == "#1 gaussian_jll" and cause["feature"].startswith("features 'x")
    assert cause["variance"] < 1e-6 and cause["ratio"] >= 8 and "var_smoothing" in cause["fix"]
