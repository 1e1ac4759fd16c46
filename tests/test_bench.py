"""`tinygen bench`: the cost table per target x dtype (x layout x bins for trees), with C-vs-simulator
mismatches and agreement with scikit-learn; for MLPs cycles per MAC and the speed-up over float32; the
accuracy table of linear models, MLPs and GaussianNB; the window programs' tables on bundled raw sensor data
(--dataset basicmotions); one-line errors for combinations that mean nothing.
The numbers themselves are printed, never asserted (DESIGN.md); the tests check that every row is there,
that its variant is the one asked for, and that the C equals the simulator on every row."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from tinygen.cli import main

from conftest import need_tool

TREE_COLUMNS = ["target", "dtype", "layout", "input", "rows", "mismatch", "agree", "flash B", "RAM B", "stack B", "mean",
                "min", "max", "unit"]
COLUMNS = [c for c in TREE_COLUMNS if c != "layout"]  # linear models and GaussianNB: one layout
MLP_COLUMNS = [*COLUMNS[:-1], "per MAC", "vs float32", "unit"]


def bench(*args, code: int = 0):
    result = CliRunner().invoke(main, ["bench", *map(str, args)])
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    return result


def table(stdout: str, columns=TREE_COLUMNS) -> list[dict]:
    """The cost table's rows as {column: cell} ("inline (auto)" is one cell), its header exactly `columns`."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("target"))
    header = lines[start]
    for column in columns:
        assert column in header, f"no column {column!r} in {header!r}"
    one_word = {name: name.replace(" ", "_") for name in columns}
    for name, word in one_word.items():
        header = header.replace(name, word)
    assert header.split() == list(one_word.values())
    rows = [dict(zip(columns, line.replace(" (auto)", "(auto)").split())) for line in lines[start + 1:]]
    assert all(len(row) == len(columns) for row in rows)
    return rows


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
    rows = table(bench("--target", "host", "--model", "LogisticRegression", "--rows", "20").stdout, COLUMNS)
    assert [(r["dtype"], r["input"], r["mismatch"]) for r in rows] == [
        ("q15", "x_q", "0"), ("q7", "x_q", "0"), ("float32", "float", "0")]


def test_mlp_table_on_avr_has_macs_cost_per_mac_and_speed_up():
    """The breast_cancer acceptance network in every default dtype on the Uno: C == simulator on every row."""
    need_tool("avr-gcc")
    result = bench("--target", "avr", "--model", "MLP16x8", "--rows", "12")
    assert "MLP16x8 on breast_cancer (StandardScaler folded in), 30-16-8-1 relu: 616 MACs per inference" in result.stdout
    rows = table(result.stdout, MLP_COLUMNS)
    assert [(r["target"], r["dtype"], r["rows"], r["mismatch"], r["unit"]) for r in rows] == [
        ("avr", dtype, "12", "0", "cycles") for dtype in ("q15", "q7", "float32", "int8")]
    for row in rows:
        assert row["agree"].endswith("/12") and int(row["flash B"]) > 0 and int(row["stack B"]) > 0
        assert float(row["per MAC"]) > 0 and row["vs float32"].endswith("x") and float(row["vs float32"][:-1]) > 0
    assert rows[2]["vs float32"] == "1.0x"  # float32 against itself


def test_mlp_speed_up_needs_float32_in_the_run():
    """digits' (32,) network on a QEMU target, without float32: no speed-up to show, instructions per MAC."""
    need_tool("arm-none-eabi-gcc")
    need_tool("qemu-system-arm")
    result = bench("--target", "cortex-m4", "--model", "MLP32", "--dataset", "digits", "--dtype", "q7", "--dtype", "int8",
                   "--rows", "5")
    assert "64-32-10 relu: 2368 MACs per inference" in result.stdout
    rows = table(result.stdout, MLP_COLUMNS)
    assert [(r["dtype"], r["mismatch"], r["vs float32"], r["unit"]) for r in rows] == [
        ("q7", "0", "-", "instructions"), ("int8", "0", "-", "instructions")]
    assert all(float(r["per MAC"]) > 0 for r in rows)


