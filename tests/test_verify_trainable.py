"""`tinygen verify MODEL --trainable --updates UPDATES.csv --data DATA.csv`: the update stream on each target's C and
in the simulator, then the data rows; the weights byte for byte, the outputs on every row, and the accuracy against
scikit-learn's SGD on the same stream. Each check is shown to fail when its numbers are wrong."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tinygen import data, modelio, verify_trainable as verify_module
from tinygen.cli import main
from tinygen.targets import host

from conftest import need_tool


def write_case(tmp_path, loader=load_breast_cancer, make=lambda: LogisticRegression(max_iter=2000), split=(200, 400)):
    """MODEL fitted (on arrays) on the first rows, UPDATES the next ones, DATA the rest, as CSVs whose columns are
    named as scikit-learn names an array's features (x0, x1, ...)."""
    bundle = data.load_bundled(loader.__name__.removeprefix("load_"))
    X, y = bundle.X, bundle.y
    fit, stream = split
    estimator = make_pipeline(StandardScaler(), make()).fit(X[:fit], y[:fit])
    model = tmp_path / "model.skops"
    modelio.save_model(estimator, model)
    paths = {}
    for part, rows in (("updates", slice(fit, stream)), ("data", slice(stream, None))):
        paths[part] = tmp_path / f"{part}.csv"
        names = [f"x{i}" for i in range(X.shape[1])]
        data.write_csv(data.Dataset(X[rows], y[rows], names, bundle.label_name), paths[part])
    return model, paths["updates"], paths["data"], bundle.label_name


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, ["verify", *map(str, args)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def test_the_stream_on_host_and_avr_with_every_report_field(tmp_path):
    need_tool("avr-gcc")
    model, updates, rows, label = write_case(tmp_path)
    report_path = tmp_path / "report.json"
    result = run(model, "--trainable", "--updates", updates, "--data", rows, "--label", label, "--target", "host",
                 "--target", "avr", "--learning-rate", "2^-5", "--json", report_path)
    report = json.loads(report_path.read_text())
    assert report["passed"] and report["updates"] == 200 and report["rows"] == 169
    for field in ("accuracy_before", "accuracy_after", "sklearn_accuracy_after", "float_metric", "fixed_metric",
                  "agreement"):
        assert 0.0 <= report[field] <= 1.0, field
    assert report["schedule"]["k0"] == 5 and report["metric_name"] == "accuracy"
    curve = report["learning_curve"]
    assert curve[0] == {"updates": 0, "accuracy": report["accuracy_before"]}
    assert curve[-1] == {"updates": 200, "accuracy": report["accuracy_after"]} and len(curve) == 21
    for target in ("host", "avr"):
        result_t = report["targets"][target]
        assert (result_t["weight_mismatches"], result_t["mismatches"], result_t["steps"]) == (0, 0, 200)
    assert report["targets"]["avr"]["cycles_partial_fit"] > 0
    assert "avr: 200 steps, 0 saturations" in result.output and "cycles per partial_fit" in result.output


def test_regression_stream_reports_r2(tmp_path):
    model, updates, rows, label = write_case(tmp_path, load_diabetes, lambda: SGDRegressor(random_state=0), (200, 350))
    report_path = tmp_path / "report.json"
    run(model, "--trainable", "--updates", updates, "--data", rows, "--label", label, "--learning-rate", "2^-9",
        "--json", report_path)
    report = json.loads(report_path.read_text())
    assert report["metric_name"] == "r2" and report["passed"] and report["targets"]["host"]["weight_mismatches"] == 0


def test_weights_that_differ_on_the_device_fail_verify(tmp_path, monkeypatch):
    model, updates, rows, label = write_case(tmp_path)
    measure = host.measure

    def one_weight_off(*args, **kwargs):
        measured = measure(*args, **kwargs)
        flipped = bytearray(measured.weights)
        flipped[5] ^= 1
        measured.weights = bytes(flipped)
        return measured
    monkeypatch.setattr(host, "measure", one_weight_off)
    result = run(model, "--trainable", "--updates", updates, "--data", rows, "--label", label, code=1)
    assert "FAIL  weights on host: 1 of the trainable int32 values differ" in result.output
    assert "verify failed: weights on host" in result.stderr


def test_learning_worse_than_float_sgd_fails_verify(tmp_path, monkeypatch):
    """A float reference that is right on every row: the device's learning is then too far behind it."""
    model, updates, rows, label = write_case(tmp_path)
    reference = verify_module.sgd_reference.reference_sgd

    class Oracle:
        def __init__(self, truth):
            self.truth = truth

        def predict(self, X):
            return self.truth[: len(X)]
    truth = data.read_table(rows).labels(label)

    def oracle(*args):
        transform, _ = reference(*args)
        return transform, Oracle(np.asarray(truth, dtype=np.int64))
    monkeypatch.setattr(verify_module.sgd_reference, "reference_sgd", oracle)
    result = run(model, "--trainable", "--updates", updates, "--data", rows, "--label", label,
                 "--max-accuracy-drop", "0.001", code=1)
    assert "FAIL  learning vs float SGD" in result.output


@pytest.mark.parametrize("extra, message", [
    (["--updates", "U"], "--updates, --learning-rate and --l2 are for verify --trainable"),
    (["--trainable"], "verify --trainable needs --updates UPDATES.csv and --label COLUMN"),
    (["--trainable", "--updates", "U", "--board", "uno"], "--board is not for verify --trainable"),
    (["--trainable", "--updates", "U", "--dtype", "q7"], "--dtype is not for verify --trainable"),
])
def test_bad_trainable_options_are_one_line_errors(tmp_path, extra, message):
    model, updates, rows, label = write_case(tmp_path)
    extra = [str(updates) if value == "U" else value for value in extra]
    result = run(model, "--data", rows, "--label", label, *extra, code=2)
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_a_frozen_manifest_and_a_manifest_with_its_own_rate(tmp_path):
    model, updates, rows, label = write_case(tmp_path)
    frozen, trainable = tmp_path / "frozen", tmp_path / "trainable"
    assert CliRunner().invoke(main, ["export", str(model), "--calibration", str(updates), "--label", label, "-o",
                                     str(frozen)]).exit_code == 0
    assert CliRunner().invoke(main, ["export", str(model), "--trainable", "--calibration", str(updates), "--label",
                                     label, "-o", str(trainable)]).exit_code == 0
    result = run(frozen / "model.json", "--trainable", "--updates", updates, "--data", rows, "--label", label, code=2)
    assert "was not exported trainable" in result.stderr
    result = run(trainable / "model.json", "--trainable", "--updates", updates, "--data", rows, "--label", label,
                 "--l2", "0.001", code=2)
    assert "holds its learning rate" in result.stderr
    result = run(trainable / "model.json", "--trainable", "--updates", updates, "--data", rows, "--label", label,
                 "--model", model)
    assert "PASS  header matches manifest" in result.output and "PASS  weights on host" in result.output
