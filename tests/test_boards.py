"""Boards: the model's footprint from each board's cross compiler, and a clear refusal with the overshoot."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import tinygen
from tinygen import boards
from tinygen.bench import fitted, split
from tinygen.cli import main
from tinygen.modelio import save_model

from conftest import error_of, need_tool


@pytest.mark.parametrize("board", list(boards.BOARDS))
def test_footprint_on_every_board(board, tmp_path):
    spec = boards.get(board)
    need_tool(spec.compiler)
    X, y, X_train, *_ = split("breast_cancer")
    model = tinygen.convert(fitted("breast_cancer", "LogisticRegression"), dtype="q15", calibration=X_train)
    sizes = boards.check_model(model, spec, "lr")
    assert 100 < sizes["flash_bytes"] < 4000  # 30 int16 weights, the input conversion, the loop
    assert sizes["ram_bytes"] == 0  # tables are const (in flash on AVR)


def _huge_model(n_features=800):
    """800 features x 10 classes in q31: 32,000 B of weights, more than an Uno's flash with the code."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, n_features))
    y = np.arange(60) % 10
    return LogisticRegression(max_iter=200).fit(X, y), X


def test_too_big_for_the_uno_says_by_how_much(tmp_path):
    need_tool("avr-gcc")
    estimator, X = _huge_model()
    model = tinygen.convert(estimator, dtype="q31", calibration=X)
    message = error_of(boards.check_model, model, boards.get("uno"), "huge")
    assert "does not fit the uno" in message and "over by" in message and "32256 B" in message
    boards.check_model(model, boards.get("mega2560"), "huge")  # 248 KB of flash: fits


def test_avr_array_limit_is_a_clear_error():
    estimator, X = _huge_model(n_features=1000)  # one 40,000 B table: no AVR array can be that big
    model = tinygen.convert(estimator, dtype="q31", calibration=X)
    message = error_of(boards.check_model, model, boards.get("mega2560"), "huge")
    assert "dense weights table is 40000 B" in message and "over by 7233 B" in message


def test_export_board_refusal_writes_nothing(tmp_path):
    need_tool("avr-gcc")
    estimator, X = _huge_model()
    save_model(estimator, tmp_path / "huge.skops")
    np.savetxt(tmp_path / "calib.csv", X, delimiter=",", header=",".join(f"f{i}" for i in range(X.shape[1])), comments="")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", str(tmp_path / "huge.skops"), "--dtype", "q31", "--calibration",
                                       str(tmp_path / "calib.csv"), "--by-position", "--board", "uno", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "over by" in result.output and not out.exists()
    result = CliRunner().invoke(main, ["export", str(tmp_path / "huge.skops"), "--dtype", "q7", "--calibration",
                                       str(tmp_path / "calib.csv"), "--by-position", "--board", "uno", "-o", str(out)])
    assert result.exit_code == 0, result.output  # 8 KB of int8 weights fit
    assert (out / "huge.h").is_file()


def test_check_fits_counts_stack():
    board = boards.get("uno")
    boards.check_fits(board, 1000, 100, 200)
    message = error_of(boards.check_fits, board, 1000, 1900, 200)
    assert "RAM (static + stack)" in message and "over by 52 B" in message


def _message_for(program, board="uno") -> str:
    return error_of(boards.check_fits, boards.get(board), 10**7, 0, None, program)


def test_BUG_size_advice_fits_the_model():
    """Outside case (issue 13): "the size error suggests q7 to a model already in q7 and never suggests fewer or
    shallower trees". The advice names what this model can change, with its current numbers."""
    X, y, X_train, X_test, y_train, y_test = split("breast_cancer")
    forest = RandomForestClassifier(n_estimators=12, max_depth=7, random_state=0).fit(X_train, y_train)
    in_q7 = _message_for(tinygen.convert(forest, dtype="q7", calibration=X_train, layout="inline").program)
    assert "q7" not in in_q7 and "fewer trees (it has 12)" in in_q7 and "shallower trees (max_depth below 7)" in in_q7
    assert "--layout table" in in_q7 and "--bins" not in in_q7  # bins are for dtype exact
    exact = _message_for(tinygen.convert(forest, layout="table", bins=False).program)
    assert "--dtype q7" in exact and "--bins" in exact and "--layout table" not in exact and "fewer trees" in exact
    mlp = fitted("breast_cancer", "MLP16x8")
    for dtype in ("q7", "int8", "q15"):
        message = _message_for(tinygen.convert(mlp, dtype=dtype, calibration=X_train).program)
        assert "fewer hidden units (hidden_layer_sizes (16, 8) now)" in message, message
        assert ("--dtype q7" in message) == (dtype == "q15")
    linear = _message_for(tinygen.convert(fitted("breast_cancer", "LogisticRegression"), dtype="q15",
                                          calibration=X_train).program)
    assert "--dtype q7" in linear and "fewer features (it reads 30)" in linear and "trees" not in linear


