"""The integer predict_proba (tinygen/ops/probability.py, issue 5): the softmax (binary: logistic) of the raw
integer scores in Q15, integers only, the same program in the simulator and in NAME_proba_from_scores.

- the plan: both products, the cut (d_keep is exactly the last gap whose exponent stays below it), the proven
  bound under one Q15 step, one-line errors for what it cannot take; div_q15 against exact rationals
- the simulator within its proven bound of the exact softmax of the dequantized scores on every row of extreme
  scores (all equal, ties, gaps of 0 .. 2**32 - 1, INT32_MIN / INT32_MAX, gaps at the cut) for many scales,
  class counts and zero points, and on every row of the GaussianNB models (the MLPs: test_mlp.py, test_int8.py,
  which also run NAME_predict_proba on every target through compare_on_target)
- C == simulator on those extreme scores through NAME_proba_from_scores on host, avr, cortex-m4 and rv32:
  binary and 10-class MLPs (q7, q15, int8), a 40-class GaussianNB (sum_shift 1), and the coarsest and finest
  scales attached to real programs
- a changed rounding in the header is caught; manifest round trip and damage; simulate's columns and
  verify's check
"""
from __future__ import annotations

import copy
import functools
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pytest
from sklearn.naive_bayes import GaussianNB

import tinygen
from tinygen.ir import Program
from tinygen.ops import probability
from tinygen.fixedpoint import div_q15
from tinygen.ops.probability import Probability, plan
from tinygen.targets import avr, host, qemu

import test_gaussian_nb as gnb
import test_int8
import test_mlp
from conftest import AVR_FIRMWARE, error_of, need_tool

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
Q15_STEP = 2.0 ** -15
MCU_TARGETS = ("avr", "cortex-m4", "rv32")
# xtensa-lx106 under the slow marker (its default cases: test_target_xtensa.py and the spread sweeps)
XTENSA = pytest.param("xtensa-lx106", marks=pytest.mark.slow)


def exact_softmax(op: Probability, scores) -> np.ndarray:
    """The reference: the float64 softmax of the dequantized logits (logistic: over [0, z])."""
    logits = (op.logits(scores) - op.zero_point).astype(np.float64) * op.scale
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def extreme_scores(op: Probability, seed: int = 0) -> np.ndarray:
    """[rows, n_in] int64 scores: all equal, ties, the int32 extremes, gaps at the cut and random gaps of 0..40
    nats; for a logistic op, scores around its zero point."""
    rng = np.random.default_rng(seed)
    k = op.n_in
    rows = [np.full(k, v) for v in (0, INT32_MIN, INT32_MAX, op.zero_point, -1, 1)]
    top = min(INT32_MAX, op.zero_point + 1000)
    for gap in {0, 1, op.d_keep - 1, op.d_keep, op.d_keep + 1, 1 << 16, (1 << 31) - 1, (1 << 32) - 1}:
        if 0 <= gap < 1 << 32:
            for high in (INT32_MAX, top):
                rows.append(np.full(k, high - gap if high - gap >= INT32_MIN else INT32_MIN))
                rows[-1][rng.integers(k)] = high
    if k > 1:
        rows.append(np.array([INT32_MAX] + [INT32_MIN] * (k - 1)))
        rows.append(np.array([INT32_MIN] * (k - 1) + [INT32_MAX]))
        tie = np.full(k, INT32_MIN)
        tie[[0, k - 1]] = 12345
        rows.append(tie)
    nats = rng.uniform(0, 40, size=(400, k)) * rng.choice([0.01, 0.1, 1.0], size=(400, 1))
    gaps = np.minimum(np.round(nats / op.scale), 2.0 ** 32 - 1)
    base = rng.integers(INT32_MIN, INT32_MAX, size=(400, 1), endpoint=True).astype(np.float64)
    rows.extend(np.clip(base - gaps + np.where(base > 0, 0, gaps.max(axis=1, keepdims=True)), INT32_MIN, INT32_MAX))
    rows.extend(rng.integers(INT32_MIN, INT32_MAX, size=(100, k), endpoint=True))
    if op.kind == "logistic":  # logits of a few nats around 0 (the zero point), where the two columns compete
        rows.extend(np.clip(op.zero_point + np.round(rng.normal(size=(200, 1)) * 3 / op.scale), INT32_MIN, INT32_MAX))
    return np.asarray(rows, dtype=np.int64)


