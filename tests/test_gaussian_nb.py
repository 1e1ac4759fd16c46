"""GaussianNB (issue 5, naive-Bayes half): the gaussian_jll op on iris, wine and breast_cancer.

- accuracy on a held-out split (75/25, random_state 0): q15 within 0.005 of the float model; q7 within the
  measured Q7_MAX_DROP (7-bit inputs lose one of iris's 38 test rows, 0.026: stated, not hidden); float32 equal
- the margin property (tinygen/ops/gaussian_jll.py): on every row of every data set the scores are within the
  proven per-row bound of scikit-learn's joint log-likelihood, and wherever the float model's best class leads
  by more than twice the row's bound the fixed argmax is scikit-learn's; rows within the margin are counted
- C == simulator on every row plus edge rows (NaN, +-inf, huge, subnormal) on host, avr, cortex-m4 and rv32;
  a model whose scores can saturate, and one with a zero prior, the same
- the CLI: train --model gnb, export, verify
"""
from __future__ import annotations

import functools
import json
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import tinygen
from tinygen.cli import main
from tinygen.frontend import to_float_program
from tinygen.ir import Program
from tinygen.ops.gaussian_jll import INT32_MIN, error_bound
from tinygen.ops.gaussian_jll import decided as proven_rows
from tinygen.targets import TARGETS
from tinygen.verify import compare_on_target

from conftest import error_of, need_tool

DATASETS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer}
DTYPES = ("q15", "q7", "float32")
FIXED = ("q15", "q7")
MCU_TARGETS = ("avr", "cortex-m4", "rv32")
# xtensa-lx106 under the slow marker (its default cases: test_target_xtensa.py and the spread sweeps)
XTENSA = pytest.param("xtensa-lx106", marks=pytest.mark.slow)
Q15_MAX_DROP = 0.005
# measured: iris 0.026 (1 of its 38 test rows: the float model itself, fed the 7-bit-rounded inputs, loses the same
# row), wine -0.022 (q7 gains a row), breast_cancer 0. q7 does not hold 0.005; this is its honest limit here.
Q7_MAX_DROP = 0.03
SKLEARN_SLACK = 1e-9  # scikit-learn's own float64 rounding of the jll

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning",
                                        "ignore:divide by zero encountered in log:RuntimeWarning")  # a zero prior


@functools.lru_cache(maxsize=None)
def split(dataset: str):
    """(X, y, X_train, X_test, y_train, y_test): every row and a fixed 75/25 split."""
    X, y = DATASETS[dataset](return_X_y=True)
    return (X, y, *train_test_split(X, y, test_size=0.25, random_state=0))


@functools.lru_cache(maxsize=None)
def fitted(dataset: str) -> GaussianNB:
    _, _, X_train, _, y_train, _ = split(dataset)
    return GaussianNB().fit(X_train, y_train)


@functools.lru_cache(maxsize=None)
def converted(dataset: str, dtype: str):
    return tinygen.convert(fitted(dataset), dtype=dtype, calibration=split(dataset)[2])


