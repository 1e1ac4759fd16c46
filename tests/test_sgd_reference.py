"""The float reference of on-device learning (tinygen/sgd_reference.py) is the per-row SGD rule the device follows,
written out here in numpy: for each row in order, for each output (one-vs-rest for several classes), the loss's
derivative at the current score, L2 decay w *= 1 - eta alpha, then w -= eta g x and b -= eta g; eta from the
schedule at step t = 1, 2, ... If scikit-learn's SGD ever changes that rule, these tests say so."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Perceptron, SGDClassifier, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from tinygen.errors import TinygenError
from tinygen.sgd_reference import Schedule, reference_sgd


def derivative(loss: str, score: float, y: float) -> float:
    """d loss / d score (classification: y in {-1, +1}), scikit-learn's dloss."""
    if loss == "hinge":
        return -y if y * score <= 1 else 0.0
    if loss == "perceptron":
        return -y if y * score <= 0 else 0.0
    if loss == "squared_hinge":
        return -2 * y * (1 - y * score) if y * score < 1 else 0.0
    if loss == "log_loss":
        return -y / (np.exp(y * score) + 1)
    return score - y  # squared_error


def eta_at(schedule: Schedule, t: int) -> float:
    if schedule.learning_rate == "constant":
        return schedule.eta0
    return schedule.eta0 / t ** schedule.power_t  # invscaling


def by_rule(loss, coef, intercept, Z, targets, schedule: Schedule):
    """The rule, row by row: targets[row][k] is output k's target (+-1, or the value)."""
    W, b = np.atleast_2d(coef).astype(np.float64).copy(), np.atleast_1d(intercept).astype(np.float64).copy()
    for t, (z, target) in enumerate(zip(Z, targets), start=1):
        eta = eta_at(schedule, t)
        for k in range(len(W)):
            g = derivative(loss, float(W[k] @ z + b[k]), float(target[k]))
            W[k] *= max(0.0, 1 - eta * schedule.alpha)
            W[k] -= eta * g * z
            b[k] -= eta * g
    return W, b


def targets_of(y, classes):
    if len(classes) == 2:
        return np.where(np.asarray(y) == classes[1], 1.0, -1.0)[:, None]
    return np.where(np.asarray(y)[:, None] == np.asarray(classes)[None, :], 1.0, -1.0)


CLASSIFIERS = [
    ("hinge", lambda: SGDClassifier(loss="hinge", random_state=0)),
    ("log_loss", lambda: LogisticRegression(max_iter=2000)),
    ("squared_hinge", lambda: LinearSVC(random_state=0)),
    ("perceptron", lambda: Perceptron(random_state=0)),
]


@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris], ids=["binary", "three classes"])
@pytest.mark.parametrize("loss, make", CLASSIFIERS, ids=[c[0] for c in CLASSIFIERS])
@pytest.mark.parametrize("schedule", [Schedule("constant", 2.0 ** -5), Schedule("invscaling", 2.0 ** -3, 0.5, 2.0 ** -8)],
                         ids=["constant", "invscaling+l2"])
def test_reference_follows_the_per_row_rule(loader, loss, make, schedule):
    X, y = loader(return_X_y=True)
    order = np.random.default_rng(1).permutation(len(X))
    fit_rows, update_rows = order[: len(X) // 2], order[len(X) // 2:]
    estimator = make_pipeline(StandardScaler(), make()).fit(X[fit_rows], y[fit_rows])
    transform, sgd = reference_sgd(estimator, schedule, X[update_rows], y[update_rows])
    Z = transform(X[update_rows])
    model = estimator[-1]
    W, b = by_rule(loss, model.coef_, model.intercept_, Z, targets_of(y[update_rows], model.classes_), schedule)
    np.testing.assert_allclose(sgd.coef_, W, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sgd.intercept_, b, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(model.coef_, estimator[-1].coef_)  # the exported model is left as it was


def test_regression_reference_and_its_start_untouched():
    X, y = load_diabetes(return_X_y=True)
    estimator = make_pipeline(StandardScaler(), SGDRegressor(random_state=0)).fit(X[:300], y[:300])
    start = estimator[-1].coef_.copy()
    schedule = Schedule("constant", 2.0 ** -9)
    transform, sgd = reference_sgd(estimator, schedule, X[300:], y[300:])
    W, b = by_rule("squared_error", start, estimator[-1].intercept_, transform(X[300:]), y[300:, None], schedule)
    np.testing.assert_allclose(sgd.coef_, W[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sgd.intercept_, b, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(estimator[-1].coef_, start)


def test_a_stream_with_one_class_keeps_every_class_and_unknown_labels_are_refused():
    X, y = load_iris(return_X_y=True)
    estimator = make_pipeline(StandardScaler(), SGDClassifier(random_state=0)).fit(X, y)
    _, sgd = reference_sgd(estimator, Schedule(), X[:20], y[:20])  # only class 0 in the stream
    assert sgd.coef_.shape == (3, 4) and list(sgd.classes_) == [0, 1, 2]
    with pytest.raises(TinygenError, match="not the model's classes"):
        reference_sgd(estimator, Schedule(), X[:5], np.array([0, 1, 7, 1, 0]))


def test_models_without_an_on_device_loss_are_refused():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(TinygenError, match="modified_huber"):
        reference_sgd(SGDClassifier(loss="modified_huber").fit(X, y), Schedule(), X[:5], y[:5])
