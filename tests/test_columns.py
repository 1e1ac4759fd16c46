"""Issue 13, features by name: CSV columns are matched to the model's feature names on every command that reads
a CSV (export --calibration, simulate, verify, report), with --by-position to opt out; `train` keeps the names,
holds out a split, selects columns; --delimiter/--decimal everywhere; missing values through the tree families;
the Python API checks DataFrame columns as scikit-learn does.

Outside cases: "verify on a CSV whose columns are in another order PASSes at accuracy 0.301" and "simulate writes
wrong rows although the manifest holds feature_names" (test_reversed_columns_*); "export --calibration with
reordered columns documents the wrong x[i] order" (test_export_calibration_reordered_documents_model_order); "the
Python API accepts a DataFrame with reordered columns" (test_api_*); "train drops column names (x[0] x0 ...)"
(test_train_keeps_names_in_header); "a second target column silently becomes a feature" (test_train_columns_drop);
"train and verify refuse missing values" (test_missing_values_*).
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import tinygen
from tinygen import data, modelio, train
from tinygen.cli import main

from conftest import error_of, need_tool


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, f"tinygen {args} exited {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.output
    return result


def one_error(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def rewrite(source, target, transform, delimiter=","):
    rows = list(csv.reader(open(source, newline="")))
    with open(target, "w", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(transform(rows))
    return target


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """breast_cancer as CSV, with its 30 feature columns reversed, and reversed with one column renamed; a logreg
    and a depth-6 tree trained on it by `tinygen train`."""
    root = tmp_path_factory.mktemp("columns")
    run("dataset", "breast_cancer", "-o", root / "bc.csv")
    rewrite(root / "bc.csv", root / "rev.csv", lambda rows: [r[:-1][::-1] + r[-1:] for r in rows])
    rewrite(root / "rev.csv", root / "renamed.csv",
            lambda rows: [["worst dimension"] + rows[0][1:]] + rows[1:])  # 'worst fractal dimension' renamed
    run("train", root / "bc.csv", "--label", "target", "--model", "logreg", "-o", root / "lr.skops")
    run("train", root / "bc.csv", "--label", "target", "--model", "tree", "-o", root / "tree.skops")
    return root


# ------------------------------------------------------------------------------------------------ acceptance


def test_reversed_columns_verify_same_result(ws, tmp_path):
    """Acceptance: the reversed CSV gives the same verify result (JSON) as the original, with one note line."""
    run("verify", ws / "lr.skops", "--data", ws / "bc.csv", "--label", "target", "--json", tmp_path / "a.json")
    result = run("verify", ws / "lr.skops", "--data", ws / "rev.csv", "--label", "target", "--json", tmp_path / "b.json")
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "rev.csv" in notes[0] and "matched by name" in notes[0]
    first, second = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    for report in (first, second):  # timings differ from run to run
        for check in report["checks"]:
            check.pop("seconds")
    assert first == second and first["passed"] and first["float_metric"] > 0.95


def test_reversed_columns_simulate_byte_identical(ws, tmp_path):
    """Acceptance: simulate writes byte-identical rows for the original and the reversed CSV."""
    run("export", ws / "lr.skops", "--calibration", ws / "bc.csv", "--label", "target", "-o", tmp_path / "out")
    run("simulate", tmp_path / "out" / "lr.json", ws / "bc.csv", "--label", "target", "-o", tmp_path / "a.csv")
    run("simulate", tmp_path / "out" / "lr.json", ws / "rev.csv", "--label", "target", "-o", tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


@pytest.mark.parametrize("command", ["verify", "simulate", "export"])
def test_renamed_column_is_exit_2_naming_it(ws, tmp_path, command):
    """Acceptance: the reversed CSV with one column renamed is exit 2 naming the missing and unexpected column."""
    if command == "verify":
        args = ["verify", ws / "lr.skops", "--data", ws / "renamed.csv", "--label", "target"]
    elif command == "simulate":
        run("export", ws / "tree.skops", "-o", tmp_path / "out")
        args = ["simulate", tmp_path / "out" / "tree.json", ws / "renamed.csv", "--label", "target"]
    else:
        args = ["export", ws / "lr.skops", "--calibration", ws / "renamed.csv", "--label", "target", "-o", tmp_path / "x"]
    message = one_error(run(*args, code=2))
    assert "missing: 'worst fractal dimension'" in message and "unexpected: 'worst dimension'" in message
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("dtype", ["q15", "auto"])
def test_export_calibration_reordered_documents_model_order(ws, tmp_path, dtype):
    """export --calibration with reordered columns writes the same header as with the columns in order: x[i] is
    the model's i-th feature (also with --dtype auto, which measures each dtype on the calibration rows)."""
    for csv_name in ("bc.csv", "rev.csv"):
        run("export", ws / "lr.skops", "--dtype", dtype, "--calibration", ws / csv_name, "--label", "target",
            "--name", "m", "-o", tmp_path / csv_name.replace(".csv", "_out"))
    header = (tmp_path / "bc_out" / "m.h").read_text()
    assert "x[0] mean radius" in header and "x[29] worst fractal dimension" in header
    assert (tmp_path / "rev_out" / "m.h").read_text() == header