def edge_rows(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """Rows the input conversion must survive: NaN (-> 0), +-inf and huge values (saturate), subnormals, zeros,
    and single special features in otherwise real rows."""
    rng = np.random.default_rng(seed)
    specials = np.array([np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e30, -1e30, 1e-45, -1e-45, 0.0, -0.0, 65504.0])
    n = X.shape[1]
    rows = [np.full(n, value) for value in specials]
    rows += [rng.choice(specials, size=n) for _ in range(40)]
    for _ in range(60):
        row = X[rng.integers(len(X))].copy()
        row[rng.integers(n)] = rng.choice(specials)
        rows.append(row)
    rows += [X.max(axis=0) * scale for scale in (2.0, 10.0, 1e4)] + [X.min(axis=0) - 1e4 * X.std(axis=0)]
    return np.asarray(rows, dtype=np.float64)


def need_target(target: str) -> None:
    for tool in getattr(TARGETS[target], "tools", None) or (("avr-gcc", "simavr") if target == "avr" else ("gcc",)):
        need_tool(tool)


# ---- accuracy ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", DATASETS)
def test_accuracy_on_held_out_split(dataset, record_property):
    _, _, _, X_test, _, y_test = split(dataset)
    float_accuracy = float(np.mean(fitted(dataset).predict(X_test) == y_test))
    accuracy = {dtype: float(np.mean(converted(dataset, dtype).predict(X_test) == y_test)) for dtype in DTYPES}
    record_property("accuracy", {"float": float_accuracy, **accuracy})
    print(f"{dataset}: float {float_accuracy:.4f}, " + ", ".join(f"{k} {v:.4f}" for k, v in accuracy.items()))
    assert float_accuracy - accuracy["q15"] <= Q15_MAX_DROP + 1e-12
    assert float_accuracy - accuracy["q7"] <= Q7_MAX_DROP + 1e-12
    assert accuracy["float32"] == float_accuracy


# ---- the error bound and the margin ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FIXED)
@pytest.mark.parametrize("dataset", DATASETS)
def test_margin_property_on_every_row(dataset, dtype, record_property):
    X = split(dataset)[0]
    estimator, model = fitted(dataset), converted(dataset, dtype)
    fop = to_float_program(estimator).ops[0]
    qop = model.program.ops[-1]
    assert not qop.saturate  # these models cannot saturate: the bound holds for every in-range input
    jll = estimator.predict_joint_log_proba(X)
    offsets = model.program.ops[0].offsets
    bound = error_bound(fop, qop, X, offsets)
    best = np.argmax(jll, axis=1)
    assert np.all(np.isfinite(bound[np.arange(len(X)), best])), "a data row capped or saturated its best class"
    error = np.abs(model.scores(X) * 2.0 ** -qop.out_frac_bits - jll)
    finite = np.isfinite(bound)  # inf: a class with a capped term (decided by the cap, below)
    assert np.all(error[finite] <= bound[finite] + SKLEARN_SLACK), float(np.max(error[finite] - bound[finite]))
    decided = proven_rows(fop, qop, X, offsets)
    agree = model.program.decide(model.scores(X)) == best
    assert np.all(agree[decided]), np.flatnonzero(decided & ~agree)
    within = int(np.sum(~decided))
    record_property("rows_within_margin", within)
    print(f"{dataset} {dtype}: {within} of {len(X)} rows within the margin (max finite bound "
          f"{bound[finite].max():.3g} nats, {int(np.sum(~finite))} capped class scores); {int(np.sum(~agree))} disagree with the float argmax")
    if dtype == "q15":  # the bound is tight enough to decide (almost) every row
        assert within <= 0.01 * len(X)


def test_bound_covers_the_scores_not_just_the_argmax():
    """The bound is not vacuous: the scores really move (by more than the floors alone), and stay within it."""
    X = split("breast_cancer")[0]
    model = converted("breast_cancer", "q15")
    qop = model.program.ops[-1]
    error = np.abs(model.scores(X) * 2.0 ** -qop.out_frac_bits - fitted("breast_cancer").predict_joint_log_proba(X))
    assert error.max() > qop.n_in * 2.0 ** -qop.out_frac_bits


# ---- C == simulator ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_c_equals_simulator_on_host(dataset, dtype):
    need_tool("gcc")
    X = split(dataset)[0]
    rows = np.vstack([X, edge_rows(X)])
    result = compare_on_target(converted(dataset, dtype), "host", rows, "gnb")
    assert result["rows"] == len(rows) and result["mismatches"] == 0, result


@pytest.mark.parametrize("target", (*MCU_TARGETS, XTENSA))
@pytest.mark.parametrize("dataset", DATASETS)
def test_c_equals_simulator_on_mcu(dataset, target):
    need_target(target)
    X = split(dataset)[0]
    rows = np.vstack([X, edge_rows(X, seed=1)])
    for dtype in DTYPES:
        result = compare_on_target(converted(dataset, dtype), target, rows, "gnb")
        assert result["rows"] == len(rows) and result["mismatches"] == 0, (dtype, result)


def test_edge_inputs_do_not_overflow():
    """NaN becomes 0 before the op; +-inf and huge values saturate to the input range; the scores stay in the
    proven range (no saturation for these models) and equal what the integer program says."""
    X = split("breast_cancer")[0]
    for dtype in FIXED:
        model = converted("breast_cancer", dtype)
        qop = model.program.ops[-1]
        scores = model.scores(edge_rows(X))
        assert scores.min() >= qop.score_floor > INT32_MIN and scores.max() <= qop.constant.max()
        nan_row = np.full((1, X.shape[1]), np.nan)
        zero_row = np.zeros((1, X.shape[1]))
        assert np.array_equal(model.scores(nan_row), model.scores(zero_row))


def _saturating_model():
    """64 features whose class spread is a few input steps: the worst case over every input (all at one end of
    the range) is ~2**5 times what a saturation-free score format could hold at the resolution the multipliers
    allow. With calibration rows the terms are capped (no score can reach INT32_MIN; far-away inputs cap their
    terms); with none (every calibration row has a NaN) quantize() takes that resolution and far-away inputs
    clamp at INT32_MIN."""
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 100)
    X = np.where(y[:, None] == 0, 0.9, 0.8) + rng.normal(size=(200, 64)) * 2.0 ** -12
    return GaussianNB().fit(X, y), X


