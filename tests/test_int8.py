"""dtype int8 (issue 5): TFLM-style affine int8. The primitives (quantize_multiplier, SRDHM, RDBPOT, MBQM,
AffineQuantize, gemmlowp's logistic/tanh) against straightforward Python-int references and against their C twins on random and edge
values; the acceptance models' accuracy; C == simulator on every row on the host and on sampled rows (edge
rows included) on avr, cortex-m4 and rv32."""
from __future__ import annotations

import functools
import math
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen import fixedpoint, qparams
from tinygen.emit import render_header
from tinygen.ir import Program
from tinygen.ops import int8_activation
from tinygen.verify import compare_on_target

from conftest import edge_rows, need_tool

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
int32s = st.integers(INT32_MIN, INT32_MAX)
MCU_TARGETS = {"avr": ("avr-gcc", "simavr"), "cortex-m4": ("arm-none-eabi-gcc", "qemu-system-arm"),
               "rv32": ("riscv64-unknown-elf-gcc", "qemu-system-riscv32"),
               "xtensa-lx106": ("xtensa-lx106-elf-gcc", "qemu-system-xtensa")}
DATA = {"breast_cancer": load_breast_cancer, "digits": load_digits}
CASES = {"bc_mlp": ("breast_cancer", lambda: MLPClassifier((16, 8), activation="relu", max_iter=2000, random_state=0)),
         "digits_mlp": ("digits", lambda: MLPClassifier((32,), activation="relu", max_iter=2000, random_state=0)),
         "bc_tanh": ("breast_cancer", lambda: MLPClassifier((16, 8), activation="tanh", max_iter=2000, random_state=0)),
         "digits_logistic": ("digits", lambda: MLPClassifier((32,), activation="logistic", max_iter=2000, random_state=0)),
         "bc_logreg": ("breast_cancer", lambda: LogisticRegression(max_iter=5000)),
         "digits_logreg": ("digits", lambda: LogisticRegression(max_iter=5000))}


# ---- references: plain Python integers, written from the definitions ------------------------------------

def ref_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b  # TFLM: nudge 2^30 or 1 - 2^30, then divide truncating toward zero
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) // (1 << 31)
    return q if ab + nudge >= 0 else -q


def ref_rdbpot(x: int, e: int) -> int:
    """x / 2^e rounded half away from zero, with exact rationals."""
    num, den = abs(x), 1 << e
    q, r = divmod(num, den)
    if 2 * r >= den:
        q += 1
    return q if x >= 0 else -q


def ref_quantize_multiplier(m: float) -> tuple[int, int]:
    if m == 0:
        return 0, 0
    q, s = math.frexp(m)
    scaled = q * (1 << 31)
    M = int(math.floor(scaled + 0.5))
    if M == 1 << 31:
        M, s = M // 2, s + 1
    if s < -31:
        M, s = 0, 0
    return M, s


# ---- primitives in Python -------------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(int32s, int32s)
def test_srdhm_matches_reference(a, b):
    assert int(fixedpoint.srdhm(a, b)) == ref_srdhm(a, b)


@settings(max_examples=500, deadline=None)
@given(int32s, st.integers(0, 31))
def test_rdbpot_matches_reference(x, e):
    assert int(fixedpoint.rdbpot(x, e)) == ref_rdbpot(x, e)


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_matches_reference(m):
    M, s = qparams.quantize_multiplier(m)
    assert (M, s) == ref_quantize_multiplier(m)
    if M:
        assert (1 << 30) <= M < (1 << 31)
        assert abs(M * 2.0 ** (s - 31) - m) <= m * 2.0 ** -30


