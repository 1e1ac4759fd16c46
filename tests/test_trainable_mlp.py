"""Trainable MLP heads (issue 17): an MLP's hidden layers stay the frozen q15 body and its last layer learns on the
device (trainable_dense on the last hidden activations). The C's NAME_partial_fit equals ConvertedModel.partial_fit
after update streams -- random streams, label noise, edge rows and a rate of 1 that saturates -- on host, avr,
cortex-m4 and rv32 (NAME_weights() byte-identical, steps and saturations equal, every row's scores and predictions
identical); binary (logistic output), multiclass (softmax: iris, wine) and regression (diabetes), every hidden
activation. Also: the numpy float reference (HeadSGD) against scikit-learn's SGD and the softmax's derivative, verify
--trainable on a head, the adaptation to a shifted sensor within 0.02 of that reference, the manifest round trip, the
weights API and the refusals."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import tinygen
from tinygen import sgd_reference
from tinygen.api import ConvertedModel
from tinygen.ir import Program
from tinygen.sgd_reference import Schedule
from tinygen.verify_trainable import verify_trainable

from conftest import edge_rows, error_of, spread_over_targets
from test_trainable import TARGETS, measure, random_start, stream

DATA = {"cancer": load_breast_cancer, "iris": load_iris, "wine": load_wine, "diabetes": load_diabetes}
# (case, data, hidden layers, activation, learning rate, l2, stream): every output kind and hidden activation, a
# decaying schedule, L2, and streams that saturate
CASES = [
    ("cancer_relu", "cancer", (8,), "relu", "constant:2^-7", 2.0 ** -10, "random"),
    ("iris_tanh_softmax", "iris", (8,), "tanh", "constant:2^-3", None, "noisy"),
    ("wine_relu2_softmax", "wine", (8, 6), "relu", "invscaling:0.5", 2.0 ** -8, "edges"),
    ("diabetes_identity", "diabetes", (8,), "identity", "constant:2^-10", None, "random"),
    ("cancer_logistic_extreme", "cancer", (6,), "logistic", "constant:1", None, "edges"),
    ("wine_logistic_softmax_extreme", "wine", (6,), "logistic", "constant:1", None, "edges"),
    ("diabetes_tanh_extreme", "diabetes", (6,), "tanh", "constant:2^-1", 2.0 ** -3, "edges"),
]
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning")


@functools.lru_cache(maxsize=None)
def dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    return DATA[name](return_X_y=True)


@functools.lru_cache(maxsize=None)
def fitted(data: str, hidden: tuple, activation: str, scaled: bool = True):
    """The MLP fitted on the first half of the data set (shuffled with a fixed seed)."""
    X, y = dataset(data)
    rows = np.random.default_rng(1).permutation(len(X))[: len(X) // 2]
    make = MLPRegressor if data == "diabetes" else MLPClassifier
    mlp = make(hidden_layer_sizes=hidden, activation=activation, max_iter=2000 if data == "diabetes" else 500,
               learning_rate_init=0.01 if data == "diabetes" else 0.001, random_state=0)
    estimator = make_pipeline(StandardScaler(), mlp) if scaled else mlp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X[rows], y[rows])


def convert(data: str, hidden: tuple, activation: str, rate=None, l2=None) -> ConvertedModel:
    return tinygen.convert(fitted(data, hidden, activation), calibration=dataset(data)[0], trainable=True,
                           learning_rate=rate, l2=l2)


def at_the_limits(model: ConvertedModel, seed: int) -> bytes:
    """Start weights on their clamps, signs at random: a classification head's steps are too small to reach them
    from the exported weights in a short stream (the limits leave the weights 4x room and more), so the extreme
    cases start there and each step that moves a weight outward saturates (counted)."""
    op = model.program.trainable_op
    rng = np.random.default_rng(seed)
    weights = rng.choice([-1, 1], op.n_out * op.n_in) * op.w_limit
    bias = rng.choice([-1, 1], op.n_out) * op.limits[1]
    return np.concatenate([weights, bias]).astype("<i4").tobytes()


def targets_of(model: ConvertedModel, y) -> np.ndarray:
    return np.asarray(y, dtype=np.float64) if model.program.task == "regression" else model.label_indices(y)


@pytest.mark.parametrize("case, data, hidden, activation, rate, l2, stream_kind, target",
                         spread_over_targets(CASES, TARGETS))
def test_c_equals_simulator_after_updates(case, data, hidden, activation, rate, l2, stream_kind, target, tmp_path):
    model = convert(data, hidden, activation, rate, l2)
    X, _ = dataset(data)
    updates_X, updates_y = stream(data, stream_kind, seed=len(case))
    rows = np.vstack([X[::7], edge_rows(X.shape[1])])
    header = model.save(tmp_path, "t")["header"]
    extreme = rate in ("constant:1", "constant:2^-1")
    start = at_the_limits(model, len(case)) if extreme else None
    measured = measure(target, model, header, rows, (updates_X, targets_of(model, updates_y)), start_weights=start)
    if extreme:
        model.load_weights(start)
    model.partial_fit(updates_X, updates_y)
    state = model.training_state()
    assert measured.weights == model.trainable_weights(), f"{case} on {target}: the trained weights differ"
    assert (measured.steps, measured.saturations) == (len(updates_X), state["saturations"])
    expected = model.scores(rows)
    assert np.array_equal(np.asarray(measured.scores).reshape(expected.shape), expected), f"{case} on {target}"
    assert np.array_equal(np.asarray(measured.predictions), model.program.decide(expected))
    if model.program.proba is not None and measured.proba is not None:
        assert np.array_equal(measured.proba, model.program.proba_q(rows))
    if extreme:
        assert state["saturations"] > 0, f"{case}: the extreme stream was meant to saturate"
    if target != "host":
        cost = "cycles_partial_fit" if target == "avr" else "instructions_partial_fit"
        print(f"{case} on {target}: one partial_fit step {measured.extra[cost]:.0f} {cost.split('_')[0]}, state "
              f"{measured.extra['state_bytes']} B")


def test_every_output_and_activation_is_covered():
    models = [convert(data, hidden, activation, rate, l2) for _, data, hidden, activation, rate, l2, _ in CASES]
    assert {m.program.trainable_op.loss for m in models} == {"log_loss", "softmax_log_loss", "squared_error"}
    assert {case[3] for case in CASES} == {"relu", "tanh", "logistic", "identity"}


def test_the_body_is_frozen_and_the_head_reads_one_format():
    """[quantize_input, dense, activation, ..., trainable_dense]: the head's input is the last activation, int16 in
    one format with no offset (a logistic hidden layer in Q15, [0, 1)); NAME_WEIGHTS_BYTES is the head's only; before
    any update the program decides as the float MLP on nearly every row."""
    model = convert("wine", (8, 6), "logistic")
    ops = model.program.ops
    assert [op.op for op in ops] == ["quantize_input", "dense", "activation", "dense", "activation", "trainable_dense"]
    hidden, layer = ops[-2].out_format(), ops[-1]
    assert (hidden.frac_bits, hidden.offset, layer.z_frac_bits) == (15, 0.0, 15) and int(ops[-2].table.min()) >= 0
    assert (layer.n_in, layer.n_out, layer.loss) == (6, 3, "softmax_log_loss")
    assert len(model.trainable_weights()) == 4 * (3 * 6 + 3)
    assert "#define t_WEIGHTS_BYTES 84u" in model.header("t")
    X, _ = dataset("wine")
    assert np.mean(model.predict(X) == fitted("wine", (8, 6), "logistic").predict(X)) >= 0.97
    identity = convert("diabetes", (8,), "identity").program
    assert [op.op for op in identity.ops] == ["quantize_input", "dense", "trainable_dense"]  # not folded into one


def test_training_api_buffers_are_sized_by_the_largest_intermediate():
    """partial_fit from floats: x_q and the activations (in place) in one buffer, each dense's output in the other."""
    header = convert("wine", (8, 6), "relu").header("t")
    start = header.index("static inline void t_partial_fit_state(")
    body = header[start:header.index("}", start)]
    assert "int16_t z[t_N_FEATURES];" in body and "int16_t h[8];" in body
    assert "t_dense_1(z, h);" in body and "t_activation_2(h, h);" in body and "t_dense_3(h, z);" in body
    assert "t_partial_fit_z_state(state, z, y);" in body


