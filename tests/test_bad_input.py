"""Every bad input gets one line on stderr starting with "error:", exit code 2, no traceback, and leaves no
output file behind. The Python API raises TinygenError (never another exception type) for the same mistakes.
"""

from __future__ import annotations

import json
import subprocess

import joblib
import numpy as np
import pytest
import skops.io
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import tinygen
from tinygen.cli import main
from tinygen.data import load_csv
from tinygen.emit import check_name
from tinygen.modelio import load_model
from tinygen.train import KINDS

from conftest import tinygen_command


def fails(*args) -> str:
    """Run the CLI in-process, expecting a bad-input failure; return the one error line."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    shown = f"tinygen {' '.join(map(str, args))}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert result.exit_code == 2, f"exit {result.exit_code} ({result.exception!r}) for {shown}"
    assert "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert result.stdout == "", shown
    return lines[0]


def succeeds(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, f"{args}: {result.stderr} {result.exception!r}"
    return result.stdout


def nothing_in(directory) -> bool:
    """True when directory holds nothing (no output, no leftover temporary file)."""
    return not any(directory.iterdir())


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Inputs: good and bad CSVs, a trained model, and model files that must be refused."""
    root = tmp_path_factory.mktemp("bad")
    succeeds("dataset", "breast_cancer", "-o", root / "data.csv")
    succeeds("dataset", "wine", "-o", root / "wine.csv")
    succeeds("train", root / "data.csv", "--label", "target", "--model", "logreg", "-o", root / "m.skops")
    succeeds("export", root / "m.skops", "--dtype", "q15", "--calibration", root / "data.csv", "--label", "target",
             "--name", "good", "-o", root / "out")
    dataset = load_csv(root / "data.csv", "target")
    X, y = dataset.X, dataset.y
    estimator = load_model(root / "m.skops")

    files = {
        "empty.csv": b"",
        "header_only.csv": b"a,b,target\n",
        "ragged.csv": b"a,b,target\n1,2,0\n3,4\n5,6,1\n",
        "latin1.csv": "caf\u00e9,b,target\n1,2,0\n3,4,1\n".encode("latin-1"),
        "text_feature.csv": b"a,b,target\n1,2,0\n3,hello,1\n5,6,0\n",
        "nan_empty.csv": b"a,b,target\n1,2,0\n3,,1\n5,6,0\n4,4,1\n",
        "nan_text.csv": b"a,b,target\n1,2,0\n3,nan,1\n5,6,0\n4,4,1\n",
        "not_json.json": b"this is { not json",
        "not_manifest.json": json.dumps({"format": "something-else", "version": 1}).encode(),
        "json_list.json": b"[1, 2, 3]",
        "damaged_ops.json": json.dumps({"format": "tinygen-model", "version": 1, "ops": [1]}).encode(),
        "future.json": json.dumps({"format": "tinygen-model", "version": 99, "ops": []}).encode(),
    }
    good = json.loads((root / "out" / "good.json").read_text())
    files["no_ops.json"] = json.dumps({**good, "ops": []}).encode()
    files["wrong_width.json"] = json.dumps({**good, "n_features": 5}).encode()
    for name, content in files.items():
        (root / name).write_bytes(content)

    skops.io.dump(LogisticRegression(), root / "unfitted.skops")
    skops.io.dump(Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]), root / "unfitted_pipe.skops")
    skops.io.dump(KNeighborsClassifier().fit(X, y), root / "knn.skops")
    skops.io.dump(SVC().fit(X, y), root / "svc.skops")
    skops.io.dump(KNeighborsClassifier(algorithm="kd_tree").fit(X, y), root / "kdtree.skops")
    joblib.dump(estimator, root / "m.joblib")
    joblib.dump(estimator, root / "m.pkl")
    return root


@pytest.fixture
def out(tmp_path):
    """An empty directory for outputs; every failing command must leave it empty."""
    directory = tmp_path / "outputs"
    directory.mkdir()
    yield directory
    assert nothing_in(directory), f"left behind: {sorted(p.name for p in directory.iterdir())}"