def check_within_bound(op: Probability, scores) -> float:
    """Every row: in [0, 2**15], within the proven bound of the exact softmax, K roundings from summing to 2**15.
    Returns the max |error|."""
    q = op.forward(scores)
    assert q.min() >= 0 and q.max() <= 1 << 15
    error = np.abs(q * Q15_STEP - exact_softmax(op, scores))
    assert error.max() <= op.error_bound(), (op, error.max())
    assert np.all(np.abs(q.sum(axis=1) - (1 << 15)) <= op.n_out / 2)
    return float(error.max())


# ---- the plan and the primitives ----------------------------------------------------------------------------

def test_plan_products_cut_and_bound():
    for scale in (2.0 ** 31, 2.0 ** 14, 1.0, 0.26, 0.155, 2.0 ** -7, 2.0 ** -13, 2.0 ** -22, 2.0 ** -28, 2.0 ** -40):
        for n in (2, 10, 33):
            op = plan("softmax", n, n, scale, 0)
            cut = probability._x_cut(op.sum_shift)
            assert probability._x_q(op.d_keep, op) < cut
            assert op.d_keep == (1 << 32) - 1 or probability._x_q(op.d_keep + 1, op) >= cut
            assert (op.product == "u32_u16") == (op.d_keep < 1 << 16 and scale < 0.69), (scale, op)
            assert op.error_bound() < Q15_STEP  # under one Q15 step up to 33 classes
    assert plan("softmax", 3, 3, 2.0 ** 20, 0).d_keep == 0  # a coarse scale keeps only the best logit
    assert plan("softmax", 3, 3, 2.0 ** -30, 0).d_keep == (1 << 32) - 1  # a fine one cuts nothing
    assert plan("softmax", 40, 40, 0.01, 0).sum_shift == 1 and plan("softmax", 32, 32, 0.01, 0).sum_shift == 0
    assert "too fine" in error_of(plan, "softmax", 3, 3, 2.0 ** -60, 0)
    assert "scores do not make" in error_of(plan, "logistic", 2, 2, 0.1, 0)
    assert "positive output scale" in error_of(plan, "softmax", 3, 3, 0.0, 0)


def test_div_q15_is_exact_rounding():
    rng = np.random.default_rng(0)
    total = np.concatenate([rng.integers(1, 1 << 31, 20000), [1, 2, 3, (1 << 31) - 1, (1 << 31) - 1, 65535 << 10]])
    e = (total * rng.uniform(0, 1, len(total))).astype(np.int64)
    e[-6:] = [0, 1, 3, 0, (1 << 31) - 1, 12345]
    expected = [int(Fraction(int(a) << 15, int(b)) + Fraction(1, 2)) for a, b in zip(e, total)]  # half up
    assert list(div_q15(e, total)) == expected
    with pytest.raises(ValueError):
        div_q15(5, 4)


def test_simulator_within_bound_on_extreme_scores():
    """Many scales (both products, with and without a cut), class counts (sum_shift 0 and 1), zero points."""
    worst = 0.0
    for scale in (2.0 ** 14, 0.9, 0.26, 0.155, 2.0 ** -7, 2.0 ** -13, 2.0 ** -23, 2.0 ** -28, 2.0 ** -40):
        for kind, n_in, n_out, zero_point in (("logistic", 1, 2, 0), ("logistic", 1, 2, -3), ("softmax", 10, 10, 12),
                                              ("softmax", 40, 40, 0)):
            op = plan(kind, n_in, n_out, scale, zero_point)
            worst = max(worst, check_within_bound(op, extreme_scores(op)))
    assert worst > 0  # the rows reach the arithmetic's errors (each op held its own bound above)