# ---- the float reference ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, hidden, activation", [("cancer", (8,), "relu"), ("diabetes", (8,), "tanh"),
                                                      ("iris", (8,), "logistic")])
def test_head_reference_starts_as_the_float_mlp(data, hidden, activation):
    """The reference's body (the scaler, the hidden layers in numpy) and head predict as scikit-learn's MLP."""
    estimator = fitted(data, hidden, activation)
    transform, head, _ = sgd_reference.starting_sgd(estimator, Schedule(), [])
    X, _ = dataset(data)
    expected = estimator.predict(X)
    got = head.predict(transform(X))
    assert np.allclose(got, expected) if data == "diabetes" else np.array_equal(got, expected)


@pytest.mark.parametrize("data, hidden, schedule", [
    ("cancer", (8,), Schedule("constant", 2.0 ** -5, alpha=2.0 ** -8)),
    ("diabetes", (8,), Schedule("invscaling", 2.0 ** -9, 0.5)),
])
def test_head_reference_is_scikit_learns_sgd_on_one_output(data, hidden, schedule):
    """One output (logistic, identity): HeadSGD is SGDClassifier / SGDRegressor on the hidden activations, started
    from the last layer, row for row."""
    estimator = fitted(data, hidden, "relu")
    X, y = dataset(data)
    transform, head = sgd_reference.reference_sgd(estimator, schedule, X[:120], y[:120])
    mlp = estimator[-1]
    sgd = (SGDRegressor if data == "diabetes" else SGDClassifier)(
        loss="squared_error" if data == "diabetes" else "log_loss", penalty="l2" if schedule.alpha else None,
        alpha=schedule.alpha or 0.0001, learning_rate=schedule.learning_rate, eta0=schedule.eta0,
        power_t=schedule.power_t, shuffle=False)
    sgd.coef_ = mlp.coefs_[-1].T.ravel().copy() if data == "diabetes" else mlp.coefs_[-1].T.copy()
    sgd.intercept_ = mlp.intercepts_[-1].copy()
    H = transform(X[:120])
    sgd.partial_fit(H, y[:120], **({} if data == "diabetes" else {"classes": mlp.classes_}))
    assert np.allclose(head.W.ravel(), np.ravel(sgd.coef_), rtol=1e-9, atol=1e-12)
    assert np.allclose(head.b, sgd.intercept_, rtol=1e-9, atol=1e-12)