# ------------------------------------------------------------------------------------------------ train


def test_unknown_model_kind_lists_kinds(ws, out):
    message = fails("train", ws / "data.csv", "--label", "target", "--model", "knn", "-o", out / "m.skops")
    assert "'knn'" in message
    for kind in KINDS:
        assert kind in message


@pytest.mark.parametrize("command", ["train", "verify", "export"])
def test_missing_label_column(ws, out, command):
    if command == "train":
        message = fails("train", ws / "data.csv", "--label", "Target", "--model", "logreg", "-o", out / "m.skops")
    elif command == "verify":
        message = fails("verify", ws / "m.skops", "--data", ws / "data.csv", "--label", "Target",
                        "--json", out / "report.json")
    else:
        message = fails("export", ws / "m.skops", "--calibration", ws / "data.csv", "--label", "Target",
                        "-o", out / "model")
    assert "'Target' not found" in message and "did you mean 'target'" in message


def test_non_numeric_feature(ws, out):
    message = fails("train", ws / "text_feature.csv", "--label", "target", "--model", "logreg", "-o", out / "m.skops")
    assert "non-numeric" in message and "'b'" in message and "'hello'" in message and "line 3" in message


@pytest.mark.parametrize("csv_name", ["nan_empty.csv", "nan_text.csv"])
def test_nan_feature_in_training_data(ws, out, csv_name):
    message = fails("train", ws / csv_name, "--label", "target", "--model", "logreg", "-o", out / "m.skops")
    assert "'b'" in message and "line 3" in message
    assert "missing" in message or "non-finite" in message


@pytest.mark.parametrize("csv_name, words", [
    ("empty.csv", ["empty"]),
    ("header_only.csv", ["no data rows"]),
    ("ragged.csv", ["line 3", "2 fields", "3 columns"]),
    ("latin1.csv", ["not UTF-8", "0xe9"]),
])
def test_broken_csv(ws, out, csv_name, words):
    for message in (
        fails("train", ws / csv_name, "--label", "target", "--model", "logreg", "-o", out / "m.skops"),
        fails("simulate", ws / "out" / "good.json", ws / csv_name, "--label", "target", "-o", out / "sim.csv"),
        fails("export", ws / "m.skops", "--calibration", ws / csv_name, "--label", "target", "-o", out / "model"),
    ):
        assert csv_name in message
        for word in words:
            assert word in message


def test_missing_data_file(ws, out):
    message = fails("train", ws / "nope.csv", "--label", "target", "--model", "logreg", "-o", out / "m.skops")
    assert "does not exist" in message


def test_train_output_in_missing_directory(ws, out):
    message = fails("train", ws / "data.csv", "--label", "target", "--model", "logreg",
                    "-o", out / "no" / "such" / "m.skops")
    assert "does not exist" in message


# ------------------------------------------------------------------------------------------------ wrong feature count


def test_wrong_feature_count_at_simulate(ws, out):
    message = fails("simulate", ws / "out" / "good.json", ws / "wine.csv", "--label", "target", "-o", out / "sim.csv")
    assert "13" in message and "30" in message


def test_wrong_feature_count_at_verify(ws, out):
    message = fails("verify", ws / "m.skops", "--data", ws / "wine.csv", "--label", "target",
                    "--json", out / "report.json")
    assert "13" in message and "30" in message


def test_wrong_feature_count_at_export(ws, out):
    message = fails("export", ws / "m.skops", "--calibration", ws / "wine.csv", "--label", "target", "-o", out / "model")
    assert "13" in message and "30" in message


def test_label_column_left_in_at_simulate_gets_a_hint(ws, out):
    message = fails("simulate", ws / "out" / "good.json", ws / "data.csv", "-o", out / "sim.csv")
    assert "--label" in message


# ------------------------------------------------------------------------------------------------ model files


