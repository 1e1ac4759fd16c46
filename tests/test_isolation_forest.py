"""IsolationForest in exact mode: the program sums each tree's path length (depth + the average path length
of the leaf's samples - 1) in int32 fixed point, minus the threshold d* = -D log2(-offset_), and predicts an
inlier when the sum is >= 0 — the same as scikit-learn's decision_function >= 0. The acceptance matrix
(every data set plus threshold-edge rows, host and MCU targets) is test_trees.py::test_acceptance_rows and
test_trees_mcu.py."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import IsolationForest

import tinygen
import tinygen.ir
import tinygen.modelio
from tinygen import fixedpoint
from tinygen.verify import compare_on_target

from conftest import AVR_FIRMWARE, need_tool


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine])
@pytest.mark.parametrize("options", [{}, {"max_features": 0.5}, {"contamination": 0.1}])
def test_predict_equals_scikit_learn(loader, options):
    need_tool("gcc")
    X, _ = loader(return_X_y=True)
    forest = IsolationForest(n_estimators=50, random_state=0, **options).fit(X)
    model = tinygen.convert(forest)
    assert (model.predict(X) == forest.predict(X)).all()
    assert compare_on_target(model, "host", X, "iso")["mismatches"] == 0
    # the path-length sum behind it, within the rounding of one leaf per tree plus the threshold
    op = model.program.ops[1]
    bound = (len(op.trees) + 1) * 2.0 ** -(op.leaf_frac_bits + 1)
    from sklearn.ensemble._iforest import _average_path_length

    denominator = len(forest.estimators_) * _average_path_length([forest._max_samples])[0]
    expected = -np.log2(-forest.score_samples(X)) * denominator + denominator * np.log2(-forest.offset_)
    assert np.abs(model.scores(X)[:, 0] * op.out_scale - expected).max() <= bound + 1e-9


OPTIONS = [{}, {"max_features": 0.5}, {"contamination": 0.1}, {"max_samples": 16}]
EDGE_ROWS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4e38, -3.4e38, 1e-45]
STATED_BOUND = {"score_samples": 2.0 ** -23, "decision_function": 2.0 ** -22}  # the forests tried here


def _rows_with_edges(X):
    """X plus rows of NaN, +-inf, signed zeros, huge and subnormal values, and rows with a few NaN/inf cells."""
    rng = np.random.default_rng(0)
    edges = [np.full(X.shape[1], v) for v in EDGE_ROWS]
    mixed = X[rng.integers(0, len(X), 12)].copy()
    mixed[rng.random(mixed.shape) < 0.3] = rng.choice([np.nan, np.inf, -np.inf], size=1)[0]
    return np.vstack([X, *edges, mixed])


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine])
@pytest.mark.parametrize("options", OPTIONS)
def test_score_samples_and_decision_function(loader, options, tmp_path):
    """From the integer sum d - d*: score_samples = -2**(-d / D) in Q23, decision_function = it - offset_, both
    within the proven error_bound() of scikit-learn's (and below 2**-23 / 2**-22); the C (host) gives the same
    integers and floats on every row, edge rows included; predict is still scikit-learn's."""
    need_tool("gcc")
    X, _ = loader(return_X_y=True)
    forest = IsolationForest(n_estimators=50, random_state=0, **options).fit(X)
    model = tinygen.convert(forest)
    op = model.program.anomaly_score_op
    bound = op.error_bound()
    for what in ("score_samples", "decision_function"):
        ours, theirs = getattr(model, what)(X), getattr(forest, what)(X)
        error = np.abs(ours - theirs).max()
        assert error <= bound[what] + 1e-12 <= STATED_BOUND[what], (what, error, bound)
        assert np.array_equal(ours * 2.0 ** 23, np.round(ours * 2.0 ** 23))  # multiples of 2**-23
    assert (model.predict(X) == forest.predict(X)).all()
    rows = _rows_with_edges(X)
    assert (model.predict(rows) == forest.predict(rows)).all()
    assert np.abs(model.score_samples(rows) - forest.score_samples(rows)).max() <= bound["score_samples"] + 1e-12
    result = compare_on_target(model, "host", rows, "iso")
    assert result["mismatches"] == 0 and result["anomaly_mismatches"] == 0, result
    model.save(tmp_path, "iso")
    loaded = tinygen.load(tmp_path / "iso.json")
    assert np.array_equal(loaded.decision_function(rows), model.decision_function(rows))
    assert np.array_equal(loaded.program.anomaly_scores(rows), model.program.anomaly_scores(rows))