def test_gaussian_nb_and_mlp_regressor_tables():
    rows = table(bench("--target", "host", "--model", "GaussianNB", "--dataset", "iris").stdout, COLUMNS)
    assert [(r["dtype"], r["rows"], r["mismatch"]) for r in rows] == [("q15", "150", "0"), ("q7", "150", "0"),
                                                                      ("float32", "150", "0")]
    result = bench("--target", "host", "--model", "MLPRegressor16x8", "--dataset", "diabetes", "--rows", "30")
    assert "10-16-8-1 relu: 296 MACs" in result.stdout and "within 1 % of the float predictions' range" in result.stdout
    rows = table(result.stdout, MLP_COLUMNS)
    assert [(r["dtype"], r["mismatch"], r["per MAC"], r["vs float32"]) for r in rows] == [
        (dtype, "0", "-", "-") for dtype in ("q15", "q7", "float32", "int8")]  # the host measures sizes only


def test_accuracy_table_has_the_networks_and_naive_bayes():
    lines = bench().stdout.splitlines()
    assert lines[0].split()[:10] == ["data", "set", "model", "metric", "float", "float32", "q31", "q15", "q7", "int8"]
    cells = {tuple(line.split()[:2]): line.split()[2:] for line in lines[1:]}
    assert len(cells) == len(lines) - 1 == 22
    # metric, float, then float32 q31 q15 q7 int8: "-" where the family has no such dtype
    for key, metric, missing in [(("breast_cancer", "MLP16x8"), "accuracy", {"q31"}), (("digits", "MLP32"), "accuracy", {"q31"}),
                                 (("diabetes", "MLPRegressor16x8"), "r2", {"q31"}),
                                 *[((d, "GaussianNB"), "accuracy", {"q31", "int8"}) for d in ("iris", "wine", "breast_cancer")],
                                 (("wine", "LogisticRegression"), "accuracy", set())]:
        row = cells[key]
        assert row[0] == metric and 0 < float(row[1]) <= 1
        for dtype, cell in zip(("float32", "q31", "q15", "q7", "int8"), row[2:]):
            assert (cell == "-") == (dtype in missing), (key, dtype, cell)
            assert cell == "-" or abs(float(cell)) < 0.1


def test_tree_table_on_avr_measures_stack_and_cycles():
    need_tool("avr-gcc")
    rows = table(bench("--target", "avr", "--model", "RandomForest", "--layout", "table", "--bins", "off",
                       "--rows", "20").stdout)
    assert [(r["target"], r["layout"], r["input"], r["rows"], r["mismatch"], r["agree"], r["unit"]) for r in rows] == [
        ("avr", "table", "bits", "20", "0", "20/20", "cycles")]
    assert int(rows[0]["flash B"]) > 0 and int(rows[0]["stack B"]) > 0 and float(rows[0]["mean"]) > 0


WINDOW_COLUMNS = ["target", "dtype", "windows", "mismatch", "agree", "flash B", "RAM B", "stack B", "mean", "min", "max",
                  "unit"]


def test_window_cost_table_streams_the_cost_case_on_avr():
    """Issue 16's cost case (BasicMotions' accelerometer, 64/32, statistics and fft8, a 10 x depth-6 forest, q15),
    its first windows through the Uno's int16 stream and the host, q15 and q7: C == simulator on every window."""
    need_tool("avr-gcc")
    result = bench("--dataset", "basicmotions", "--target", "host", "--target", "avr", "--dtype", "q15", "--dtype", "q7",
                   "--rows", "6")
    assert "RandomForest on basicmotions: acc_x, acc_y, acc_z; window 64, hop 32; features " \
           "mean,std,min,max,rms,crossings,fft8" in result.stdout
    rows = table(result.stdout, WINDOW_COLUMNS)
    assert [(r["target"], r["dtype"], r["windows"], r["mismatch"]) for r in rows] == [
        ("host", "q15", "6", "0"), ("host", "q7", "6", "0"), ("avr", "q15", "6", "0"), ("avr", "q7", "6", "0")]
    for row in rows[2:]:  # the Uno measures the stream: its ring is in RAM, predict_latest's cycles
        assert int(row["RAM B"]) >= 64 * 3 * 2 and int(row["stack B"]) > 0 and float(row["mean"]) > 0
        assert row["unit"] == "cycles"


