"""The float reference of on-device learning (issue 17): what scikit-learn's SGD reaches from the exported model on
the same update stream, in the same order, with the same loss, learning-rate schedule and L2 penalty. `verify
--trainable` reports its accuracy as `sklearn_accuracy_after`; the integer program's updates are held to it.

The reference starts from the exported coefficients in the SCALED space (the pipeline's scaler stays frozen in
front, as on the device), and makes one pass over the updates in order: SGDClassifier / SGDRegressor.partial_fit
(t_ counting from 1 as the device's step counter does). LogisticRegression, LinearSVC and Perceptron have no partial_fit from given
coefficients of their own; their reference is SGDClassifier with their loss (log_loss; LinearSVC's hinge or
squared_hinge; perceptron).

An MLP (a frozen body, a trainable head) has no SGD of scikit-learn's on one layer; its reference is HeadSGD, plain
float64 SGD in numpy on the last layer: the body (the scaler and the hidden layers, in float64 as scikit-learn
computes them) is the transform, and per row, at step t = 1, 2, ...: eta = the schedule's float rate at t; the scores s = W h + b
from the weights before the row; g = the loss's derivative in s (softmax over the classes: p - onehot(y); one
logistic output: sigmoid(s) - [y = classes[1]]; identity: s - y); W = (1 - eta alpha) W - eta g h^T (no decay
without L2), b -= eta g -- the device's order (trainable_dense.py) and scikit-learn's SGD's."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression, Perceptron, SGDClassifier, SGDRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.svm import LinearSVC

from .errors import TinygenError
from .ops import learning_rate

CLASSIFIER_LOSSES = ("hinge", "squared_hinge", "log_loss", "perceptron")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule in scikit-learn's terms: learning_rate "constant", "invscaling" or "optimal",
    eta0 (the device's power of two), power_t (invscaling), alpha (the L2 penalty; 0: none)."""

    learning_rate: str = "constant"
    eta0: float = 2.0 ** -7
    power_t: float = 0.5
    alpha: float = 0.0


HIDDEN = {"identity": lambda a: a, "relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh,
          "logistic": lambda a: 0.5 * (1.0 + np.tanh(0.5 * a))}


class HeadSGD:
    """Float SGD on an MLP's last layer (the module doc): partial_fit(H, y) on the last hidden activations H, one step
    per row in order (its step counter t_ carries over between calls, as scikit-learn's); predict(H)."""

    def __init__(self, mlp, schedule: Schedule):
        self.W = np.asarray(mlp.coefs_[-1], dtype=np.float64).T.copy()  # [n_out, n_hidden]
        self.b = np.asarray(mlp.intercepts_[-1], dtype=np.float64).copy()
        self.classes_ = np.asarray(mlp.classes_) if isinstance(mlp, MLPClassifier) else None
        self.schedule, self.t_ = schedule, 0
        # the float rate at step t, scikit-learn's formulas (learning_rate.Schedule.eta, which the device's shifts
        # approximate): constant eta0, invscaling eta0 / t^power_t, optimal 1 / (alpha (t0 + t - 1))
        self.rates = learning_rate.Schedule(schedule.learning_rate, 0, eta0=schedule.eta0, power_t=schedule.power_t,
                                            alpha=schedule.alpha)

    def _gradient(self, s: np.ndarray, y) -> np.ndarray:
        if self.classes_ is None:
            return s - float(y)
        if len(self.W) == 1:  # one logistic output: class classes_[1] when s > 0
            return 1.0 / (1.0 + np.exp(-s)) - float(y == self.classes_[1])
        p = np.exp(s - s.max())
        return p / p.sum() - (self.classes_ == y)

    def partial_fit(self, H, y) -> "HeadSGD":
        for h, target in zip(np.asarray(H, dtype=np.float64), np.asarray(y)):
            self.t_ += 1
            eta = self.rates.eta(self.t_)
            g = self._gradient(self.W @ h + self.b, target)
            if self.schedule.alpha > 0:
                self.W *= max(0.0, 1.0 - eta * self.schedule.alpha)
            self.W -= eta * np.outer(g, h)
            self.b -= eta * g
        return self

    def predict(self, H) -> np.ndarray:
        s = np.asarray(H, dtype=np.float64) @ self.W.T + self.b
        if self.classes_ is None:
            return s[:, 0]
        return self.classes_[(s[:, 0] > 0).astype(int)] if len(self.W) == 1 else self.classes_[np.argmax(s, axis=1)]


def mlp_body(transform, mlp):
    """The frozen body as a transform: the front steps, then every hidden layer with its activation (float64)."""
    def body(X):
        H = transform(X)
        for coef, intercept in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
            H = HIDDEN[mlp.activation](H @ coef + intercept)
        return H
    return body