def test_quantize_multiplier_edges():
    assert qparams.quantize_multiplier(0.0) == (0, 0)
    assert qparams.quantize_multiplier(0.5) == (1 << 30, 0)
    assert qparams.quantize_multiplier(1.0) == (1 << 30, 1)
    assert qparams.quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)  # rounds up to 2^31: the fix
    assert qparams.quantize_multiplier(2.0 ** -40) == (0, 0)  # s < -31
    # a tie: q * 2^31 = k + 0.5 rounds away from zero (Python's round would go to even)
    m = (2 * (1 << 30) + 1) / 2.0 ** 32  # q = m * 2, q * 2^31 = 2^30 + 0.5
    assert qparams.quantize_multiplier(m) == ((1 << 30) + 1, 0)


def test_mbqm_is_double_rounding_and_refuses_overflow():
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << 24), 1 << 24, 2000)
    for _ in range(20):
        M, s = qparams.quantize_multiplier(float(rng.uniform(1e-6, 0.9)))
        expected = [ref_rdbpot(ref_srdhm(int(v), M), -s) for v in x]
        assert list(fixedpoint.mbqm(x, M, s)) == expected
    with pytest.raises(AssertionError):
        fixedpoint.mbqm(1 << 30, 1 << 30, 2)


def test_affine_quantize_rounding():
    scale = np.float32(0.5)
    x = np.array([0.25, -0.25, 0.75, -0.75, 0.2, 1000.0, -1000.0, np.nan, np.inf, -np.inf, 127.0, 128.0], dtype=np.float32)
    got = fixedpoint.affine_quantize(x, scale, 3)
    assert list(got) == [4, 2, 5, 1, 3, 127, -128, 3, 127, -128, 127, 127]


# ---- primitives in C == Python --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def split(dataset: str):
    X, y = DATA[dataset](return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@functools.lru_cache(maxsize=None)
def fitted(case: str):
    dataset, make = CASES[case]
    X_train, _, y_train, _ = split(dataset)
    return make_pipeline(StandardScaler(), make()).fit(X_train, y_train)


@functools.lru_cache(maxsize=None)
def converted(case: str):
    return tinygen.convert(fitted(case), dtype="int8", calibration=split(CASES[case][0])[0])


def edge_values(rng) -> tuple[np.ndarray, np.ndarray]:
    edges = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -1, 0, 1, (1 << 30), INT32_MAX - 1, INT32_MAX, 12345, -12345]
    a = np.concatenate([np.repeat(edges, len(edges)), rng.integers(INT32_MIN, INT32_MAX, 20000, endpoint=True)])
    b = np.concatenate([np.tile(edges, len(edges)), rng.integers(INT32_MIN, INT32_MAX, 20000, endpoint=True)])
    return a, b