def test_gaussian_nb_predict_proba_within_bound():
    """GaussianNB's scores are joint log-likelihoods: the same integer softmax on every row and the edge rows."""
    for dataset in gnb.DATASETS:
        X = np.vstack([gnb.split(dataset)[0], gnb.edge_rows(gnb.split(dataset)[0])])
        for dtype in gnb.FIXED:
            program = gnb.converted(dataset, dtype).program
            assert program.proba.kind == "softmax" and program.proba.scale == program.output_scale
            check_within_bound(program.proba, program.scores(X))
        close = np.abs(gnb.converted(dataset, "q15").predict_proba(X[:50]) - gnb.fitted(dataset).predict_proba(X[:50]))
        assert close.max() <= 0.01, dataset
        float32 = gnb.converted(dataset, "float32")
        assert float32.program.proba is None
        np.testing.assert_allclose(float32.predict_proba(X[:50]), gnb.fitted(dataset).predict_proba(X[:50]), atol=1e-4)


# ---- C == simulator on extreme scores -----------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def c_programs() -> dict:
    """Programs whose NAME_proba_from_scores the C tests run: the acceptance MLPs, int8, a 40-class GaussianNB,
    and the coarsest and finest scales attached to real programs."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 2)) + np.repeat(np.arange(40), 10)[:, None] * 0.3
    forty = tinygen.convert(GaussianNB().fit(X, np.repeat(np.arange(40), 10)), dtype="q7", calibration=X).program
    coarse, fine = copy.copy(gnb.converted("iris", "q15").program), copy.copy(test_mlp.converted("breast_cancer", "relu", "q7").program)
    coarse.proba = plan("softmax", 3, 3, 2.0 ** 15, 7)
    fine.proba = plan("logistic", 1, 2, 2.0 ** -40, -5)
    programs = {"bc_q7": test_mlp.converted("breast_cancer", "relu", "q7").program,
                "bc_tanh_q15": test_mlp.converted("breast_cancer", "tanh", "q15").program,
                "digits_q7": test_mlp.converted("digits", "relu", "q7").program,
                "digits_q15": test_mlp.converted("digits", "logistic", "q15").program,
                "digits_int8": test_int8.converted("digits_mlp").program,
                "gnb40_q7": forty, "coarse": coarse, "fine": fine}
    assert {p.proba.product for p in programs.values()} == {"u32_u16", "u32_u32"}
    assert forty.proba.sum_shift == 1 and programs["bc_tanh_q15"].proba.d_keep == (1 << 32) - 1
    return programs


HOST_MAIN = r"""
#include <stdio.h>
#include "m.h"
/* rows of m_N_OUTPUTS int32 scores in argv[1] -> m_N_CLASSES uint16 per row in argv[2] */
int main(int argc, char **argv)
{
    int32_t scores[m_N_OUTPUTS];
    uint16_t proba[m_N_CLASSES];
    FILE *in = argc == 3 ? fopen(argv[1], "rb") : NULL;
    FILE *out = argc == 3 ? fopen(argv[2], "wb") : NULL;
    if (in == NULL || out == NULL) return 2;
    while (fread(scores, sizeof scores[0], m_N_OUTPUTS, in) == m_N_OUTPUTS) {
        m_proba_from_scores(scores, proba);
        fwrite(proba, sizeof proba[0], m_N_CLASSES, out);
    }
    return fclose(out) != 0;
}
"""

AVR_MAIN = r"""
#include <stdint.h>
#include "uart.h"
#include "m.h"
/* UART0 in: row count (uint16), then m_N_OUTPUTS int32 scores per row; out: the row's m_N_CLASSES uint16 as hex. */
static int32_t scores[m_N_OUTPUTS];
static uint16_t proba[m_N_CLASSES];