def reference_name(estimator) -> str:
    """The float reference of `estimator` in words (reports and check details)."""
    return "float SGD on the last layer (numpy)" if isinstance(split_pipeline(estimator)[1], (MLPClassifier, MLPRegressor)) \
        else "scikit-learn's SGD"


def split_pipeline(estimator):
    """(the frozen steps in front as one transform function, the linear model last)."""
    steps = getattr(estimator, "steps", None)
    if not steps:
        return (lambda X: np.asarray(X, dtype=np.float64)), estimator
    front = [step for _, step in steps[:-1] if step not in (None, "passthrough")]

    def transform(X):
        X = np.asarray(X, dtype=np.float64)
        for step in front:
            X = step.transform(X)
        return X
    return transform, steps[-1][1]


def reference_loss(model) -> str:
    """The SGD loss that matches a trainable linear model's own."""
    if isinstance(model, SGDRegressor):
        return "squared_error"
    if isinstance(model, Perceptron):
        return "perceptron"
    if isinstance(model, SGDClassifier):
        if model.loss not in CLASSIFIER_LOSSES:
            raise TinygenError(f"SGDClassifier(loss={model.loss!r}) is not trainable on the device; the losses are "
                               f"{', '.join(CLASSIFIER_LOSSES)}")
        return model.loss
    if isinstance(model, LogisticRegression):
        return "log_loss"
    if isinstance(model, LinearSVC):
        return model.loss
    raise TinygenError(f"{type(model).__name__} has no on-device learning reference; trainable models are MLPs and "
                       "SGDClassifier, SGDRegressor, Perceptron, LogisticRegression and LinearSVC")


def reference_sgd(estimator, schedule: Schedule, X_updates, y_updates):
    """(transform, the SGD model): scikit-learn's SGD started from `estimator`'s exported coefficients in its
    scaled space, after one partial_fit pass over the updates in order. Predict with model.predict(transform(X)).

    The start is set as fitted attributes (coef_, intercept_, classes_) and then partial_fit runs: fit(coef_init=...)
    is not the same stream of updates for more than two classes (it differs from the per-row rule that
    partial_fit and the device follow; tests/test_sgd_reference.py holds partial_fit to that rule)."""
    transform, sgd, fit = starting_sgd(estimator, schedule, y_updates)
    fit(transform(X_updates), y_updates)
    return transform, sgd


def reference_curve(estimator, schedule: Schedule, X_updates, y_updates, score, marks) -> list[float]:
    """score(sgd, transform) after the first m updates, for each m of the increasing `marks` (0: the start): the same
    pass as reference_sgd's, in pieces (partial_fit carries its step counter t_ from one call to the next)."""
    transform, sgd, fit = starting_sgd(estimator, schedule, y_updates)
    Z, values, done = transform(X_updates), [], 0
    for mark in marks:
        if mark > done:
            fit(Z[done:mark], np.asarray(y_updates)[done:mark])
            done = mark
        values.append(score(sgd, transform))
    return values


def _known_labels(classes, y_updates) -> None:
    unknown = sorted(set(np.asarray(y_updates).tolist()) - set(np.asarray(classes).tolist()), key=str)
    if unknown:
        raise TinygenError(f"the updates hold labels {unknown[:5]} that are not the model's classes "
                           f"{np.asarray(classes).tolist()}")


def starting_sgd(estimator, schedule: Schedule, y_updates):
    """(transform, the SGD model at the exported start, fit(Z, y): one partial_fit pass over scaled rows)."""
    transform, model = split_pipeline(estimator)
    if isinstance(model, (MLPClassifier, MLPRegressor)):
        if isinstance(model, MLPClassifier):
            _known_labels(model.classes_, y_updates)
        head = HeadSGD(model, schedule)
        return mlp_body(transform, model), head, head.partial_fit
    loss = reference_loss(model)
    sgd_class = SGDRegressor if loss == "squared_error" else SGDClassifier
    sgd = sgd_class(loss=loss, penalty="l2" if schedule.alpha > 0 else None, alpha=schedule.alpha or 0.0001,
                    learning_rate=schedule.learning_rate, eta0=schedule.eta0, power_t=schedule.power_t,
                    shuffle=False, average=False, fit_intercept=True)
    coef = np.asarray(model.coef_, dtype=np.float64)
    sgd.coef_ = coef.ravel().copy() if loss == "squared_error" else np.atleast_2d(coef).copy()
    sgd.intercept_ = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64)).copy()
    sgd.n_features_in_ = coef.shape[-1]
    if loss == "squared_error":
        return transform, sgd, lambda Z, y: sgd.partial_fit(Z, np.asarray(y, dtype=np.float64))
    classes = np.asarray(model.classes_)
    _known_labels(classes, y_updates)
    sgd.classes_ = classes
    return transform, sgd, lambda Z, y: sgd.partial_fit(Z, np.asarray(y), classes=classes)