def test_window_accuracy_table_and_a_chosen_case():
    result = bench("--dataset", "basicmotions", "--model", "LogisticRegression", "--window", "32",
                   "--channels", "acc_x, gyro_y", "--features", "mean,std")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("basicmotions: acc_x, gyro_y; window 32, hop 32; features mean,std: ")
    header = next(line for line in lines if line.startswith("model"))
    assert header.split() == ["model", "float", "q15", "q7"]
    (row,) = [line.split() for line in lines if line.startswith("LogisticRegression")]
    assert all(0.0 <= float(v) <= 1.0 for v in row[1:])


def test_trainable_adaptation_and_step_cost_tables():
    result = bench("--trainable", "--model", "SGDClassifier(hinge)")
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("SGDClassifier(hinge)")]
    assert [row[1] for row in rows] == ["2^-3", "2^-5", "2^-7"]
    for row in rows:
        unshifted, float_before, before, after, reference = map(float, row[2:7])
        assert all(0.0 <= v <= 1.0 for v in (unshifted, float_before, before, after, reference))
    cost = bench("--trainable", "--target", "host", "--model", "SGDClassifier(log_loss)")
    (line,) = [line.split() for line in cost.stdout.splitlines() if line.startswith("host")]
    assert line[1:5] == ["SGDClassifier(log_loss)", "200", "0", "0"]  # updates, weights and rows: C == simulator


@pytest.mark.parametrize("args, message", [
    (["--trainable", "--dtype", "q7"], "--dtype is not for bench --trainable"),
    (["--trainable", "--window", "32"], "--window is not for bench --trainable"),
    (["--trainable", "--model", "RandomForest"], "bench --trainable models are"),
])
def test_bad_trainable_bench_options_are_one_line_errors(args, message):
    result = bench(*args, code=2)
    assert result.stdout == "" and message in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--window", "32"], "--window is for raw sensor windows: add --dataset basicmotions"),
    (["--hop", "8", "--features", "mean"], "--hop and --features are for raw sensor windows"),
    (["--dataset", "basicmotions", "--channels", "acc_x,temp"], "basicmotions has no channel temp"),
    (["--dataset", "basicmotions", "--features", "mean,fft7"], "fft7"),
    (["--dataset", "basicmotions", "--window", "1"], "--window must be a whole number of samples, at least 2"),
    (["--dataset", "basicmotions", "--model", "GaussianNB"], "does not run on raw sensor windows"),
    (["--dataset", "basicmotions", "--target", "host", "--layout", "table"], "not for window programs"),
    (["--dataset", "basicmotions", "--peers"], "not for window programs"),
    (["--dataset", "basicmotions", "--dtype", "q7"], "are for the cost table: add --target T"),
])
def test_bad_window_bench_options_are_one_line_errors(args, message):
    result = bench(*args, code=2)
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--target", "host", "--layout", "inline"], "--layout and --bins are for tree models"),
    (["--target", "host", "--bins", "off"], "--layout and --bins are for tree models"),
    (["--target", "host", "--dtype", "exact"], "dtype exact is for tree models"),
    (["--target", "host", "--model", "RandomForest", "--dtype", "q7", "--bins", "on"], "threshold bins are for dtype exact"),
    (["--target", "host", "--model", "RandomForest", "--dtype", "q7", "--bins", "off"], "threshold bins are for dtype exact"),
    (["--target", "host", "--model", "RandomForest", "--dtype", "q31"], "trees export with dtype exact"),
    (["--target", "host", "--model", "RandomForest", "--dataset", "diabetes"], "regressors go with diabetes"),
    (["--target", "host", "--model", "Forest"], "unknown bench model 'Forest'"),
    (["--target", "host", "--model", "MLP16x8", "--dtype", "q31"], "exports with dtype float32, q15, q7 or int8"),
    (["--target", "host", "--model", "MLP16x8", "--layout", "table"], "--layout and --bins are for tree models"),
    (["--target", "host", "--model", "MLPRegressor16x8", "--dataset", "digits"], "regressors go with diabetes"),
    (["--target", "host", "--model", "GaussianNB", "--dtype", "int8"], "GaussianNB exports with dtype float32, q15, q7"),
    (["--model", "RandomForest", "--layout", "table"], "are for the cost table: add --target T"),
])
def test_bad_combinations_are_one_line_errors(args, message):
    result = bench(*args, code=2)
    assert result.stdout == ""  # nothing printed, nothing built before the error
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