@pytest.mark.parametrize("model", ["unfitted.skops", "unfitted_pipe.skops"])
def test_unfitted_estimator_at_export(ws, out, model):
    message = fails("export", ws / model, "--dtype", "float32", "-o", out / "model")
    assert "not fitted" in message


@pytest.mark.parametrize("model, kind", [("knn.skops", "KNeighborsClassifier"), ("svc.skops", "SVC")])
def test_unsupported_estimator_at_export(ws, out, model, kind):
    message = fails("export", ws / model, "--calibration", ws / "data.csv", "--label", "target", "-o", out / "model")
    assert f"{kind} is not supported" in message
    for supported in ("LogisticRegression", "Ridge", "LinearSVC", "Pipeline", "StandardScaler"):
        assert supported in message


@pytest.mark.parametrize("suffix", [".pkl", ".joblib"])
def test_pickle_needs_allow_pickle(ws, out, suffix):
    model = ws / f"m{suffix}"
    message = fails("export", model, "--calibration", ws / "data.csv", "--label", "target", "-o", out / "model")
    assert "--allow-pickle" in message and "pickle" in message
    message = fails("verify", model, "--data", ws / "data.csv", "--label", "target", "--json", out / "report.json")
    assert "--allow-pickle" in message


@pytest.mark.parametrize("suffix", [".pkl", ".joblib"])
def test_pickle_works_with_allow_pickle(ws, tmp_path, suffix):
    succeeds("export", ws / f"m{suffix}", "--calibration", ws / "data.csv", "--label", "target", "--allow-pickle",
             "--name", "pickled", "-o", tmp_path)
    pickled = json.loads((tmp_path / "pickled.json").read_text())
    good = json.loads((ws / "out" / "good.json").read_text())
    assert pickled.pop("name") == "pickled" and good.pop("name") == "good"
    assert pickled == good  # the same model as the .skops one


def test_train_refuses_to_write_pickle(ws, out):
    message = fails("train", ws / "data.csv", "--label", "target", "--model", "logreg", "-o", out / "m.pkl")
    assert "--allow-pickle" in message


def test_untrusted_type_in_skops_is_refused(ws, out):
    message = fails("export", ws / "kdtree.skops", "--calibration", ws / "data.csv", "--label", "target",
                    "-o", out / "model")
    assert "refusing" in message and "sklearn.neighbors._kd_tree.KDTree" in message
    message = fails("verify", ws / "kdtree.skops", "--data", ws / "data.csv", "--label", "target",
                    "--json", out / "report.json")
    assert "sklearn.neighbors._kd_tree.KDTree" in message


def test_model_file_not_a_model(ws, out):
    message = fails("export", ws / "data.csv", "--dtype", "float32", "-o", out / "model")
    assert "unknown file type" in message and ".skops" in message
    fake = out.parent / "fake.skops"
    fake.write_text("not a zip")
    message = fails("export", fake, "--dtype", "float32", "-o", out / "model")
    assert "not a readable .skops" in message


# ------------------------------------------------------------------------------------------------ export options


@pytest.mark.parametrize("name, suggestion", [
    ("my-model", "my_model"), ("1abc", "m_1abc"), ("int", "int_model"), ("a__b", "a_b"), ("", "model"),
])
def test_invalid_name_is_refused_with_a_suggestion(ws, out, name, suggestion):
    message = fails("export", ws / "m.skops", "--calibration", ws / "data.csv", "--label", "target",
                    "--name", name, "-o", out / "model")
    assert repr(name) in message and f"try --name {suggestion}" in message
    assert check_name(suggestion) == suggestion  # the suggestion itself is accepted


@pytest.mark.parametrize("dtype", ["q31", "q15", "q7"])
def test_fixed_point_export_without_calibration(ws, out, dtype):
    message = fails("export", ws / "m.skops", "--dtype", dtype, "-o", out / "model")
    assert dtype in message and "--calibration" in message


def test_unknown_format(ws, out):
    message = fails("export", ws / "m.skops", "--dtype", "float32", "--format", "makefile", "-o", out / "model")
    assert "'makefile'" in message and "header" in message and "arduino" in message