def test_integer_exp2_against_exact_math():
    """The integer steps alone (no tree rounding): for d = every path-length sum from 0 to d_max (a sample
    plus both ends), |score_q - (-2**(-d 2**-f / D) 2**23)| <= the bound without its path-length term."""
    from fractions import Fraction

    X, _ = load_breast_cancer(return_X_y=True)
    for options in ({}, {"max_samples": 4}, {"n_estimators": 3}):
        model = tinygen.convert(IsolationForest(random_state=0, **{"n_estimators": 50, **options}).fit(X))
        op = model.program.anomaly_score_op
        rng = np.random.default_rng(1)
        d = np.concatenate([[0, 1, op.d_max - 1, op.d_max], rng.integers(0, op.d_max + 1, 20000)])
        score_q, decision_q = op.forward(d + op.bias).T
        exact = -np.exp2(-(d * 2.0 ** -op.leaf_frac_bits) / op.denominator)
        bound = op.error_bound()
        path_term = np.log(2) / op.denominator * op.n_trees * 2.0 ** -(op.leaf_frac_bits + 1)
        assert np.abs(score_q * 2.0 ** -23 - exact).max() <= bound["score_samples"] - path_term + 1e-15
        assert (decision_q == score_q - op.offset_q).all()
        assert op.offset_q == int(Fraction(model.program.anomaly["offset"]) * 2 ** 23 + Fraction(1, 2)) or \
            abs(op.offset_q - model.program.anomaly["offset"] * 2 ** 23) <= 0.5
        assert score_q.min() >= -(1 << 23) and score_q.max() <= 0


def _ctypes_library(tmp_path, model, name):
    """The header's NAME_anomaly_score and NAME_mul_hi_u32 behind exported array wrappers, built with the
    strict flags of the host target."""
    import ctypes

    model.save(tmp_path, name)
    source = tmp_path / "wrap.c"
    source.write_text(f"""#include <stdint.h>
#include "{name}.h"
void tg_anomaly(const int32_t *s, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        {name}_anomaly_score(s[i], out + 2 * i);
    }}
}}
void tg_mul_hi(const uint32_t *a, const uint32_t *b, int64_t n, uint32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {name}_mul_hi_u32(a[i], b[i]);
    }}
}}
""")
    library = tmp_path / "libwrap.so"
    subprocess.run(["gcc", "-std=c99", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion",
                    "-Werror", str(source), "-o", str(library)], check=True, cwd=tmp_path)
    return ctypes.CDLL(str(library))


