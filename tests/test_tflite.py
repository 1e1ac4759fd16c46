"""dtype int8 == TFLM (issue 5): the int8 network exported as a .tflite flatbuffer (tinygen/formats/tflite.py)
runs in the tflite-micro interpreter from PyPI, and every output int8 equals tinygen's simulator (and so the
generated C, tests/test_int8.py): 0 mismatches on every row of the acceptance models, on edge rows and on random
int8 inputs over the whole range. A perturbed network must mismatch (the oracle is sensitive)."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner

from tinygen.cli import main
from tinygen.formats.tflite import to_tflite
from tinygen.ir import Program
from tinygen.ops import int8_activation

from test_int8 import CASES, converted, edge_rows, split

runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime", reason="pip install tflite-micro (test extra)")


def run_tflm(program, x_q: np.ndarray) -> np.ndarray:
    """Every row through the TFLM interpreter in one batch; the int8 output tensor as int64."""
    interpreter = runtime.Interpreter.from_bytes(to_tflite(program, batch=len(x_q)), arena_size=400 * len(x_q) + 200_000)
    interpreter.set_input(np.ascontiguousarray(x_q, dtype=np.int8), 0)
    interpreter.invoke()
    return np.asarray(interpreter.get_output(0), dtype=np.int64).reshape(len(x_q), -1)


@pytest.mark.parametrize("case", tuple(CASES))
def test_tflm_equals_simulator_every_row(case):
    program = converted(case).program
    X = np.vstack([*split(CASES[case][0])[:2], edge_rows(program.n_features)])
    expected = program.scores(X)
    tflm = run_tflm(program, program.ops[0].forward(X.astype(np.float32)))
    assert tflm.shape == expected.shape
    np.testing.assert_array_equal(tflm, expected)  # 0 mismatches on the data and edge rows
    rng = np.random.default_rng(0)
    full = np.vstack([rng.integers(-128, 128, (500, program.n_features)),
                      np.full((1, program.n_features), -128), np.full((1, program.n_features), 127)])
    simulated = full
    for op in program.ops[1:]:
        simulated = op.forward(simulated)
    np.testing.assert_array_equal(run_tflm(program, full), simulated)  # and on random int8 inputs


@pytest.mark.parametrize("kind", ("logistic", "tanh"))
def test_tflm_activation_every_input(kind):
    """LOGISTIC / TANH alone: all 256 int8 inputs, for input scales and zero points across TFLM's range
    (radius below and above 128), equal tinygen's table."""
    for scale, zero_point in ((0.05, 0), (0.01, -20), (0.1, 30), (0.003, 100), (0.5, -128), (0.0227, 5), (1.3, -7),
                              (2.0 ** -20, 0), (7.0, 127)):
        op = int8_activation.quantize(kind, 256, scale, zero_point)
        program = Program(dtype="int8", task="regression", decision="value", n_features=256, labels=None,
                          feature_names=[f"f{i}" for i in range(256)], ops=[None, op])
        flatbuffer = to_tflite(program, batch=1, input_quantization=(op.in_scale, op.in_zero_point))
        interpreter = runtime.Interpreter.from_bytes(flatbuffer, arena_size=100_000)
        interpreter.set_input(np.arange(-128, 128, dtype=np.int8).reshape(1, 256), 0)
        interpreter.invoke()
        np.testing.assert_array_equal(np.asarray(interpreter.get_output(0), dtype=np.int64).reshape(-1), op.table,
                                      err_msg=f"{kind} scale {scale} zero point {zero_point}")


def test_perturbed_network_mismatches():
    """The oracle can fail: one bias off by a few hundred, or single instead of double rounding, shows."""
    program = converted("digits_mlp").program
    x_q = program.ops[0].forward(split("digits")[1].astype(np.float32))
    bent = copy.deepcopy(program)
    bent.ops[-1].bias = bent.ops[-1].bias.copy()
    bent.ops[-1].bias[3] += 500
    simulated = x_q
    for op in program.ops[1:]:
        simulated = op.forward(simulated)
    assert (run_tflm(bent, x_q) != simulated).any()


def test_cli_format_tflite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for args in (["dataset", "breast_cancer", "-o", "data.csv"],
                 ["train", "data.csv", "--label", "target", "--model", "mlp", "-o", "m.skops"],
                 ["export", "m.skops", "--dtype", "int8", "--calibration", "data.csv", "--label", "target",
                  "--format", "tflite", "--name", "net", "-o", "out"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    flatbuffer = (tmp_path / "out" / "net.tflite").read_bytes()
    assert flatbuffer[4:8] == b"TFL3" and (tmp_path / "out" / "net.h").exists()
    assert json.loads((tmp_path / "out" / "net.json").read_text())["dtype"] == "int8"
    result = runner.invoke(main, ["export", "m.skops", "--dtype", "q15", "--calibration", "data.csv", "--label", "target",
                                  "--format", "tflite", "--name", "net", "-o", "out_q15"])
    assert result.exit_code != 0 and "int8" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out_q15" / "net.h").exists()