def test_unknown_dtype(ws, out):
    message = fails("export", ws / "m.skops", "--dtype", "q3", "-o", out / "model")
    assert "'q3'" in message and "q15" in message


def test_output_directory_is_an_existing_file(ws, out):
    target = out.parent / "occupied"
    target.write_text("keep me\n")
    message = fails("export", ws / "m.skops", "--calibration", ws / "data.csv", "--label", "target", "-o", target)
    assert "occupied" in message and "is a file" in message
    assert target.read_text() == "keep me\n"


def test_output_file_is_an_existing_directory(ws, out):
    message = fails("simulate", ws / "out" / "good.json", ws / "data.csv", "--label", "target", "-o", out)
    assert "directory" in message


# ------------------------------------------------------------------------------------------------ verify options


def test_verify_unknown_target(ws, out):
    message = fails("verify", ws / "m.skops", "--data", ws / "data.csv", "--label", "target", "--target", "esp32",
                    "--json", out / "report.json")
    assert "'esp32'" in message and "avr" in message


def test_verify_needs_label(ws, out):
    message = fails("verify", ws / "m.skops", "--data", ws / "data.csv", "--json", out / "report.json")
    assert "--label" in message


# ------------------------------------------------------------------------------------------------ manifests


@pytest.mark.parametrize("manifest, words", [
    ("not_json.json", ["cannot read manifest"]),
    ("not_manifest.json", ["not a tinygen manifest"]),
    ("json_list.json", ["not a tinygen manifest"]),
    ("damaged_ops.json", ["damaged"]),
    ("future.json", ["version 99"]),
    ("no_ops.json", ["damaged", "no ops"]),
    ("wrong_width.json", ["damaged", "takes 30 values but gets 5"]),
    ("missing.json", ["not found"]),
    ("data.csv", ["cannot read manifest"]),
])
def test_bad_manifest_at_simulate(ws, out, manifest, words):
    message = fails("simulate", ws / manifest, ws / "data.csv", "--label", "target", "-o", out / "sim.csv")
    for word in words:
        assert word in message


# ------------------------------------------------------------------------------------------------ a real process


def test_bad_input_as_real_process(ws, out):
    proc = subprocess.run([*tinygen_command(), "export", str(ws / "m.skops"), "--name", "my-model", "-o", str(out / "model")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


# ------------------------------------------------------------------------------------------------ Python API


def api_error(func, *args, **kwargs) -> str:
    with pytest.raises(Exception) as info:
        func(*args, **kwargs)
    assert type(info.value) is tinygen.TinygenError, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_api_errors(ws, tmp_path):
    X = load_csv(ws / "data.csv", "target").X
    assert "not fitted" in api_error(tinygen.convert, LogisticRegression(), dtype="float32")
    assert "not fitted" in api_error(tinygen.convert, LogisticRegression(), dtype="q15", calibration=X)
    unsupported = load_model(ws / "knn.skops")
    assert "KNeighborsClassifier is not supported" in api_error(tinygen.convert, unsupported, dtype="q15", calibration=X)
    assert "not supported" in api_error(tinygen.convert, "not an estimator")
    fitted = load_model(ws / "m.skops")
    assert "calibration" in api_error(tinygen.convert, fitted, dtype="q15")
    assert "calibration" in api_error(tinygen.convert, fitted)  # q15 is the default
    assert "30 features" in api_error(tinygen.convert, fitted, dtype="q15", calibration=X[:, :5])
    assert "unknown dtype" in api_error(tinygen.convert, fitted, dtype="q16", calibration=X)
    model = tinygen.convert(fitted, dtype="q15", calibration=X)
    assert "features" in api_error(model.predict, np.zeros((3, 29)))
    directory = tmp_path / "api"
    assert "try --name my_model" in api_error(model.save, directory, name="my-model")
    assert not directory.exists()
    assert "not found" in api_error(tinygen.load, tmp_path / "missing.json")
