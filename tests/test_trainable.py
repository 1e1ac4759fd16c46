"""Trainable linear models (issue 17): the integer SGD step of the C (NAME_partial_fit) equals the simulator's
(ConvertedModel.partial_fit) after update streams -- random streams, label noise, edge rows and extreme learning
rates that saturate (saturations counted equal), L2 on and off, every schedule -- on host, avr, cortex-m4 and rv32:
NAME_weights() byte-identical to trainable_weights(), steps and saturations equal, and the scores and predictions of
every data row identical; binary, multiclass (iris, wine) and regression (diabetes). Also: the manifest round trip,
the weights API, the refusals, the accumulator bound at the clamped weights for any int16 input (with a
UBSan-built C on a saturating stream), and property tests of the schedule and the step."""
from __future__ import annotations

import functools
import subprocess
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (LogisticRegression, Perceptron, Ridge, SGDClassifier, SGDRegressor)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

import tinygen
from tinygen.api import ConvertedModel
from tinygen.errors import TinygenError
from tinygen.ir import Program
from tinygen.ops import learning_rate
from tinygen.ops.trainable_dense import TrainState, weight_limits
from tinygen.targets import avr, host, qemu
from tinygen.targets.toolchain import package_root

from conftest import edge_rows, error_of, need_tool, spread_over_targets

TARGETS = ("host", "avr", "cortex-m4", "rv32", "xtensa-lx106")
TOOLS = {"host": ("gcc",), "avr": ("avr-gcc", "simavr")}
DATA = {"cancer": load_breast_cancer, "iris": load_iris, "wine": load_wine, "diabetes": load_diabetes}
MODELS = {
    "sgd_log": lambda: SGDClassifier(loss="log_loss", alpha=0.01, random_state=0),
    "sgd_hinge": lambda: SGDClassifier(loss="hinge", alpha=0.01, random_state=0),
    "sgd_squared_hinge": lambda: SGDClassifier(loss="squared_hinge", alpha=0.01, learning_rate="constant", eta0=1e-3,
                                               random_state=0),
    "perceptron": lambda: Perceptron(random_state=0),
    "logreg": lambda: LogisticRegression(max_iter=3000),
    "svc": lambda: LinearSVC(max_iter=5000),
    "svc_hinge": lambda: LinearSVC(loss="hinge", max_iter=5000),
    "sgd_reg": lambda: SGDRegressor(alpha=0.01, random_state=0),
}
# (case, data, model, learning rate, l2, stream): every loss, schedule and L2 setting, and streams that saturate
CASES = [
    ("log_constant_l2", "cancer", "sgd_log", "constant:2^-7", 2.0 ** -10, "random"),
    ("hinge_noise", "cancer", "sgd_hinge", "constant:0.01", None, "noisy"),
    ("hinge_extreme", "cancer", "sgd_hinge", "constant:1", None, "edges"),
    ("log_invscaling_l2", "cancer", "logreg", "invscaling:0.5:0.5", 2.0 ** -6, "noisy"),
    ("squared_hinge_svc", "cancer", "svc", "constant:2^-9", None, "edges"),
    ("hinge_svc_optimal", "cancer", "svc_hinge", "optimal", 0.01, "random"),
    ("perceptron_extreme", "cancer", "perceptron", "constant:1", None, "edges"),
    ("squared_hinge_sgd", "cancer", "sgd_squared_hinge", "invscaling:2^-4:0.25", None, "noisy"),
    ("iris_log", "iris", "sgd_log", "constant:2^-5", None, "noisy"),
    ("wine_hinge_l2", "wine", "sgd_hinge", "invscaling:0.1", 2.0 ** -8, "edges"),
    ("diabetes_reg", "diabetes", "sgd_reg", "constant:2^-10", None, "random"),
    ("diabetes_reg_extreme", "diabetes", "sgd_reg", "constant:2^-1", 2.0 ** -3, "edges"),
]
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning")


@functools.lru_cache(maxsize=None)
def dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = DATA[name](return_X_y=True)
    return X, y