@pytest.mark.parametrize("target", ("host", *MCU_TARGETS, XTENSA))
def test_saturating_scores_and_zero_prior(target):
    need_target(target)
    estimator, X = _saturating_model()
    rows = np.vstack([X, edge_rows(X, seed=2)])
    no_finite_row = X.copy()
    no_finite_row[np.arange(len(X)), np.arange(len(X)) % X.shape[1]] = np.nan  # every column keeps finite values
    for dtype in FIXED:
        capped = tinygen.convert(estimator, dtype=dtype, calibration=X)
        uncapped = tinygen.convert(estimator, dtype=dtype, calibration=no_finite_row)
        qop = capped.program.ops[-1]
        assert uncapped.program.ops[-1].saturate and uncapped.program.ops[-1].term_cap is None
        assert not qop.saturate and qop.term_cap is not None
        if target == "host":
            assert np.any(uncapped.scores(rows) == INT32_MIN)  # the clamp is exercised
            x_q = capped.program.ops[0].forward(rows)
            assert np.any(qop.terms(qop.squares(x_q)) == qop.term_cap)  # and the cap
        for model in (capped, uncapped):
            result = compare_on_target(model, target, rows, "sat")
            assert result["mismatches"] == 0, (dtype, result)
    Xi, yi = load_iris(return_X_y=True)
    zero_prior = GaussianNB(priors=[0.0, 0.5, 0.5]).fit(Xi, yi)
    for dtype in DTYPES:
        model = tinygen.convert(zero_prior, dtype=dtype, calibration=Xi)
        assert not np.any(model.predict(Xi) == 0) and not np.any(zero_prior.predict(Xi) == 0)
        if dtype != "float32":
            assert np.all(model.scores(Xi)[:, 0] == INT32_MIN)
        result = compare_on_target(model, target, np.vstack([Xi, edge_rows(Xi)]), "prior")
        assert result["mismatches"] == 0, (dtype, result)


# ---- frontend, manifest, errors ----------------------------------------------------------------------------

def test_scalers_fold_and_pca_is_refused():
    X, y, X_train, _, y_train, _ = split("wine")
    plain = fitted("wine")
    for scaler in (StandardScaler(), MinMaxScaler()):
        pipeline = make_pipeline(scaler, GaussianNB()).fit(X_train, y_train)
        fop = to_float_program(pipeline).ops
        assert len(fop) == 1  # the scaler moved into theta and var
        jll = pipeline[-1].predict_joint_log_proba(pipeline[0].transform(X))
        assert np.allclose(fop[0].forward(X), jll, rtol=1e-9, atol=1e-9)
        model = tinygen.convert(pipeline, dtype="q15", calibration=X_train)
        assert np.mean(model.predict(X) == pipeline.predict(X)) >= 0.99
    assert np.array_equal(plain.predict(X), make_pipeline(StandardScaler(), GaussianNB()).fit(X_train, y_train).predict(X))
    pca = make_pipeline(PCA(n_components=4), GaussianNB()).fit(X_train, y_train)
    assert "PCA" in error_of(tinygen.convert, pca, dtype="q15", calibration=X_train)


def test_dtypes_that_do_not_apply():
    model, X_train = fitted("iris"), split("iris")[2]
    assert "q31" in error_of(tinygen.convert, model, dtype="q31", calibration=X_train)
    assert "exact" in error_of(tinygen.convert, model, dtype="exact", calibration=X_train)
    assert "calibration" in error_of(tinygen.convert, model, dtype="q15")
    assert tinygen.convert(model, calibration=X_train).dtype == "q15"  # the default