def test_head_reference_softmax_step_is_the_log_loss_gradient():
    """One softmax step moves W and b by -eta times the derivative of -log p_y (finite differences)."""
    estimator = fitted("iris", (8,), "tanh")
    transform, head, fit = sgd_reference.starting_sgd(estimator, Schedule("constant", 0.1), [])
    X, y = dataset("iris")
    h = transform(X[:1])[0]
    W, b = head.W.copy(), head.b.copy()

    def loss(W_, b_):
        s = W_ @ h + b_
        return float(np.log(np.sum(np.exp(s - s.max()))) + s.max() - s[list(head.classes_).index(y[0])])
    eps, numeric = 1e-6, np.zeros_like(W)
    for k, i in np.ndindex(*W.shape):
        bumped = W.copy()
        bumped[k, i] += eps
        numeric[k, i] = (loss(bumped, b) - loss(W, b)) / eps
    fit(h[None, :], y[:1])
    assert np.allclose((W - head.W) / 0.1, numeric, atol=1e-4)


# ---- verify --trainable and the adaptation ----------------------------------------------------------------------
def test_verify_trainable_on_an_mlp_head():
    """verify --trainable on a head: the float reference is HeadSGD's (its accuracy is sklearn_accuracy_after), the
    host C equals the simulator, and every check passes."""
    estimator = fitted("iris", (8,), "tanh")
    X, y = dataset("iris")
    updates_X, updates_y = stream("iris", "noisy", seed=5, n=60)
    report = verify_trainable(estimator, updates_X, updates_y, X, y, targets=("host",), learning_rate="constant:2^-4")
    transform, head = sgd_reference.reference_sgd(estimator, Schedule("constant", 2.0 ** -4), updates_X, updates_y)
    assert report["reference"] == "float SGD on the last layer (numpy)"
    assert report["sklearn_accuracy_after"] == float(np.mean(head.predict(transform(X)) == y))
    assert report["targets"]["host"]["weight_mismatches"] == 0 and report["targets"]["host"]["mismatches"] == 0
    assert report["passed"], report["checks"]


@pytest.mark.parametrize("model_name, rate", [("MLPClassifier(16, relu)", "2^-5"), ("MLPClassifier(16, tanh)", "2^-5")])
def test_adaptation_to_a_shifted_sensor_is_within_002_of_the_float_reference(model_name, rate):
    """BasicMotions (bench --trainable's rows): an MLP fitted on the TRAIN recordings, its head adapted by one pass
    over the even shifted TEST recordings, gains on the odd ones and stays within 0.02 of float SGD on its last
    layer."""
    from tinygen.bench_trainable import adaptation_row

    row = adaptation_row(model_name, rate)
    assert row["after"] >= row["before"] + 0.05 and row["sklearn after"] - row["after"] <= 0.02 + 1e-12, row