# ------------------------------------------------------------------------------------------------ matching rules


def test_label_left_in_is_unexpected_and_suggests_label(ws, tmp_path):
    run("export", ws / "tree.skops", "-o", tmp_path / "out")
    message = one_error(run("simulate", tmp_path / "out" / "tree.json", ws / "bc.csv", code=2))
    assert "unexpected: 'target'" in message and "--label" in message


def test_header_not_naming_features_needs_by_position(ws, tmp_path):
    """A header that names none of the features is refused unless --by-position; then only the count counts."""
    generic = rewrite(ws / "bc.csv", tmp_path / "generic.csv",
                      lambda rows: [[f"c{i}" for i in range(30)] + ["target"]] + rows[1:])
    message = one_error(run("verify", ws / "lr.skops", "--data", generic, "--label", "target", code=2))
    assert "--by-position" in message
    result = run("verify", ws / "lr.skops", "--data", generic, "--label", "target", "--by-position")
    assert "PASS" in result.stdout and "note:" not in result.stderr
    short = rewrite(ws / "bc.csv", tmp_path / "short.csv", lambda rows: [r[1:] for r in rows])
    message = one_error(run("verify", ws / "lr.skops", "--data", short, "--label", "target", "--by-position", code=2))
    assert "29 feature columns but the model takes 30" in message


def test_model_fitted_on_arrays_is_positional_only_with_by_position(ws, tmp_path):
    """A model fitted on numpy arrays has no names (x0..x29): its CSV must name the columns so, or --by-position."""
    X, y = data.load_csv(ws / "bc.csv", "target").X, data.load_csv(ws / "bc.csv", "target").y
    modelio.save_model(train.fit(data.Dataset(X, y, data.generated_names(30), "target"), "tree"), tmp_path / "np.skops")
    message = one_error(run("verify", tmp_path / "np.skops", "--data", ws / "bc.csv", "--label", "target", code=2))
    assert "fitted without feature names" in message and "--by-position" in message
    run("verify", tmp_path / "np.skops", "--data", ws / "bc.csv", "--label", "target", "--by-position")
    named_x = rewrite(ws / "rev.csv", tmp_path / "x.csv", lambda rows: [[f"x{i}" for i in range(30)][::-1] + ["target"]]
                      + [r[:-1] + r[-1:] for r in rows[1:]])
    run("verify", tmp_path / "np.skops", "--data", named_x, "--label", "target")  # x29..x0: reordered by name
    # with --by-position the header documents the CSV's names for a model without its own
    run("export", tmp_path / "np.skops", "--calibration", ws / "bc.csv", "--label", "target", "--by-position",
        "--name", "np", "-o", tmp_path / "out")
    assert "x[0] mean radius" in (tmp_path / "out" / "np.h").read_text()