def test_primitives_c_equals_python(tmp_path):
    need_tool("gcc")
    (tmp_path / "tgi8.h").write_text(render_header(converted("bc_logreg").program, "tgi8"))
    rng = np.random.default_rng(1)
    a, b = edge_values(rng)
    e = rng.integers(0, 32, len(a))
    shifts = rng.integers(-31, 1, len(a))
    multipliers = rng.integers(1 << 30, 1 << 31, len(a))
    small = a >> rng.integers(8, 31, len(a))  # mbqm inputs: accumulators
    floats = np.concatenate([rng.normal(size=5000).astype(np.float32) * np.float32(300),
                             np.array([0.5, -0.5, 1.5, -1.5, 2.5, 255.5, -255.5, 256.0, -256.0, np.nan, np.inf, -np.inf,
                                       0.49999997, -0.49999997, 1e-45, 3e38], dtype=np.float32)])
    scales = rng.uniform(0.1, 3.0, len(floats)).astype(np.float32)
    zps = rng.integers(-128, 128, len(floats))
    lines = [f"{x} {y} {k} {v} {m} {s}" for x, y, k, v, m, s in zip(a, b, e, small, multipliers, shifts)]
    source = tmp_path / "p.c"
    source.write_text(f"""
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "tgi8.h"
int main(void)
{{
    long long a, b, e, v, m, s;
    unsigned int bits, sbits;
    int zp;
    int n, i;
    if (scanf("%d", &n) != 1) return 1;
    for (i = 0; i < n; i++) {{
        if (scanf("%lld %lld %lld %lld %lld %lld", &a, &b, &e, &v, &m, &s) != 6) return 1;
        printf("%ld %ld %ld\\n", (long)tgi8_srdhm((int32_t)a, (int32_t)b), (long)tgi8_rdbpot((int32_t)a, (uint8_t)e),
               (long)tgi8_mbqm((int32_t)v, (int32_t)m, (int8_t)s));
    }}
    if (scanf("%d", &n) != 1) return 1;
    for (i = 0; i < n; i++) {{
        float x, sc;
        if (scanf("%x %x %d", &bits, &sbits, &zp) != 3) return 1;
        memcpy(&x, &bits, 4);
        memcpy(&sc, &sbits, 4);
        printf("%ld\\n", (long)tgi8_affine_quantize(x, sc, zp, -128, 127));
    }}
    return 0;
}}
""")
    binary = tmp_path / "p"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path}", str(source), "-o", str(binary)],
                   check=True, capture_output=True, text=True)
    stdin = f"{len(lines)}\n" + "\n".join(lines) + f"\n{len(floats)}\n" + "\n".join(
        f"{int(f):x} {int(s):x} {z}" for f, s, z in zip(floats.view(np.uint32), scales.view(np.uint32), zps)) + "\n"
    out = subprocess.run([str(binary)], input=stdin, check=True, capture_output=True, text=True).stdout.split("\n")
    c_ints = np.array([list(map(int, line.split())) for line in out[:len(lines)]])
    np.testing.assert_array_equal(c_ints[:, 0], fixedpoint.srdhm(a, b))
    np.testing.assert_array_equal(c_ints[:, 1], fixedpoint.rdbpot(a, e))
    np.testing.assert_array_equal(c_ints[:, 2], fixedpoint.mbqm(small, multipliers, shifts))
    c_q = np.array([int(line) for line in out[len(lines):len(lines) + len(floats)]])
    np.testing.assert_array_equal(c_q, fixedpoint.affine_quantize(floats, scales, zps))


# ---- models ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", tuple(CASES))
def test_accuracy_drop(case):
    _, X_test, _, y_test = split(CASES[case][0])
    float_accuracy = float(np.mean(fitted(case).predict(X_test) == y_test))
    accuracy = float(np.mean(converted(case).predict(X_test) == y_test))
    assert float_accuracy - accuracy <= 0.015, (float_accuracy, accuracy)


def test_program_shape_and_round_trip():
    program = converted("bc_mlp").program
    assert [op.op for op in program.ops] == ["quantize_affine", "fully_connected", "fully_connected", "fully_connected"]
    for op in program.ops[1:]:
        assert np.abs(op.weights).max() <= 127 and op.acc_bound < 1 << 31
        assert all((1 << 30) <= m < (1 << 31) for m in op.multiplier)
    assert [op.activation for op in program.ops[1:]] == ["relu", "relu", "none"]
    X = np.vstack([split("breast_cancer")[1], edge_rows(30)])
    back = Program.from_dict(program.to_dict("m"))
    np.testing.assert_array_equal(back.scores(X), program.scores(X))
    scores = program.scores(X)
    assert scores.min() >= -128 and scores.max() <= 127


def test_gemmlowp_logistic_tanh_close_to_float():
    """The Q4.27 -> Q0.31 fixed-point functions are within a few 2^-31 ulps... of the real functions (gemmlowp
    documents ~1e-6 here); odd / complementary symmetry holds exactly as in gemmlowp."""
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.integers(-(1 << 31) + 1, 1 << 31, 3000), [1, -1, 1 << 27, -(1 << 27), (1 << 31) - 1]])
    for a in values:
        x = int(a) / 2.0 ** 27
        assert abs(qparams.logistic_q4(int(a)) / 2.0 ** 31 - 1 / (1 + math.exp(-x))) < 2e-6
        assert abs(qparams.tanh_q4(int(a)) / 2.0 ** 31 - math.tanh(x)) < 4e-6
        assert qparams.tanh_q4(-int(a)) == -qparams.tanh_q4(int(a))
    assert qparams.logistic_q4(0) == 1 << 30 and qparams.tanh_q4(0) == 0