# ---- the API, the manifest and the refusals -----------------------------------------------------------------------
def test_manifest_round_trip_and_weights_api(tmp_path):
    """A loaded manifest renders the same header and learns the same; trainable_weights / load_weights / reset work
    on the head (load_weights clamps and counts)."""
    model = convert("iris", (8,), "relu", "invscaling:0.1", 2.0 ** -8)
    loaded = ConvertedModel(Program.load(model.save(tmp_path, "t")["manifest"]))
    assert tinygen.api.render_header(loaded.program, "t") == tinygen.api.render_header(model.program, "t")
    updates = stream("iris", "noisy")
    model.partial_fit(*updates)
    loaded.partial_fit(*updates)
    assert loaded.trainable_weights() == model.trainable_weights()
    trained = model.trainable_weights()
    loaded.reset()
    loaded.load_weights(trained)
    X, _ = dataset("iris")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    start = random_start(model, seed=2)
    model.reset()
    model.load_weights(start)
    assert model.training_state()["saturations"] >= 2 and model.training_state()["steps"] == 0


@pytest.mark.parametrize("estimator, message", [
    (lambda: make_pipeline(MinMaxScaler(), MLPClassifier((4,), max_iter=50, random_state=0)), "trainable export takes"),
    (lambda: make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(4,), loss="poisson", max_iter=50,
                                                         random_state=0)), "not MLPRegressor(loss='poisson')"),
])
def test_refusals_say_what_is_supported(estimator, message):
    X, y = dataset("cancer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted_estimator = estimator().fit(X, y)
    error = error_of(tinygen.convert, fitted_estimator, calibration=X, trainable=True)
    assert message in error and "MLPClassifier and MLPRegressor" in error


def test_other_refusals():
    X, _ = dataset("cancer")
    estimator = fitted("cancer", (8,), "relu")
    assert "dtype q15" in error_of(tinygen.convert, estimator, dtype="q7", calibration=X, trainable=True)
    assert "not one of the model's classes" in error_of(convert("cancer", (8,), "relu").partial_fit, X[:1], [7])


def test_cli_export_and_verify_trainable_mlp(tmp_path):
    """tinygen export --trainable and verify --trainable --updates on an MLP model file (host): the header has the
    training API over the head's bytes, and verify's JSON names the numpy reference."""
    import json

    import pandas as pd
    from click.testing import CliRunner

    from tinygen import data, modelio
    from tinygen.cli import main

    bundle = data.load_bundled("iris")
    frame = pd.DataFrame(bundle.X, columns=bundle.feature_names)
    estimator = make_pipeline(StandardScaler(), MLPClassifier((8,), activation="tanh", max_iter=500, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(frame, bundle.y)
    modelio.save_model(estimator, tmp_path / "m.skops")
    data.write_csv(bundle, tmp_path / "d.csv")
    rows = np.random.default_rng(0).integers(0, len(bundle.X), 40)
    data.write_csv(data.Dataset(bundle.X[rows], bundle.y[rows], bundle.feature_names, bundle.label_name),
                   tmp_path / "u.csv")
    runner = CliRunner()
    done = runner.invoke(main, ["export", str(tmp_path / "m.skops"), "--trainable", "--learning-rate", "2^-4",
                                "--calibration", str(tmp_path / "d.csv"), "--label", bundle.label_name,
                                "-o", str(tmp_path / "out"), "--name", "m"])
    assert done.exit_code == 0, done.output
    header = (tmp_path / "out" / "m.h").read_text()
    assert "m_partial_fit(const float *x, int32_t y)" in header and "#define m_WEIGHTS_BYTES 108u" in header
    verified = runner.invoke(main, ["verify", str(tmp_path / "m.skops"), "--trainable", "--updates",
                                    str(tmp_path / "u.csv"), "--data", str(tmp_path / "d.csv"), "--label",
                                    bundle.label_name, "--learning-rate", "2^-4", "--json", str(tmp_path / "r.json")])
    assert verified.exit_code == 0, verified.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["reference"] == "float SGD on the last layer (numpy)" and report["updates"] == 40
    assert report["targets"]["host"]["weight_mismatches"] == 0 and "float SGD on the last layer" in verified.output
