"""`tinygen bench --peers`: tinygen beside emlearn and m2cgen on the same models, harness and rows. The numbers
are printed, never asserted (DESIGN.md); the tests check that every tool's row is there, that the C of each
runs every row on the AVR (agreement counted from the C's own predictions), and that a peer that cannot export
a model or whose C does not fit says why in its row instead of failing the table."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner

from tinygen import bench, peers
from tinygen.cli import main

from conftest import need_tool

COLUMNS = [name for name, _ in peers.COLUMNS]


def run_bench(*args, code: int = 0):
    result = CliRunner().invoke(main, ["bench", *map(str, args)])
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    return result


def table(stdout: str) -> list[dict]:
    """The peer table's rows as {column: cell}, cut at the columns' fixed widths (cells hold spaces)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    bounds, position = [], 0
    for _, width in peers.COLUMNS:
        end = position + abs(width) if width else None
        bounds.append((position, end))
        position = (end or 0) + 2
    header = lines[start]
    assert [header[a:b].strip() for a, b in bounds] == COLUMNS
    return [{name: line[a:b].strip() for name, (a, b) in zip(COLUMNS, bounds)} for line in lines[start + 1:] if line.strip()]


def test_peer_table_on_avr_says_why_a_peer_has_no_numbers():
    """MLP16x8: tinygen in every dtype; emlearn's float network does not fit the Uno's SRAM (its tables are not
    in flash) and m2cgen exports no MLP: both rows say so."""
    need_tool("avr-gcc")
    need_tool("simavr")
    rows = table(run_bench("--peers", "--model", "MLP16x8", "--target", "avr", "--rows", 6).stdout)
    assert [(r["tool"], r["variant"]) for r in rows] == [
        ("tinygen", "q15"), ("tinygen", "q7"), ("tinygen", "float32"), ("tinygen", "int8"),
        ("emlearn", "float"), ("m2cgen", "double")]
    assert {r["model"] for r in rows} == {"MLP16x8"} and {r["target"] for r in rows} == {"avr"}
    for row in rows[:4]:
        assert row["agree"].endswith("/6") and int(row["mean"].split(".")[0]) > 0 and row["unit"] == "cycles"
        assert row["note"] == ""  # C == simulator on every row
    emlearn, m2cgen = rows[4], rows[5]
    assert emlearn["mean"] == emlearn["flash B"] == "-"
    assert "does not fit the ATmega328P" in emlearn["note"] and "SRAM" in emlearn["note"]
    assert m2cgen["note"] == "cannot export: NotImplementedError: Model 'sklearn_MLPClassifier' is not supported"


def test_peer_table_runs_each_peer_c_on_avr():
    """RandomForest: every emlearn variant and m2cgen build and run; their agreement is their C's."""
    need_tool("avr-gcc")
    need_tool("simavr")
    rows = table(run_bench("--peers", "--model", "RandomForest", "--target", "avr", "--rows", 5).stdout)
    assert [(r["tool"], r["variant"]) for r in rows] == [
        ("tinygen", "exact inline"), ("tinygen", "exact table"), ("emlearn", "inline float"),
        ("emlearn", "inline int16"), ("emlearn", "loadable int16"), ("m2cgen", "double")]
    for row in rows:
        assert row["agree"].endswith("/5") and int(row["flash B"]) > 0 and int(row["stack B"]) > 0
        assert row["unit"] == "cycles"
    assert rows[0]["agree"] == rows[1]["agree"] == "5/5"  # exact trees: scikit-learn's decisions
    assert int(rows[4]["RAM B"]) > 0  # emlearn's loadable trees keep their nodes in SRAM


def test_peer_rows_say_when_a_peer_is_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "emlearn", None)  # import emlearn -> ImportError
    monkeypatch.setitem(sys.modules, "m2cgen", None)
    rows = list(peers.peer_rows("breast_cancer", "LogisticRegression", ["avr"], rows=3))
    assert [(r["tool"], r["note"]) for r in rows] == [
        ("emlearn", "emlearn is not installed (pip install 'tinygen[peers]')"),
        ("m2cgen", "m2cgen is not installed (pip install 'tinygen[peers]')")]


def test_exporting_leaves_numpy_error_handling_alone(monkeypatch):
    """emlearn's import calls numpy.seterr(all="raise"): the rest of the process (scikit-learn fits) must not
    inherit it."""
    for module in [m for m in sys.modules if m == "emlearn" or m.startswith("emlearn.")]:
        monkeypatch.delitem(sys.modules, module)  # imported afresh, and put back after the test
    before = np.geterr()
    assert list(peers.peer_rows("breast_cancer", "MLP16x8", [], rows=3)) == []  # exports only, runs nothing
    assert np.geterr() == before


@pytest.mark.parametrize("model", ["LogisticRegression", "MLP16x8"])
def test_folded_scaler_predicts_as_the_pipeline(model):
    pipeline = bench.fitted("breast_cancer", model)
    X = bench.split("breast_cancer")[0]
    folded = peers.fold_scaler(pipeline)
    assert not hasattr(folded, "steps")
    if model == "LogisticRegression":
        np.testing.assert_allclose(folded.decision_function(X), pipeline.decision_function(X), rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_allclose(folded.predict_proba(X), pipeline.predict_proba(X), rtol=1e-9, atol=1e-12)
    assert np.array_equal(folded.predict(X), pipeline.predict(X))


def test_reason_keeps_the_compiler_error_without_temporary_paths():
    text = ("building bench.h for cortex-m4 failed (exit 1): In file included from /tmp/tinygen-x/model.h:21, | "
            "from /w/firmware/cortex-m/runner.c:42: | /tmp/tinygen-peer-y/peer/peer_model.h:5:10: error: unknown type")
    assert peers.reason(text) == "building bench.h for cortex-m4 failed (exit 1): peer_model.h:5:10: error: unknown type"


@pytest.mark.parametrize("args, message", [
    (("--target", "host"), "bench --peers runs on avr,"),
    (("--layout", "inline"), "--layout and --bins are not for --peers"),
    (("--model", "Ridge", "--dataset", "diabetes"), "bench --peers compares classifiers; Ridge is a regressor"),
    (("--model", "Nope"), "unknown bench model 'Nope'"),
])
def test_bad_peer_options_are_one_line_errors(args, message):
    result = run_bench("--peers", *args, code=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