def test_manifest_round_trip_and_damage(tmp_path):
    X = split("wine")[0]
    for dtype in DTYPES:
        model = converted("wine", dtype)
        paths = model.save(tmp_path / dtype, "gnb")
        loaded = tinygen.load(paths["manifest"])
        assert np.array_equal(loaded.scores(X), model.scores(X))
        assert loaded.header("gnb") == model.header("gnb")
    data = json.loads((tmp_path / "q15" / "gnb.json").read_text())
    op = data["ops"][-1]
    assert op["op"] == "gaussian_jll" and op["saturation"].startswith("impossible")
    op["mult"][0][0] = 1 << 16
    assert "re-export" in error_of(Program.from_dict, data)


# ---- headers -------------------------------------------------------------------------------------------------

def test_headers_compile_strictly_with_tables_in_flash(tmp_path):
    compile_strictly(tmp_path, {f"gnb_{dtype}": converted("breast_cancer", dtype) for dtype in DTYPES}, 30)


def compile_strictly(tmp_path, models: dict, n_features: int) -> None:
    """Every header of `models` ({name: model}) in one program: gcc C99 and g++ C++11 with -Wconversion -Werror,
    avr-gcc -Werror, and no table in the AVR's RAM (.data)."""
    gcc, gxx, avr_gcc, avr_size = (need_tool(t) for t in ("gcc", "g++", "avr-gcc", "avr-size"))
    names = list(models)
    for name, model in models.items():
        model.save(tmp_path, name)
    lines = [f'#include "{name}.h"' for name in names] + ["volatile float sink;", "int main(void)", "{",
                                                          f"    float x[{n_features}] = {{0}};"]
    for name in names:
        lines.append(f"    {{ {name}_score_t s[{name}_N_OUTPUTS]; {name}_scores(x, s); sink += (float){name}_predict(x); }}")
        if not name.endswith("float32"):
            lines.append(f"    {{ {name}_input_t q[{name}_N_FEATURES]; {name}_quantize_input(x, q); sink += (float){name}_predict_q(q); }}")
    lines += ["    return 0;", "}"]
    source = tmp_path / "all.c"
    source.write_text("\n".join(lines) + "\n")
    strict = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
    subprocess.run([gcc, "-std=c99", *strict, "-I", str(tmp_path), str(source), "-o", str(tmp_path / "c99")],
                   check=True, capture_output=True, text=True)
    subprocess.run([gxx, "-x", "c++", "-std=c++11", *strict, "-I", str(tmp_path), str(source), "-o",
                    str(tmp_path / "cxx11")], check=True, capture_output=True, text=True)
    elf = tmp_path / "all.elf"
    done = subprocess.run([avr_gcc, "-mmcu=atmega328p", "-Os", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path),
                           str(source), "-o", str(elf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    sizes = subprocess.run([avr_size, "-A", str(elf)], check=True, capture_output=True, text=True).stdout
    assert "\n.data " not in sizes or " 0 " in sizes.split("\n.data ")[1].split("\n")[0], sizes


# ---- CLI -------------------------------------------------------------------------------------------------------

def test_cli_train_export_verify(tmp_path, monkeypatch):
    need_tool("gcc")
    monkeypatch.chdir(tmp_path)

    def run(*args, code=0):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == code, (args, result.output, result.exception)
        return result

    run("dataset", "breast_cancer", "-o", "data.csv")
    run("train", "data.csv", "--label", "target", "--model", "gnb", "--param", "var_smoothing=1e-8", "-o", "gnb.skops")
    run("export", "gnb.skops", "--dtype", "q15", "--calibration", "data.csv", "--label", "target", "--name", "nb",
        "-o", "out/")
    manifest = json.loads((tmp_path / "out" / "nb.json").read_text())
    assert manifest["ops"][-1]["op"] == "gaussian_jll" and manifest["decision"] == "argmax"
    assert "GaussianNB" in manifest["source"]
    for dtype in DTYPES:
        run("verify", "gnb.skops", "--data", "data.csv", "--label", "target", "--dtype", dtype,
            "--json", f"report_{dtype}.json")
        report = json.loads((tmp_path / f"report_{dtype}.json").read_text())
        assert report["passed"] and report["targets"]["host"]["mismatches"] == 0, report
    message = run("train", "data.csv", "--label", "target", "--model", "gnb", "--param", "alpha=1", "-o", "x.skops",
                  code=2).output
    assert "var_smoothing" in message
