"""Boards: the model's footprint from each board's cross compiler, and a clear refusal with the overshoot."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
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