def test_BUG_export_and_verify_report_one_board_figure_and_say_what_it_is(tmp_path):
    """Outside case (issue 13): "export and verify print different flash figures for one model and board without
    saying what each measures". The board fit is one figure (export's footprint) in both, said what it counts;
    verify's per-target figures (what the model adds to that target's test firmware) are said to be that."""
    for tool in ("avr-gcc", "simavr"):
        need_tool(tool)
    X, y, X_train, *_ = split("breast_cancer")
    save_model(fitted("breast_cancer", "LogisticRegression"), tmp_path / "lr.skops")
    names = ",".join([f"x{i}" for i in range(X.shape[1])] + ["target"])  # the names of a model fitted on arrays
    np.savetxt(tmp_path / "data.csv", np.column_stack([X[:40], y[:40]]), delimiter=",", header=names, comments="")
    common = ["--calibration", str(tmp_path / "data.csv"), "--label", "target"]
    runner = CliRunner()
    exported = runner.invoke(main, ["export", str(tmp_path / "lr.skops"), "--dtype", "q15", *common, "--board", "uno",
                                    "-o", str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    verified = runner.invoke(main, ["verify", str(tmp_path / "lr.skops"), "--data", str(tmp_path / "data.csv"),
                                    "--label", "target", "--dtype", "q15", "--board", "uno", *common[:2]])
    assert verified.exit_code == 0, verified.output
    said = "what the model adds to a program that only calls lr_predict: avr-gcc -Os, linked with the libgcc helpers"
    export_line = next(line for line in exported.output.splitlines() if line.startswith("fits the uno: "))
    verify_line = next(line for line in verified.output.splitlines() if "fits the uno: " in line)
    flash = export_line.split(": ")[1].split(",")[0]
    assert said in export_line and said in verify_line and verify_line.split("fits the uno: ")[1].startswith(flash + ",")
    assert "what the model adds to that target's test firmware" in verified.output


def test_BUG_esp32_says_it_is_sized_with_the_esp8266_compiler(tmp_path):
    """Outside case (issue 13): "the esp32 board is sized with the ESP8266's lx106 compiler": the board table
    and every figure for that board say so."""
    spec = boards.get("esp32")
    assert spec.compiler == "xtensa-lx106-elf-gcc" and "ESP8266" in spec.description and "lx106" in spec.description
    need_tool(spec.compiler)
    X, y, X_train, *_ = split("breast_cancer")
    model = tinygen.convert(fitted("breast_cancer", "LogisticRegression"), dtype="q15", calibration=X_train)
    line = boards.fit_line(spec, boards.check_model(model, spec, "lr"), "lr")
    assert "the ESP8266's Xtensa LX106 compiler stands in for the ESP32's LX6 one" in line
    assert all("stands in" not in boards.fit_line(b, {"flash_bytes": 1, "ram_bytes": 0}, "m")
               for b in boards.BOARDS.values() if b.name != "esp32")


def test_esp32_runs_on_the_lx106_as_a_labelled_stand_in():
    """Issue 18: the esp32's target is xtensa-lx106 so that the search can rank candidates there; its stack and its
    latency say they come from another core, and every QEMU board's latency says it is instructions / clock."""
    spec = boards.get("esp32")
    assert spec.target == "xtensa-lx106" and "LX6" in spec.target_stand_in
    assert "measured on xtensa-lx106 (a stand-in core)" in boards.fit_line(spec, {"flash_bytes": 1, "ram_bytes": 0}, "m", 48)
    note = boards.latency_note(spec)
    assert "counts instructions, not cycles" in note and "240 MHz" in note and "indicative only" in note
    assert boards.latency_note(boards.get("uno")) == ""  # simavr counts AVR cycles
    assert all("QEMU" in boards.latency_note(b) and not b.target_stand_in
               for b in boards.BOARDS.values() if b.target != "avr" and b.name != "esp32")