def test_c_anomaly_score_and_mul_hi_equal_python(tmp_path):
    """NAME_anomaly_score on every kind of s (the proven range, its ends, and any int32 at all: the
    unsigned arithmetic mirrors Python's mod 2**32 even outside it) and NAME_mul_hi_u32 on random and
    edge pairs equal their Python twins."""
    import ctypes

    need_tool("gcc")
    X, _ = load_breast_cancer(return_X_y=True)
    model = tinygen.convert(IsolationForest(n_estimators=20, random_state=0).fit(X))
    op = model.program.anomaly_score_op
    lib = _ctypes_library(tmp_path, model, "iso")
    rng = np.random.default_rng(2)
    lo, hi = -(1 << 31), (1 << 31) - 1
    s = np.concatenate([op.bias + np.arange(0, 5), op.bias + op.d_max - np.arange(0, 5),
                        op.bias + rng.integers(0, op.d_max + 1, 50000), rng.integers(lo, hi + 1, 50000),
                        [lo, lo + 1, -1, 0, 1, hi - 1, hi]])
    s = s[(s >= lo) & (s <= hi)].astype(np.int32)
    out = np.zeros((len(s), 2), dtype=np.int32)
    ptr = lambda a, t: a.ctypes.data_as(ctypes.POINTER(t))  # noqa: E731
    lib.tg_anomaly(ptr(s, ctypes.c_int32), ctypes.c_int64(len(s)), ptr(out, ctypes.c_int32))
    assert np.array_equal(out.astype(np.int64), op.forward(s))
    edges = np.array([0, 1, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF], dtype=np.int64)
    a = np.concatenate([np.repeat(edges, len(edges)), rng.integers(0, 1 << 32, 50000)]).astype(np.uint32)
    b = np.concatenate([np.tile(edges, len(edges)), rng.integers(0, 1 << 32, 50000)]).astype(np.uint32)
    got = np.zeros(len(a), dtype=np.uint32)
    lib.tg_mul_hi(ptr(a, ctypes.c_uint32), ptr(b, ctypes.c_uint32), ctypes.c_int64(len(a)), ptr(got, ctypes.c_uint32))
    expected = np.array([(int(x) * int(y)) >> 32 for x, y in zip(a, b)], dtype=np.int64)
    assert np.array_equal(got.astype(np.int64), expected)
    assert np.array_equal(fixedpoint.mul_hi_u32(a.astype(np.int64), b.astype(np.int64)), expected)


AVR_MAIN = r"""
#include <stdint.h>
#include "uart.h"
#include "iso.h"

/* Rows in on UART0 (count uint16, then N_FEATURES float32 each); per row out: the hex bytes of
 * score_samples_int, decision_function_int (int32) and score_samples, decision_function (float). */
static float x[iso_N_FEATURES];

int main(void)
{
    uint16_t rows;
    uint16_t row;
    uint16_t i;
    cli();
    uart_init();
    rows = get_u16();
    for (row = 0; row < rows; row++) {
        int32_t q[2];
        float f[2];
        uint8_t *dst = (uint8_t *)x;
        for (i = 0; i < sizeof x; i++) {
            dst[i] = get_byte();
        }
        q[0] = iso_score_samples_int(x);
        q[1] = iso_decision_function_int(x);
        f[0] = iso_score_samples(x);
        f[1] = iso_decision_function(x);
        put_hex(q, sizeof q);
        put_hex(f, sizeof f);
        put_byte('\n');
    }
    uart_stop();
    return 0;
}
"""


def test_anomaly_score_on_avr(tmp_path):
    """On the ATmega328P (simavr): NAME_score_samples[_int] and NAME_decision_function[_int] equal the simulator
    bit for bit on every row (edge rows included); the header builds with avr-gcc -Os -Wall -Wextra -Werror."""
    from tinygen.targets import avr

    for tool in ("avr-gcc", "simavr", "gcc"):
        need_tool(tool)
    X, _ = load_breast_cancer(return_X_y=True)
    model = tinygen.convert(IsolationForest(n_estimators=10, max_samples=64, random_state=0).fit(X))
    rows = _rows_with_edges(X[::4])
    model.save(tmp_path, "iso")
    (tmp_path / "main.c").write_text(AVR_MAIN)
    elf = tmp_path / "iso.elf"
    subprocess.run(["avr-gcc", *avr.CFLAGS, "-I", str(tmp_path), f"-I{AVR_FIRMWARE}", str(tmp_path / "main.c"), "-o", str(elf)],
                   check=True, cwd=tmp_path)
    feed = np.uint16(len(rows)).astype("<u2").tobytes() + np.ascontiguousarray(rows, dtype="<f4").tobytes()
    uart, _ = avr.run_elf(elf, cycle_limit=50_000_000 + 5_000_000 * len(rows), uart_input=feed)
    lines = uart.decode("ascii").strip().split("\n")
    assert len(lines) == len(rows)
    record = np.dtype([("q", "<i4", (2,)), ("f", "<f4", (2,))])
    got = np.frombuffer(bytes.fromhex("".join(lines)), dtype=record)
    sim = model.program.anomaly_scores(rows)
    assert np.array_equal(got["q"].astype(np.int64), sim)
    assert np.array_equal(got["f"].view(np.int32), (sim * 2.0 ** -23).astype(np.float32).view(np.int32))