@functools.lru_cache(maxsize=None)
def fitted(data: str, kind: str, scaled: bool = True):
    """The model fitted on the first half of the data set (shuffled with a fixed seed)."""
    X, y = dataset(data)
    order = np.random.default_rng(1).permutation(len(X))[: len(X) // 2]
    estimator = make_pipeline(StandardScaler(), MODELS[kind]()) if scaled else MODELS[kind]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X[order], y[order])


def stream(data: str, kind: str, seed: int = 0, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Update rows: random rows of the data set; "noisy": a quarter of the labels replaced (regression: targets
    moved by noise); "edges": the random rows with edge rows (NaN, +-inf, huge) mixed in, which saturate z."""
    X, y = dataset(data)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(X), n)
    rows, labels = X[index].copy(), y[index].copy()
    regression = data == "diabetes"
    if kind == "noisy":
        flip = rng.random(n) < 0.25
        labels = np.where(flip, labels + rng.normal(0, 100, n), labels) if regression else \
            np.where(flip, rng.choice(np.unique(y), n), labels)
    if kind == "edges":
        edges = edge_rows(X.shape[1]) * 1e3
        rows = np.vstack([rows, *[edges] * 4])
        labels = np.concatenate([labels, rng.normal(0, 1e4, 4 * len(edges)) if regression
                                 else rng.choice(np.unique(y), 4 * len(edges))])
        order = rng.permutation(len(rows))
        rows, labels = rows[order], labels[order]
    return rows, labels


def measure(target: str, model: ConvertedModel, header, X: np.ndarray, updates, start_weights: bytes | None = None):
    for tool in TOOLS.get(target) or qemu.TARGETS[target].tools:
        need_tool(tool)
    program = model.program
    module = {"host": host, "avr": avr}[target] if target in ("host", "avr") else qemu.TARGETS[target]
    return module.measure(program, header, "t", X, updates=updates, start_weights=start_weights)


def convert(data: str, kind: str, rate: str | None = None, l2=None) -> ConvertedModel:
    X, _ = dataset(data)
    return tinygen.convert(fitted(data, kind), calibration=X, trainable=True, learning_rate=rate, l2=l2)


@pytest.mark.parametrize("case, data, kind, rate, l2, stream_kind, target", spread_over_targets(CASES, TARGETS))
def test_c_equals_simulator_after_updates(case, data, kind, rate, l2, stream_kind, target, tmp_path):
    model = convert(data, kind, rate, l2)
    X, y = dataset(data)
    updates_X, updates_y = stream(data, stream_kind, seed=len(case))
    indices = updates_y.astype(np.float64) if data == "diabetes" else model.label_indices(updates_y)
    rows = np.vstack([X[::7], edge_rows(X.shape[1])])
    header = model.save(tmp_path, "t")["header"]
    measured = measure(target, model, header, rows, (updates_X, indices))
    model.partial_fit(updates_X, updates_y)
    state = model.training_state()
    assert measured.weights == model.trainable_weights(), f"{case} on {target}: the trained weights differ"
    assert (measured.steps, measured.saturations) == (state["steps"], state["saturations"]) == \
        (len(updates_X), state["saturations"])
    expected = model.scores(rows)
    assert np.array_equal(np.asarray(measured.scores).reshape(expected.shape), expected), f"{case} on {target}"
    assert np.array_equal(np.asarray(measured.predictions), model.program.decide(expected))
    if model.program.proba is not None and measured.proba is not None:
        assert np.array_equal(measured.proba, model.program.proba_q(rows))
    if stream_kind == "edges" and rate in ("constant:1", "constant:2^-1"):
        assert state["saturations"] > 0, f"{case}: the extreme stream was meant to saturate"
    cost = "cycles_partial_fit" if target == "avr" else "instructions_partial_fit"
    if target != "host":
        print(f"{case} on {target}: one partial_fit step {measured.extra[cost]:.0f} {cost.split('_')[0]}, state "
              f"{measured.extra['state_bytes']} B")


def random_start(model, seed: int) -> bytes:
    """Start weights a fleet round could send: the exported ones moved at random, a few past the limits (the load
    clamps and counts them)."""
    op = model.program.trainable_op
    rng = np.random.default_rng(seed)
    values = np.frombuffer(model.trainable_weights(), dtype="<i4").astype(np.int64)
    values = values + rng.integers(-op.w_limit // 4, op.w_limit // 4, len(values))
    values[rng.choice(len(values), 2, replace=False)] = [2 ** 31 - 1, -2 ** 31]
    return np.clip(values, -2 ** 31, 2 ** 31 - 1).astype("<i4").tobytes()


# (data, model, schedule): a decaying schedule (its steps count from the load) and a multiclass model
START_CASES = [("cancer", "logreg", "invscaling:0.5:0.5"), ("iris", "sgd_hinge", "constant:2^-5")]


@pytest.mark.parametrize("data, kind, rate, target", spread_over_targets(START_CASES, TARGETS))
def test_c_trains_from_loaded_start_weights(data, kind, rate, target, tmp_path):
    """measure(..., start_weights=...): the firmware loads them (NAME_load_weights) before the updates, as a fleet
    round starts from the global weights; weights, steps, saturations and scores equal the simulator's that loaded
    the same bytes."""
    model = convert(data, kind, rate)
    X, _ = dataset(data)
    updates_X, updates_y = stream(data, "noisy", seed=3, n=50)
    start = random_start(model, seed=len(data))
    header = model.save(tmp_path, "t")["header"]
    measured = measure(target, model, header, X[::9], (updates_X, model.label_indices(updates_y)))
    exported = (measured.weights, measured.steps, measured.saturations)
    measured = measure(target, model, header, X[::9], (updates_X, model.label_indices(updates_y)),
                       start_weights=start)
    model.load_weights(start)
    model.partial_fit(updates_X, updates_y)
    state = model.training_state()
    assert measured.weights == model.trainable_weights() != exported[0]
    assert (measured.steps, measured.saturations) == (state["steps"], state["saturations"]) and state["saturations"] >= 2
    assert np.array_equal(np.asarray(measured.scores).reshape(-1, model.program.n_outputs), model.scores(X[::9]))
    model.reset()
    model.partial_fit(updates_X, updates_y)  # without start_weights: the exported start, as before
    assert exported == (model.trainable_weights(), len(updates_X), model.training_state()["saturations"])


def test_start_weights_are_checked(tmp_path):
    model = convert("cancer", "sgd_hinge")
    header = model.save(tmp_path, "t")["header"]
    X, y = stream("cancer", "random", n=3)
    with pytest.raises(TinygenError, match="NAME_WEIGHTS_BYTES is 124"):
        host.measure(model.program, header, "t", X, updates=(X, y), start_weights=b"\0" * 120)
    with pytest.raises(TinygenError, match="pass updates"):
        host.measure(model.program, header, "t", X, start_weights=model.trainable_weights())


def test_every_loss_schedule_and_l2_is_covered():
    programs = [convert(data, kind, rate, l2).program for _, data, kind, rate, l2, _ in CASES]
    layers = [program.trainable_op for program in programs]
    assert {layer.loss for layer in layers} == {"hinge", "squared_hinge", "log_loss", "perceptron", "squared_error"}
    assert {layer.schedule.kind for layer in layers} == set(learning_rate.KINDS)
    assert {layer.l2_shift is None for layer in layers} == {True, False}
    assert {program.task for program in programs} == {"classification", "regression"}
    assert {layer.n_out for layer in layers} >= {1, 3}


def test_partial_fit_learns_and_reset_returns():
    """Adaptation in the simulator: a model fitted on half the data gains on the other half after one pass of
    partial_fit over it, within 0.02 of its accuracy (issue 17 asks 0.02 of the float reference); reset() goes back."""
    X, y = dataset("cancer")
    model = convert("cancer", "sgd_log", "constant:2^-7")
    before = model.trainable_weights()
    accuracy = float(np.mean(model.predict(X) == y))
    model.partial_fit(X, y)
    assert float(np.mean(model.predict(X) == y)) >= accuracy - 0.02
    assert model.training_state()["steps"] == len(X)
    model.reset()
    assert model.trainable_weights() == before and model.training_state()["steps"] == 0


def test_manifest_round_trip(tmp_path):
    """The manifest holds the exported weights and the schedule: a loaded model learns the same and renders the same
    header."""
    model = convert("wine", "sgd_hinge", "invscaling:0.1", 2.0 ** -8)
    paths = model.save(tmp_path, "t")
    loaded = ConvertedModel(Program.load(paths["manifest"]))
    assert tinygen.api.render_header(loaded.program, "t") == tinygen.api.render_header(model.program, "t")
    updates = stream("wine", "noisy")
    model.partial_fit(*updates)
    loaded.partial_fit(*updates)
    assert loaded.trainable_weights() == model.trainable_weights()
    assert loaded.program.trainable_op.schedule == model.program.trainable_op.schedule
    assert np.array_equal(loaded.predict(dataset("wine")[0]), model.predict(dataset("wine")[0]))


def test_weights_bytes_round_trip_and_clamp():
    model = convert("cancer", "sgd_hinge")
    op = model.program.trainable_op
    data = model.trainable_weights()
    assert len(data) == 4 * (op.n_out * op.n_in + op.n_out)
    model.partial_fit(*stream("cancer", "random"))
    trained = model.trainable_weights()
    model.reset()
    model.load_weights(trained)
    assert model.trainable_weights() == trained and model.training_state()["saturations"] == 0
    huge = np.full(op.n_out * op.n_in + op.n_out, 2 ** 31 - 1, dtype="<i4").tobytes()
    model.load_weights(huge)
    state = model.training_state()
    assert state["saturations"] == op.n_out * op.n_in + op.n_out
    assert np.all(state["weights"] == op.w_limit) and np.all(state["bias"] == op.limits[1])
    with pytest.raises(TinygenError):
        model.load_weights(data[:-1])


def test_scaler_is_a_frozen_op_and_formats_follow_the_spec():
    model = convert("cancer", "sgd_log")
    assert [op.op for op in model.program.ops] == ["quantize_input", "standardize", "trainable_dense"]
    conversion, scaler, layer = model.program.ops
    means = fitted("cancer", "sgd_log")[0].mean_
    offsets = np.ldexp(np.asarray(conversion.offsets, dtype=np.float64), -np.asarray(conversion.frac_bits))
    assert np.allclose(offsets, means, rtol=0, atol=2.0 ** -np.asarray(conversion.frac_bits))
    w_max, b_max = layer.limits
    assert b_max + layer.n_in * w_max * 2 ** 15 <= 2 ** 31 - 1
    for k in range(layer.schedule.k0, layer.schedule.max_shift + 1):
        assert 0 <= layer.weight_shift(k) <= 31 and 0 <= layer.bias_shift(k) <= 31
    # the exported weights in the scaled space, within one step of the master weights' format
    real = layer.init_weights * 2.0 ** -layer.weight_frac_bits
    assert np.allclose(real, fitted("cancer", "sgd_log")[-1].coef_, atol=2.0 ** -layer.weight_frac_bits)
    # the simulator before any update decides as the float model does on nearly every row
    X, _ = dataset("cancer")
    assert np.mean(model.predict(X) == fitted("cancer", "sgd_log").predict(X)) >= 0.98


@pytest.mark.parametrize("estimator, message", [
    (lambda: make_pipeline(MinMaxScaler(), SGDClassifier()), "trainable export takes"),
    (lambda: Ridge(), "trainable export takes"),
    (lambda: SGDClassifier(loss="modified_huber"), "not SGDClassifier"),
    (lambda: SGDRegressor(loss="huber"), "not SGDRegressor"),
])
def test_refusals_say_what_is_supported(estimator, message):
    X, y = dataset("cancer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted_estimator = estimator().fit(X, y)
    assert message in error_of(tinygen.convert, fitted_estimator, calibration=X, trainable=True)


def test_other_refusals():
    X, _ = dataset("cancer")
    estimator = fitted("cancer", "sgd_log")
    assert "dtype q15" in error_of(tinygen.convert, estimator, dtype="q7", calibration=X, trainable=True)
    assert "learning-rate schedule" in error_of(tinygen.convert, estimator, calibration=X, trainable=True,
                                                 learning_rate="cyclic:2")
    assert "L2 alpha" in error_of(tinygen.convert, estimator, calibration=X, trainable=True, learning_rate="optimal")
    assert "trainable=True" in error_of(tinygen.convert, estimator, calibration=X, learning_rate="constant:0.1")
    plain = tinygen.convert(estimator, calibration=X)
    assert "not exported trainable" in error_of(plain.partial_fit, X[:2], [0, 1])
    assert "not one of the model's classes" in error_of(convert("cancer", "sgd_log").partial_fit, X[:1], [7])


# ---- the bound proof ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_in", [1, 2, 3, 30, 255, 1000, 4096])
def test_no_accumulator_overflow_at_the_clamped_weights(n_in):
    """At the clamps, every partial sum for any int16 z stays in int32: the worst input (z = +-2**15 against each
    weight's sign) reaches at most b_max + n_in w_max 2**15 <= INT32_MAX; and a step never leaves int32."""
    w_max, b_max = weight_limits(n_in)
    worst = b_max + n_in * w_max * (1 << 15)
    assert worst <= 2 ** 31 - 1 and w_max >= 1
    assert (w_max << 16) + (1 << 30) <= 2 ** 31 - 1 and b_max + (1 << 15) <= 2 ** 31 - 1
    signs = np.where(np.arange(n_in) % 3 == 0, 1, -1)
    weights = signs * (w_max << 16)
    partial = b_max + np.cumsum((weights >> 16) * (signs * (1 << 15)))
    assert partial.max() <= 2 ** 31 - 1 and partial[-1] == worst


def test_ubsan_c_never_overflows_on_a_saturating_stream(tmp_path):
    """The C built with -fsanitize=undefined (signed overflow and shifts trap) on the extreme edge streams: no report,
    and the weights are the simulator's."""
    gcc = need_tool("gcc")
    model = convert("cancer", "perceptron", "constant:1")
    header = model.save(tmp_path, "t")["header"]
    updates_X, updates_y = stream("cancer", "edges", n=200)
    exe = tmp_path / "runner"
    defines = [f"-D{d}" for d in host.runner_defines(model.program, train=True)]
    done = subprocess.run([gcc, *host.CFLAGS, "-fsanitize=undefined", "-fno-sanitize-recover=all", "-DTG_NAME=t",
                           f'-DTG_HEADER="{header}"', *defines, str(package_root("firmware") / "host" / "runner.c"),
                           "-o", str(exe)], capture_output=True, text=True)
    if done.returncode != 0 and "sanitize" in done.stderr:
        pytest.skip("this gcc has no UBSan runtime")
    assert done.returncode == 0, done.stderr
    host.update_rows(model.program, (updates_X, model.label_indices(updates_y))).tofile(tmp_path / "u.f32")
    np.zeros((1, updates_X.shape[1]), np.float32).tofile(tmp_path / "x.f32")
    run = subprocess.run([str(exe), str(tmp_path / "u.f32"), str(tmp_path / "x.f32"), str(tmp_path / "o.bin")],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "runtime error" not in run.stderr, run.stderr[-2000:]
    model.partial_fit(updates_X, updates_y)
    n_bytes = len(model.trainable_weights())
    assert (tmp_path / "o.bin").read_bytes()[:n_bytes] == model.trainable_weights()
    assert model.training_state()["saturations"] > 0


# ---- property tests -------------------------------------------------------------------------------------------
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(eta0=st.floats(2.0 ** -20, 1.0), power_t=st.floats(0.1, 1.0), t=st.integers(1, 2 ** 32 - 1))
def test_invscaling_shift_is_the_rounded_rate(eta0, power_t, t):
    """k_t is round(-log2 eta(t)) (half away), clamped to [k0, K_MAX], wherever the rate has no tie within 1e-9."""
    schedule = learning_rate.plan(f"invscaling:{eta0!r}:{power_t!r}")
    level = -np.log2(schedule.eta(t))
    if abs(level - np.floor(level) - 0.5) < 1e-9:
        return
    expected = min(max(int(np.floor(level + 0.5)), schedule.k0), schedule.k0 + len(schedule.breakpoints))
    if len(schedule.breakpoints) < learning_rate.MAX_BREAKPOINTS and expected < learning_rate.K_MAX:
        assert schedule.shift(t) == expected
    assert schedule.shift(t) >= schedule.shift(max(1, t // 2))


@functools.lru_cache(maxsize=None)
def small_layer():
    return convert("iris", "sgd_hinge", "constant:1").program.trainable_op


@SETTINGS
@given(z=st.lists(st.integers(-32768, 32767), min_size=4, max_size=4), target=st.integers(0, 2),
       scale=st.sampled_from([0, 1, 2 ** 10, 2 ** 16 - 1, 2 ** 20]), seed=st.integers(0, 2 ** 16))
def test_a_step_keeps_the_state_within_its_limits(z, target, scale, seed):
    """From any state within the clamps and any int16 z, one step leaves every weight and bias within them, and the
    forward's partial sums within int32 (the simulator asserts what the C relies on)."""
    layer = small_layer()
    rng = np.random.default_rng(seed)
    w_limit, b_max = layer.w_limit, layer.limits[1]
    weights = np.clip(rng.integers(-w_limit, w_limit + 1, layer.init_weights.shape) * min(scale, 1)
                      + rng.integers(-scale, scale + 1, layer.init_weights.shape), -w_limit, w_limit)
    state = TrainState(weights, np.clip(rng.integers(-b_max, b_max + 1, layer.n_out), -b_max, b_max))
    z = np.array([z], dtype=np.int64)
    partial = state.bias[:, None] + np.cumsum((state.weights >> 16) * z, axis=1)
    assert np.abs(partial).max() <= 2 ** 31 - 1
    layer.update(z, [target], state)
    assert np.abs(state.weights).max() <= w_limit and np.abs(state.bias).max() <= b_max and state.steps == 1


def test_cli_export_trainable(tmp_path):
    from click.testing import CliRunner

    from tinygen import data, modelio
    from tinygen.cli import main

    bundle = data.load_bundled("breast_cancer")
    data.write_csv(bundle, tmp_path / "d.csv")
    import pandas as pd

    estimator = make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", alpha=0.01, random_state=0))
    estimator.fit(pd.DataFrame(bundle.X, columns=bundle.feature_names), bundle.y)
    modelio.save_model(estimator, tmp_path / "m.skops")
    runner = CliRunner()
    done = runner.invoke(main, ["export", str(tmp_path / "m.skops"), "--trainable", "--learning-rate", "invscaling:0.01",
                                "--l2", "1e-4", "--calibration", str(tmp_path / "d.csv"), "--label", bundle.label_name,
                                "-o", str(tmp_path / "out"), "--name", "m"])
    assert done.exit_code == 0, done.output
    assert "learning rate on the device: 2^-7, halved at steps" in done.output and "L2 alpha 2^-13" in done.output
    header = (tmp_path / "out" / "m.h").read_text()
    assert "m_partial_fit(const float *x, int32_t y)" in header and "#define m_WEIGHTS_BYTES 124u" in header
    loaded = tinygen.load(tmp_path / "out" / "m.json")
    assert loaded.program.trainable_op.l2_shift == 13
    refused = runner.invoke(main, ["export", str(tmp_path / "m.skops"), "--learning-rate", "0.1", "--calibration",
                                   str(tmp_path / "d.csv"), "--label", bundle.label_name, "-o", str(tmp_path / "o2")])
    assert refused.exit_code == 2 and "are for --trainable exports" in refused.output
