"""`tinygen bench` for trees: the cost table per target x dtype x layout x bins, with C-vs-simulator
mismatches and agreement with scikit-learn, and one-line errors for combinations that mean nothing.
The numbers themselves are printed, never asserted (DESIGN.md); the tests check that every row is there,
that its variant is the one asked for, and that the C equals the simulator on every row."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from tinygen.cli import main

from conftest import need_tool

COLUMNS = ["target", "dtype", "layout", "input", "rows", "mismatch", "agree", "flash B", "RAM B", "stack B", "mean",
           "min", "max", "unit"]


def bench(*args, code: int = 0):
    result = CliRunner().invoke(main, ["bench", *map(str, args)])
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    return result


def table(stdout: str) -> list[dict]:
    """The cost table's rows as {column: cell} ("inline (auto)" is one cell)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("target"))
    header = lines[start]
    for column in COLUMNS:
        assert column in header, f"no column {column!r} in {header!r}"
    one_word = {name: name.replace(" ", "_") for name in COLUMNS}
    for name, word in one_word.items():
        header = header.replace(name, word)
    assert header.split() == list(one_word.values())
    return [dict(zip(COLUMNS, line.replace(" (auto)", "(auto)").split())) for line in lines[start + 1:]]


def test_tree_table_on_host_has_every_layout_and_bins_variant():
    result = bench("--target", "host", "--model", "RandomForest", "--dataset", "breast_cancer", "--dtype", "exact",
                   "--layout", "inline", "--layout", "table", "--bins", "on", "--bins", "off")
    assert "RandomForest on breast_cancer, fitted on all 569 rows" in result.stdout
    rows = table(result.stdout)
    # bins off: inline code of few splits and tables test the raw float32 bits (no key pass)
    assert [(r["target"], r["dtype"], r["layout"], r["input"]) for r in rows] == [
        ("host", "exact", "inline", "bins"), ("host", "exact", "inline", "bits"),
        ("host", "exact", "table", "bins"), ("host", "exact", "table", "bits")]
    for row in rows:
        assert (row["rows"], row["mismatch"], row["agree"]) == ("569", "0", "569/569")  # exact: every row, as sklearn
        assert int(row["flash B"]) > 0 and row["RAM B"] == "0"
        assert row["stack B"] == row["mean"] == row["unit"] == "-"  # the host measures sizes only


def test_tree_defaults_exact_and_auto_and_quantized_trees_read_x_q():
    rows = table(bench("--target", "host", "--model", "GradientBoostingRegressor", "--dataset", "diabetes",
                       "--rows", "40").stdout)
    assert len(rows) == 1 and rows[0]["dtype"] == "exact"
    assert rows[0]["layout"] in ("inline(auto)", "table(auto)") and rows[0]["input"].endswith("(auto)")
    assert (rows[0]["rows"], rows[0]["mismatch"], rows[0]["agree"]) == ("40", "0", "40/40")

    rows = table(bench("--target", "host", "--model", "DecisionTree", "--dtype", "q15", "--layout", "table",
                       "--rows", "40").stdout)
    assert [(r["dtype"], r["layout"], r["input"], r["mismatch"]) for r in rows] == [("q15", "table", "x_q", "0")]


def test_linear_table_keeps_its_dtypes_without_layouts():
    rows = table(bench("--target", "host", "--model", "LogisticRegression", "--rows", "20").stdout)
    assert [(r["dtype"], r["layout"], r["input"], r["mismatch"]) for r in rows] == [
        ("q15", "-", "x_q", "0"), ("q7", "-", "x_q", "0"), ("float32", "-", "float", "0")]


def test_tree_table_on_avr_measures_stack_and_cycles():
    need_tool("avr-gcc")
    rows = table(bench("--target", "avr", "--model", "RandomForest", "--layout", "table", "--bins", "off",
                       "--rows", "20").stdout)
    assert [(r["target"], r["layout"], r["input"], r["rows"], r["mismatch"], r["agree"], r["unit"]) for r in rows] == [
        ("avr", "table", "bits", "20", "0", "20/20", "cycles")]
    assert int(rows[0]["flash B"]) > 0 and int(rows[0]["stack B"]) > 0 and float(rows[0]["mean"]) > 0


@pytest.mark.parametrize("args, message", [
    (["--target", "host", "--layout", "inline"], "--layout and --bins are for tree models"),
    (["--target", "host", "--bins", "off"], "--layout and --bins are for tree models"),
    (["--target", "host", "--dtype", "exact"], "dtype exact is for tree models"),
    (["--target", "host", "--model", "RandomForest", "--dtype", "q7", "--bins", "on"], "threshold bins are for dtype exact"),
    (["--target", "host", "--model", "RandomForest", "--dtype", "q7", "--bins", "off"], "threshold bins are for dtype exact"),
    (["--target", "host", "--model", "RandomForest", "--dtype", "q31"], "trees export with dtype exact"),
    (["--target", "host", "--model", "RandomForest", "--dataset", "diabetes"], "regressors go with diabetes"),
    (["--target", "host", "--model", "Forest"], "unknown bench model 'Forest'"),
    (["--model", "RandomForest", "--layout", "table"], "are for the cost table: add --target T"),
])
def test_bad_combinations_are_one_line_errors(args, message):
    result = bench(*args, code=2)
    assert result.stdout == ""  # nothing printed, nothing built before the error
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