int main(void)
{
    uint16_t rows;
    uint16_t row;
    uint16_t i;
    cli();
    uart_init();
    rows = get_u16();
    for (row = 0; row < rows; row++) {
        uint8_t *dst = (uint8_t *)scores;
        for (i = 0; i < sizeof scores; i++) {
            dst[i] = get_byte();
        }
        m_proba_from_scores(scores, proba);
        put_hex(proba, sizeof proba);
        put_byte('\n');
    }
    uart_stop();
    return 0;
}
"""


def c_proba(target: str, program: Program, scores: np.ndarray, workdir) -> np.ndarray:
    """NAME_proba_from_scores of the header on `target` for every row of int32 scores: uint16 [rows, classes]."""
    workdir.mkdir()
    header = tinygen.api.render_header(program, "m")
    (workdir / "m.h").write_text(header)
    rows = np.ascontiguousarray(scores, dtype="<i4")
    if target == "host":
        (workdir / "main.c").write_text(HOST_MAIN)
        subprocess.run(["gcc", *host.CFLAGS, f"-I{workdir}", str(workdir / "main.c"), "-o", str(workdir / "run")],
                       check=True, capture_output=True, text=True)
        rows.tofile(workdir / "in.bin")
        subprocess.run([str(workdir / "run"), str(workdir / "in.bin"), str(workdir / "out.bin")], check=True)
        return np.fromfile(workdir / "out.bin", dtype="<u2").reshape(len(rows), -1)
    if target == "avr":
        (workdir / "main.c").write_text(AVR_MAIN)
        elf = workdir / "m.elf"
        subprocess.run(["avr-gcc", *avr.CFLAGS, f"-I{workdir}", f"-I{AVR_FIRMWARE}", str(workdir / "main.c"), "-o", str(elf)],
                       check=True, capture_output=True, text=True)
        uart, _ = avr.run_elf(elf, cycle_limit=50_000_000 + 200_000 * len(rows),
                              uart_input=np.uint16(len(rows)).astype("<u2").tobytes() + rows.tobytes())
        return np.frombuffer(bytes.fromhex(uart.decode("ascii").replace("\n", "")), dtype="<u2").reshape(len(rows), -1)
    machine = qemu.TARGETS[target]
    (workdir / "model.h").write_text(header)  # the name QemuTarget.build compiles
    elf = machine.build(workdir, "m", True, "scores", ("-DTG_PROBA_SCORES",))
    rows.tofile(workdir / qemu.ROWS_FILE)
    lines, _ = machine.run(elf, workdir, len(rows))
    return np.frombuffer(bytes.fromhex("".join(words for words, _, _ in lines)), dtype=">u2").reshape(len(rows), -1)


@pytest.mark.parametrize("target", ("host", *MCU_TARGETS, XTENSA))
def test_c_equals_simulator_on_extreme_scores(target, tmp_path):
    tools = {"host": ("gcc",), "avr": ("avr-gcc", "simavr", "gcc")}
    for tool in tools[target] if target in tools else qemu.TARGETS[target].tools:
        need_tool(tool)
    programs = c_programs()
    every = {name: extreme_scores(program.proba, seed) for seed, (name, program) in enumerate(programs.items())}
    if target != "host":  # the MCUs: a third of the rows (every kind of row is in every third)
        every = {name: scores[::3] for name, scores in every.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = {name: pool.submit(c_proba, target, programs[name], scores, tmp_path / name) for name, scores in every.items()}
        for name, job in jobs.items():
            got = job.result().astype(np.int64)
            expected = programs[name].proba.forward(every[name])
            assert got.shape == expected.shape and np.array_equal(got, expected), (name, int(np.sum(np.any(got != expected, axis=1))))


def test_a_changed_rounding_is_caught(tmp_path):
    """The comparison can fail: the host harness with the division truncating instead of rounding differs."""
    need_tool("gcc")
    model = test_mlp.converted("digits", "relu", "q7")
    X = test_mlp.split("digits")[1]
    paths = model.save(tmp_path, "m")
    rounding = "return (uint16_t)(((uint32_t)q + 1u) >> 1);"
    text = paths["header"].read_text()
    assert text.count(rounding) == 1
    paths["header"].write_text(text.replace(rounding, "return (uint16_t)((uint32_t)q >> 1);"))
    measured = host.measure(model.program, paths["header"], "m", X)
    assert np.any(measured.proba.astype(np.int64) != model.program.proba_q(X))


# ---- manifest, CLI, verify -----------------------------------------------------------------------------------

def test_manifest_round_trip_and_damage():
    program = test_int8.converted("bc_mlp").program
    data = program.to_dict("m")
    assert data["proba"]["op"] == "probability" and data["proba"]["kind"] == "logistic"
    assert data["proba"]["zero_point"] == program.output_zero_point
    back = Program.from_dict(json.loads(json.dumps(data)))
    X = test_int8.split("breast_cancer")[1]
    np.testing.assert_array_equal(back.proba_q(X), program.proba_q(X))
    damaged = json.loads(json.dumps(data))
    damaged["proba"]["d_keep"] += 1
    assert "probability parameters are out of range" in error_of(Program.from_dict, damaged)
    damaged = json.loads(json.dumps(data))
    damaged["proba"]["table"][5] += 1
    assert "re-export" in error_of(Program.from_dict, damaged)
    old = {key: value for key, value in data.items() if key != "proba"}
    assert "predates the integer predict_proba" in error_of(Program.from_dict(old).predict_proba, X)


def test_cli_simulate_columns_and_verify_check(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tinygen.cli import main

    need_tool("gcc")
    monkeypatch.chdir(tmp_path)
    model = gnb.converted("wine", "q7")
    model.save(tmp_path / "out", "wine")
    X = gnb.split("wine")[0][:20]
    np.savetxt("rows.csv", X, delimiter=",", header=",".join(model.program.feature_names), comments="")
    result = CliRunner().invoke(main, ["simulate", "out/wine.json", "rows.csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().split("\n")
    assert lines[0].split(",")[-3:] == ["proba_0", "proba_1", "proba_2"]
    proba = np.array([[float(v) for v in line.split(",")[-3:]] for line in lines[1:]])
    np.testing.assert_array_equal(proba * 32768, model.program.proba_q(X))
    _, y, *_ = gnb.split("wine")
    report = tinygen.verify.verify(gnb.fitted("wine"), gnb.split("wine")[0], y, dtype="q7")
    check = next(c for c in report["checks"] if c["name"].startswith("predict_proba within"))
    assert check["passed"] and report["proba_max_error"] <= report["proba_error_bound"]
    assert report["targets"]["host"]["proba_mismatches"] == 0


# ---- LogisticRegression (issue 13): its scores are logits ---------------------------------------------------

LOGREG_DTYPES = ("q31", "q15", "q7", "int8")


@functools.lru_cache(maxsize=None)
def logreg(dataset: str, kind: str = "logreg"):
    """(the fitted scaler + LogisticRegression or SGDClassifier(loss="log_loss"), X, y) on a bundled data set."""
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = {"breast_cancer": load_breast_cancer, "wine": load_wine}[dataset](return_X_y=True)
    model = LogisticRegression(max_iter=3000) if kind == "logreg" else SGDClassifier(loss="log_loss", random_state=0)
    return make_pipeline(StandardScaler(), model).fit(X, y), X, y


@pytest.mark.parametrize("dataset, kind", [("breast_cancer", "logistic"), ("wine", "softmax")])
def test_logistic_regression_predict_proba_in_integers(dataset, kind):
    """scikit-learn's LogisticRegression.predict_proba is the logistic of its one score (two classes) or the
    softmax of its scores (multinomial): the integer op computes the same, within its proven bound of the
    exact one of the dequantized scores on every row and on edge rows, and C == simulator (predict_proba
    included) on host for every fixed dtype. float32 keeps the host float predict_proba."""
    need_tool("gcc")
    estimator, X, _ = logreg(dataset)
    rows = np.vstack([X, X[:20] * 1e3, -X[:20] * 1e3])
    for dtype in LOGREG_DTYPES:
        model = tinygen.convert(estimator, dtype=dtype, calibration=X)
        program = model.program
        assert program.probability == kind and program.proba.kind == kind and program.proba.scale == program.output_scale
        check_within_bound(program.proba, program.scores(rows))
        sklearn_error = np.abs(model.predict_proba(X) - estimator.predict_proba(X)).max()
        assert sklearn_error <= {"q31": 1e-4, "q15": 1e-2, "q7": 0.2, "int8": 0.1}[dtype], (dtype, sklearn_error)
        assert "_predict_proba(const float *x, uint16_t *proba)" in model.header("lr")
        result = tinygen.verify.compare_on_target(model, "host", rows, "lr")
        assert result["mismatches"] == 0 and result["proba_mismatches"] == 0, (dtype, result)
    float32 = tinygen.convert(estimator, dtype="float32")
    header = float32.header("lr")
    assert float32.program.proba is None and "_predict_proba(const float" not in header
    assert f"predict_proba: not in C for float32 models ({kind} of the scores" in header
    np.testing.assert_allclose(float32.predict_proba(X), estimator.predict_proba(X), atol=1e-5)


def test_logistic_regression_predict_proba_on_avr():
    """NAME_predict_proba of a LogisticRegression on the ATmega328P equals the simulator on every row."""
    for tool in ("avr-gcc", "simavr"):
        need_tool(tool)
    estimator, X, _ = logreg("wine")
    model = tinygen.convert(estimator, dtype="q15", calibration=X)
    result = tinygen.verify.compare_on_target(model, "avr", X, "lr")
    assert result["mismatches"] == 0 and result["proba_mismatches"] == 0, result


def test_sgd_log_loss_predict_proba_binary_only():
    """SGDClassifier(loss="log_loss"): two classes, the logistic (scikit-learn's _predict_proba_lr); more
    classes normalize one-vs-rest logistics, which is no softmax: no integer predict_proba, said so."""
    binary, X, _ = logreg("breast_cancer", "sgd")
    model = tinygen.convert(binary, dtype="q15", calibration=X)
    assert model.program.proba.kind == "logistic"
    assert np.abs(model.predict_proba(X) - binary.predict_proba(X)).max() < 0.02
    multi, X, _ = logreg("wine", "sgd")
    model = tinygen.convert(multi, dtype="q15", calibration=X)
    assert model.program.proba is None
    assert "with two classes), not Pipeline(StandardScaler, SGDClassifier)" in error_of(model.predict_proba, X)


def test_logistic_regression_verify_and_simulate_columns(tmp_path, monkeypatch):
    """verify checks the LogisticRegression's predict_proba against its proven bound; simulate writes its
    proba_k columns (NAME_predict_proba / 32768)."""
    from click.testing import CliRunner

    from tinygen.cli import main

    need_tool("gcc")
    monkeypatch.chdir(tmp_path)
    estimator, X, y = logreg("wine")
    report = tinygen.verify.verify(estimator, X, y, dtype="q7")
    check = next(c for c in report["checks"] if c["name"].startswith("predict_proba within"))
    assert check["passed"] and report["proba_max_error"] <= report["proba_error_bound"]
    assert report["targets"]["host"]["proba_mismatches"] == 0
    model = tinygen.convert(estimator, dtype="q7", calibration=X)
    model.save(tmp_path / "out", "wine")
    names = model.program.feature_names
    np.savetxt("rows.csv", X[:20], delimiter=",", header=",".join(names), comments="")
    result = CliRunner().invoke(main, ["simulate", "out/wine.json", "rows.csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().split("\n")
    assert lines[0].split(",")[-3:] == ["proba_0", "proba_1", "proba_2"]
    proba = np.array([[float(v) for v in line.split(",")[-3:]] for line in lines[1:]])
    np.testing.assert_array_equal(proba * 32768, model.program.proba_q(X[:20]))


def test_logits_too_fine_for_q15_leave_the_model_without_predict_proba():
    """A LogisticRegression whose scores' scale admits no Q15 softmax (zero weights, bias 1e-40 in int8, found by
    tests/test_fuzz.py) still converts and predicts, as before it had predict_proba; predict_proba, also from the
    manifest, says why in one line."""
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression()
    estimator.coef_, estimator.intercept_ = np.zeros((1, 1)), np.array([1e-40])
    estimator.classes_, estimator.n_features_in_ = np.arange(2), 1
    X = np.array([[1.0], [-3.0], [2.0]])
    model = tinygen.convert(estimator, dtype="int8", calibration=X)
    assert model.program.proba is None and model.program.probability is None
    assert len(model.predict(X)) == 3  # (a logit of 1e-40 is 0 in int8: class 0, where scikit-learn says 1)
    message = error_of(model.predict_proba, X)
    assert message.startswith("no integer predict_proba: the scores' scale") and "too fine" in message
    assert error_of(Program.from_dict(json.loads(model.manifest("m"))).predict_proba, X) == message