def test_load_for_model_unit(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("b,y,a\n2,0,1\n4,1,3\n")
    notes = []
    ds = data.load_for_model(path, "y", ["a", "b"], note=notes.append)
    assert ds.feature_names == ["a", "b"] and ds.X.tolist() == [[1, 2], [3, 4]] and len(notes) == 1
    ds = data.load_for_model(path, "y", ["a", "b"], fmt=data.CsvFormat(by_position=True), note=notes.append)
    assert ds.feature_names == ["a", "b"] and ds.X.tolist() == [[2, 1], [4, 3]] and len(notes) == 1
    message = error_of(data.load_for_model, path, "y", ["a", "c"])
    assert "missing: 'c'" in message and "unexpected: 'b'" in message


# ------------------------------------------------------------------------------------------------ delimiter / decimal


def test_european_csv_on_every_command(ws, tmp_path):
    """--delimiter ';' --decimal ',' reads a European CSV in train, export, simulate, verify and report."""
    euro = rewrite(ws / "bc.csv", tmp_path / "euro.csv", lambda rows: [[c.replace(".", ",") for c in r] for r in rows],
                   delimiter=";")
    opts = ["--delimiter", ";", "--decimal", ","]
    run("train", euro, "--label", "target", "--model", "tree", *opts, "-o", tmp_path / "t.skops")
    run("export", tmp_path / "t.skops", "--calibration", euro, "--label", "target", *opts, "-o", tmp_path / "out")
    run("export", ws / "tree.skops", "-o", tmp_path / "ref")
    sim = run("simulate", tmp_path / "out" / "t.json", euro, "--label", "target", *opts).stdout
    assert sim == run("simulate", tmp_path / "ref" / "tree.json", ws / "bc.csv", "--label", "target").stdout
    assert "PASS" in run("verify", tmp_path / "t.skops", "--data", euro, "--label", "target", *opts).stdout
    message = one_error(run("report", tmp_path / "t.skops", "--data", euro, "--label", "target", "--by-position",
                            *opts[:2], "-o", tmp_path / "r.html", code=2))
    assert "decimal" in message  # a decimal comma without --decimal ',' is named
    message = one_error(run("verify", tmp_path / "t.skops", "--data", euro, "--label", "target", code=2))
    assert "--delimiter ';'" in message
    message = one_error(run("simulate", tmp_path / "out" / "t.json", euro, "--delimiter", ":", code=2))
    assert "unsupported delimiter ':'" in message


def test_train_search_takes_the_csv_options(tmp_path):
    """train --search reads a European CSV with the same options, keeps the names, and prints commands with them."""
    need_tool("avr-gcc")
    need_tool("simavr")
    iris = data.load_bundled("iris")
    data.write_csv(iris, tmp_path / "iris.csv")
    euro = rewrite(tmp_path / "iris.csv", tmp_path / "eu.csv", lambda rows: [[c.replace(".", ",") for c in r] for r in rows],
                   delimiter=";")
    out = run("train", euro, "--label", "target", "--search", "--board", "uno", "--quick", "--delimiter", ";",
              "--decimal", ",", "-o", tmp_path / "best.skops").stdout
    assert "--delimiter ';' --decimal ','" in out.splitlines()[-1]
    assert list(modelio.load_model(tmp_path / "best.skops").feature_names_in_) == iris.feature_names


def test_csv_format_checks():
    assert "European" in error_of(data.CsvFormat, ",", ",")
    assert "decimal" in error_of(data.CsvFormat, ",", ":")
    assert data.CsvFormat(";", ",").number("1,5") == 1.5
    with pytest.raises(ValueError):
        data.CsvFormat(";", ",").number("1.234,5")


# ------------------------------------------------------------------------------------------------ train


def test_train_keeps_names_in_header(ws, tmp_path):
    """A tree trained by `tinygen train` and exported without --calibration documents the CSV's names."""
    assert list(modelio.load_model(ws / "tree.skops").feature_names_in_)[:2] == ["mean radius", "mean texture"]
    run("export", ws / "tree.skops", "-o", tmp_path / "out")
    header = (tmp_path / "out" / "tree.h").read_text()
    assert "x[0] mean radius" in header and "x0" not in header
    assert json.loads((tmp_path / "out" / "tree.json").read_text())["feature_names"][29] == "worst fractal dimension"
    run("train", ws / "bc.csv", "--label", "target", "--model", "tree", "--by-position", "-o", tmp_path / "p.skops")
    assert not hasattr(modelio.load_model(tmp_path / "p.skops"), "feature_names_in_")


def test_train_holdout_and_confusion_matrix(tmp_path):
    """train prints the held-out accuracy and a confusion matrix with the label names, and saves the model fitted
    on all rows; --test-size 0 skips; regressors get R^2."""
    iris = data.load_bundled("iris")
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    data.write_csv(data.Dataset(iris.X, names[iris.y], iris.feature_names, "species"), tmp_path / "iris.csv")
    out = run("train", tmp_path / "iris.csv", "--label", "species", "--model", "tree", "-o", tmp_path / "m.skops").stdout
    assert "held-out accuracy" in out and "on 30 rows" in out and "stratified" in out
    matrix = out.splitlines()[-3:]
    assert [line.split()[0] for line in matrix] == list(names)
    assert sum(int(v) for line in matrix for v in line.split()[1:]) == 30
    all_rows = train.fit(data.load_csv(tmp_path / "iris.csv", "species"), "tree")
    saved = modelio.load_model(tmp_path / "m.skops")
    assert saved.tree_.node_count == all_rows.tree_.node_count
    np.testing.assert_array_equal(saved.tree_.threshold, all_rows.tree_.threshold)
    out = run("train", tmp_path / "iris.csv", "--label", "species", "--model", "tree", "--test-size", "0",
              "-o", tmp_path / "m0.skops").stdout
    assert "held-out" not in out
    run("dataset", "diabetes", "-o", tmp_path / "diabetes.csv")
    out = run("train", tmp_path / "diabetes.csv", "--label", "target", "--model", "ridge", "-o", tmp_path / "r.skops").stdout
    assert "held-out R^2" in out and "confusion" not in out


def test_train_columns_drop(ws, tmp_path):
    """--columns keeps (in its order), --drop leaves out; unknown names, both together, the label: one-line errors."""
    two_targets = rewrite(ws / "bc.csv", tmp_path / "two.csv",
                          lambda rows: [r + (["target2"] if i == 0 else [r[-1]]) for i, r in enumerate(rows)])
    run("train", two_targets, "--label", "target", "--model", "tree", "--drop", "target2", "--test-size", "0",
        "-o", tmp_path / "d.skops")
    assert "target2" not in modelio.load_model(tmp_path / "d.skops").feature_names_in_
    run("train", two_targets, "--label", "target", "--model", "tree", "--columns", "worst area,mean radius",
        "-o", tmp_path / "c.skops")
    assert list(modelio.load_model(tmp_path / "c.skops").feature_names_in_) == ["worst area", "mean radius"]
    message = one_error(run("train", two_targets, "--label", "target", "--model", "tree", "--columns", "nope,mean radius,zz",
                            "-o", tmp_path / "x.skops", code=2))
    assert "'nope', 'zz'" in message and "--columns" in message
    message = one_error(run("train", two_targets, "--label", "target", "--model", "tree", "--columns", "mean radius",
                            "--drop", "target2", "-o", tmp_path / "x.skops", code=2))
    assert "together" in message
    message = one_error(run("train", two_targets, "--label", "target", "--model", "tree", "--drop", "target",
                            "-o", tmp_path / "x.skops", code=2))
    assert "label column" in message
    assert not (tmp_path / "x.skops").exists()


def test_dropped_columns_are_never_read(ws, tmp_path):
    """Outside case (aeon's Daphnet recording): a `timestamp` column of text beside the sensor channels. --drop
    (or --columns without it) leaves it out before any cell is read; verify on the same file names it as an
    unexpected column (not as a non-numeric value), since only train selects columns."""
    stamped = rewrite(ws / "bc.csv", tmp_path / "stamped.csv",
                      lambda rows: [(["timestamp"] if i == 0 else [f"1970-01-01 00:04:{i:02d}.000"]) + r
                                    for i, r in enumerate(rows)])
    run("train", stamped, "--label", "target", "--model", "tree", "--drop", "timestamp", "--test-size", "0",
        "-o", tmp_path / "t.skops")
    assert "timestamp" not in modelio.load_model(tmp_path / "t.skops").feature_names_in_
    run("train", stamped, "--label", "target", "--model", "tree", "--columns", "mean radius", "--test-size", "0",
        "-o", tmp_path / "c.skops")
    message = one_error(run("verify", tmp_path / "t.skops", "--data", stamped, "--label", "target", code=2))
    assert "unexpected: 'timestamp'" in message and "non-numeric" not in message


# ------------------------------------------------------------------------------------------------ missing values


def _with_holes(ws, tmp_path):
    """breast_cancer with ~10 % of the feature cells empty."""
    rng = np.random.default_rng(0)

    def blank(rows):
        return [rows[0]] + [[c if j == len(r) - 1 or rng.random() > 0.1 else "" for j, c in enumerate(r)]
                            for r in rows[1:]]

    return rewrite(ws / "bc.csv", tmp_path / "holes.csv", blank)


def _train_and_verify(csv_path, kind, model_path) -> dict:
    """`tinygen train` of `kind` on every row of csv_path, then `tinygen verify` of it on the same rows: the report."""
    need_tool("gcc")
    run("train", csv_path, "--label", "target", "--model", kind, "--test-size", "0", "-o", model_path)
    report_path = model_path.with_suffix(".report.json")
    run("verify", model_path, "--data", csv_path, "--label", "target", "--json", report_path)
    return json.loads(report_path.read_text())


def test_missing_values_hist_gbt_train_verify_simulate(ws, tmp_path):
    """Empty cells go through train, verify and simulate for a hist-gbt model: C == simulator on every row, and
    the simulator == scikit-learn on every row of the float32 inputs the MCU gets (on float64 inputs scikit-learn
    differs from itself on one row here: verify passes, and reports it as a float32-input disagreement)."""
    holes = _with_holes(ws, tmp_path)
    report = _train_and_verify(holes, "hist-gbt", tmp_path / "h.skops")
    assert report["passed"] and report["rows"] == 569 and report["targets"]["host"]["mismatches"] == 0
    assert report["agreement"] > 0.99 and report["float32_input_disagreements"] == 1
    run("export", tmp_path / "h.skops", "-o", tmp_path / "out")
    sim = run("simulate", tmp_path / "out" / "h.json", holes, "--label", "target").stdout.splitlines()
    X = data.load_csv(holes, "target", allow_missing=True).X
    assert np.isnan(X).sum() > 1000
    predicted = modelio.load_model(tmp_path / "h.skops").predict(X.astype(np.float32).astype(np.float64))
    assert [int(line.split(",")[0]) for line in sim[1:]] == predicted.tolist()


def test_missing_values_forest_verify_passes_and_logreg_refuses(ws, tmp_path):
    """A forest trained on empty cells passes verify on them (C == simulator == scikit-learn); a logreg still
    refuses them in train and verify with the one-line message naming column and line."""
    holes = _with_holes(ws, tmp_path)
    report = _train_and_verify(holes, "forest", tmp_path / "f.skops")
    assert report["passed"] and report["agreement"] == 1.0 and report["targets"]["host"]["mismatches"] == 0
    for command in (["train", holes, "--label", "target", "--model", "logreg", "-o", tmp_path / "l.skops"],
                    ["verify", ws / "lr.skops", "--data", holes, "--label", "target"]):
        message = one_error(run(*command, code=2))
        assert "missing (empty) value" in message and "line" in message


# ------------------------------------------------------------------------------------------------ Python API


class Frame:
    """The part of a pandas DataFrame that scikit-learn (and tinygen) look at: columns and __array__."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values, dtype=np.float64), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def test_api_checks_dataframe_columns(ws):
    """convert(calibration=df) and predict/scores(df) raise on other names or order, as scikit-learn does."""
    estimator = modelio.load_model(ws / "lr.skops")
    ds = data.load_csv(ws / "bc.csv", "target")
    good = Frame(ds.X, ds.feature_names)
    model = tinygen.convert(estimator, dtype="q15", calibration=good)
    np.testing.assert_array_equal(model.scores(good), model.scores(ds.X))
    reordered = Frame(ds.X[:, ::-1], ds.feature_names[::-1])
    assert "another order" in error_of(tinygen.convert, estimator, dtype="q15", calibration=reordered)
    assert "another order" in error_of(model.predict, reordered)
    renamed = Frame(ds.X, ["radius"] + ds.feature_names[1:])
    assert "missing: 'mean radius'" in error_of(model.scores, renamed)
    assert "2 names but the model takes 30" in error_of(tinygen.convert, estimator, "q15", ds.X, ["a", "b"])
    # a model fitted on arrays: the frame's names document the header
    bare = LogisticRegression(max_iter=5000).fit(ds.X, ds.y)
    assert tinygen.convert(bare, "q15", good).program.feature_names == ds.feature_names