def test_int8_activation_tables():
    """TFLM's kernel output is within 1 of the rounded real function on every int8 input, saturates beyond
    the radius, and the tables are monotonic."""
    for kind, f, (scale_out, zp_out) in (("logistic", lambda v: 1 / (1 + np.exp(-v)), (1 / 256, -128)),
                                          ("tanh", np.tanh, (1 / 128, 0))):
        for scale, zero_point in ((0.05, 0), (0.01, -20), (0.3, 40)):
            op = int8_activation.quantize(kind, 4, scale, zero_point)
            x = np.arange(-128, 128)
            ideal = np.clip(np.round(f(np.float32(scale) * (x - zero_point)) / scale_out) + zp_out, -128, 127)
            assert np.abs(op.table - ideal).max() <= 1
            assert np.all(np.diff(op.table) >= 0)
            np.testing.assert_array_equal(op.forward(np.array([[-128, 127]])), [[op.table[0], op.table[255]]])


def test_regressor_and_predict_proba():
    """value decisions dequantize (score - zero point) * scale; predict_proba reads the same logits."""
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    est = make_pipeline(StandardScaler(), Ridge()).fit(X_train, y_train)
    model = tinygen.convert(est, dtype="int8", calibration=X_train)
    assert r2_score(y_test, est.predict(X_test)) - r2_score(y_test, model.predict(X_test)) <= 0.02
    manifest = model.program.to_dict("m")
    assert manifest["output_zero_point"] == model.program.ops[-1].out_zero_point
    scores = model.program.scores(X_test)[:, 0]
    np.testing.assert_array_equal(model.predict(X_test),
                                  ((scores - manifest["output_zero_point"]).astype(np.float32) * np.float32(manifest["output_scale"])))
    need_tool("gcc")
    assert compare_on_target(model, "host", np.vstack([X_test, edge_rows(10)]), "m")["mismatches"] == 0
    _, X_test, _, _ = split("breast_cancer")
    error = np.abs(converted("bc_mlp").predict_proba(X_test) - fitted("bc_mlp").predict_proba(X_test))
    assert error.max() <= 0.15 and error.mean() <= 0.01, (error.max(), error.mean())
    for case in ("bc_mlp", "digits_mlp"):  # the integer predict_proba: its proven bound on every row
        program = converted(case).program
        X = np.vstack([split(CASES[case][0])[1], edge_rows(program.n_features)])
        scores = program.scores(X)
        assert np.abs(program.predict_proba(X) - program.softmax_of_scores(scores)).max() <= program.proba.error_bound()
        assert program.proba.zero_point == program.output_zero_point and program.proba.scale == program.output_scale


@pytest.mark.parametrize("case", tuple(CASES))
def test_host_every_row(case):
    need_tool("gcc")
    dataset = CASES[case][0]
    X = np.vstack([*split(dataset)[:2], edge_rows(split(dataset)[0].shape[1])])
    result = compare_on_target(converted(case), "host", X, "m")
    assert result["rows"] == len(X) and result["mismatches"] == 0, result


@pytest.mark.parametrize("target", tuple(MCU_TARGETS))
def test_mcu_targets(target):
    for tool in MCU_TARGETS[target]:
        need_tool(tool)
    for case in ("bc_mlp", "digits_mlp", "bc_tanh", "digits_logistic", "bc_logreg"):
        X_test = split(CASES[case][0])[1]
        X = np.vstack([X_test[:: max(1, len(X_test) // 12)], edge_rows(X_test.shape[1])[::2]])
        result = compare_on_target(converted(case), target, X, "m")
        assert result["rows"] == len(X) and result["mismatches"] == 0, (case, result)
        assert result.get("proba_mismatches") == (None if converted(case).program.proba is None else 0)  # predict_proba too