def test_manifest_without_or_with_damaged_anomaly_score(tmp_path):
    import json

    X, _ = load_breast_cancer(return_X_y=True)
    model = tinygen.convert(IsolationForest(n_estimators=5, random_state=0).fit(X))
    model.save(tmp_path, "iso")
    data = json.loads((tmp_path / "iso.json").read_text())
    assert data["anomaly"]["score"]["op"] == "anomaly_score" and data["anomaly"]["score"]["out_frac_bits"] == 23
    old = {**data, "anomaly": {k: v for k, v in data["anomaly"].items() if k != "score"}}
    with pytest.raises(tinygen.TinygenError, match="re-export"):
        tinygen.ir.Program.from_dict(old)
    bad = json.loads(json.dumps(data))
    bad["anomaly"]["score"]["mul"] = 5
    with pytest.raises(tinygen.TinygenError, match="out of range"):
        tinygen.ir.Program.from_dict(bad)
    with pytest.raises(tinygen.TinygenError, match="IsolationForest"):
        tinygen.convert(load_breast_cancer_tree()).score_samples(X)


def load_breast_cancer_tree():
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_breast_cancer(return_X_y=True)
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)


# ---- command line: train / export / simulate / verify ------------------------------------------------------

def _cli(*args, code: int = 0):
    from click.testing import CliRunner

    from tinygen.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, (args, result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def test_cli_train_export_simulate_verify(tmp_path):
    """isolation-forest through the CLI: train without --label (or with it: that column is left out), export,
    simulate (score_samples and decision_function columns, equal to the C's), verify (accuracy against the
    float model's predict, or -1/1 labels; the score bounds; C == simulator incl. the anomaly scores)."""
    import csv
    import json

    need_tool("gcc")
    _cli("dataset", "breast_cancer", "-o", tmp_path / "bc.csv")
    features = tmp_path / "features.csv"
    with open(tmp_path / "bc.csv") as src, open(features, "w", newline="") as dst:
        rows = list(csv.reader(src))
        csv.writer(dst).writerows([row[:-1] for row in rows])
    out = _cli("train", features, "--model", "isolation-forest", "--seed", "1", "-o", tmp_path / "a.skops").output
    assert "IsolationForest on 569 rows x 30 features" in out and "outliers" in out
    out = _cli("train", tmp_path / "bc.csv", "--label", "target", "--model", "isolation-forest", "--seed", "1",
               "-o", tmp_path / "b.skops").output
    assert "label column 'target' left out of the features and not used" in out
    _cli("export", tmp_path / "b.skops", "--name", "iso", "-o", tmp_path / "out")
    header = (tmp_path / "out" / "iso.h").read_text()
    for symbol in ("iso_score_samples_int(const float *x)", "iso_decision_function(const float *x)",
                   "#define iso_SCORE_SAMPLES_SCALE", "#define iso_SCORE_SAMPLES_FRAC_BITS 23"):
        assert symbol in header
    text = _cli("simulate", tmp_path / "out" / "iso.json", features).output
    table = list(csv.reader(text.splitlines()))
    assert table[0] == ["prediction", "score_0", "score_samples", "decision_function"]
    model = tinygen.load(tmp_path / "out" / "iso.json")
    X = np.loadtxt(features, delimiter=",", skiprows=1)
    assert [float(r[2]) for r in table[1:]] == list(model.score_samples(X))
    assert [float(r[3]) for r in table[1:]] == list(model.decision_function(X))
    assert [int(r[0]) for r in table[1:]] == list(model.predict(X))

    _cli("verify", tmp_path / "b.skops", "--data", features, "--json", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and report["rows"] == 569 and report["metric_name"] == "accuracy"
    assert report["metric_reference"] == "float model's predict" and report["agreement"] == 1.0
    assert report["float_metric"] == report["fixed_metric"] == 1.0
    assert report["targets"]["host"]["mismatches"] == 0 and report["targets"]["host"]["anomaly_mismatches"] == 0
    assert report["score_samples_max_error"] <= report["score_samples_error_bound"] < 2.0 ** -23
    # class labels say nothing about outliers: still against the float model; -1/1 labels are used as such
    _cli("verify", tmp_path / "b.skops", "--data", tmp_path / "bc.csv", "--label", "target", "--json", tmp_path / "r2.json")
    assert json.loads((tmp_path / "r2.json").read_text())["metric_reference"] == "float model's predict"
    signed = tmp_path / "signed.csv"
    with open(signed, "w", newline="") as dst:
        forest = tinygen.modelio.load_model(tmp_path / "b.skops")
        writer = csv.writer(dst)
        writer.writerow(rows[0][:-1] + ["outlier"])
        for row, label in zip(rows[1:], forest.predict(X)):
            writer.writerow(row[:-1] + [int(label)])
    _cli("verify", tmp_path / "b.skops", "--data", signed, "--label", "outlier", "--json", tmp_path / "r3.json")
    report = json.loads((tmp_path / "r3.json").read_text())
    assert report["metric_reference"] == "labels" and report["float_metric"] == 1.0


@pytest.mark.parametrize("args,words", [
    (["--model", "logreg"], ["needs --label", "isolation-forest"]),
    (["--model", "isolation-forest", "--task", "regression"], ["unsupervised", "--task"]),
    (["--model", "isolation-forest", "--scaler", "minmax"], ["scaler"]),
    (["--model", "isolation-forest", "--param", "n_estimators=0"], ["invalid parameter", "n_estimators"]),
    (["--model", "isolation-forest", "--param", "contamination=0.9"], ["contamination"]),
])
def test_cli_train_bad_input(tmp_path, args, words):
    _cli("dataset", "wine", "-o", tmp_path / "w.csv")
    result = _cli("train", tmp_path / "w.csv", *args, "-o", tmp_path / "m.skops", code=2)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(word in lines[0] for word in words), lines[0]
    assert not (tmp_path / "m.skops").exists()


def test_cli_verify_without_label_needs_it_for_other_models(tmp_path):
    _cli("dataset", "wine", "-o", tmp_path / "w.csv")
    _cli("train", tmp_path / "w.csv", "--label", "target", "--model", "tree", "-o", tmp_path / "t.skops")
    result = _cli("verify", tmp_path / "t.skops", "--data", tmp_path / "w.csv", code=2)
    assert result.output.startswith("error: verify needs --label") and len(result.output.strip().splitlines()) == 1


def test_verify_q15_isolation_forest_reports_score_error_without_bound():
    """q15 trees route the quantized input, so the exact-path bound does not apply: the error is reported,
    the C still equals the simulator (anomaly scores included)."""
    from tinygen.verify import verify

    need_tool("gcc")
    X, _ = load_wine(return_X_y=True)
    forest = IsolationForest(n_estimators=20, random_state=0).fit(X)
    report = verify(forest, X, None, dtype="q15")
    assert report["passed"] and report["metric_reference"] == "float model's predict"
    assert report["targets"]["host"]["anomaly_mismatches"] == 0
    assert 0 < report["score_samples_max_error"] < 0.05 and "score_samples_error_bound" not in report
