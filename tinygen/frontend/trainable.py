"""The models tinygen exports trainable (issue 17), alone or behind a StandardScaler: what the trainable program
needs from scikit-learn. Linear models: the scaler apart (not folded: SGD on folded weights is not SGD in the scaled
space), the coefficients in the scaled space and the loss whose gradient the device steps along. MLPs (a frozen body,
a trainable head): the float program of the whole network with the last hidden activation marked as the head's input
(the scaler folds into the frozen first layer), and the last layer as a linear model on the hidden activations."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression, Perceptron, SGDClassifier, SGDRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from ..errors import TinygenError
from ..ir import Program
from . import to_float_program

SGD_CLASSIFIER_LOSSES = ("hinge", "squared_hinge", "log_loss", "perceptron")
SUPPORTED = ("SGDClassifier (loss hinge, squared_hinge, log_loss or perceptron), Perceptron, LogisticRegression, "
             "LinearSVC, SGDRegressor (loss squared_error), MLPClassifier and MLPRegressor (their last layer), alone "
             "or in Pipeline(StandardScaler, model)")
MLPS = (MLPClassifier, MLPRegressor)


@dataclass
class TrainableModel:
    """A linear model in the scaled space and its scaler (mean 0 and std 1 without one)."""
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray  # [n_out, n_in]: one row per class (one-vs-rest), or one row (binary, regression)
    bias: np.ndarray
    loss: str
    labels: list | None  # classes_, None for a regressor
    source: str
    probability: str | None  # "logistic": binary log_loss models have the integer predict_proba

    @property
    def task(self) -> str:
        return "regression" if self.labels is None else "classification"


def refuse(what: str) -> TinygenError:
    return TinygenError(f"trainable export takes {SUPPORTED}; not {what}")


def _loss(model) -> str:
    if isinstance(model, SGDClassifier):
        if model.loss not in SGD_CLASSIFIER_LOSSES:
            raise refuse(f"SGDClassifier(loss={model.loss!r})")
        return model.loss
    if isinstance(model, SGDRegressor):
        if model.loss != "squared_error":
            raise refuse(f"SGDRegressor(loss={model.loss!r})")
        return "squared_error"
    if isinstance(model, LinearSVC):
        return model.loss
    if isinstance(model, Perceptron):
        return "perceptron"
    if isinstance(model, LogisticRegression):
        return "log_loss"
    raise refuse(type(model).__name__)


def _only_a_scaler(steps: list) -> None:
    if len(steps) > 1 or (steps and type(steps[0]) is not StandardScaler):
        raise refuse(f"a Pipeline of {', '.join(type(s).__name__ for s in steps)} before the model")


def _scaler(steps: list, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    _only_a_scaler(steps)
    if not steps:
        return np.zeros(n_features), np.ones(n_features)
    scaler = steps[0]
    mean = scaler.mean_ if scaler.with_mean and scaler.mean_ is not None else np.zeros(n_features)
    std = scaler.scale_ if scaler.scale_ is not None else np.ones(n_features)
    return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def _steps(estimator) -> list:
    return [s for _, s in estimator.steps if s is not None and s != "passthrough"] \
        if isinstance(estimator, Pipeline) else [estimator]


def is_mlp(estimator) -> bool:
    """True when the model (a Pipeline's last step) is an MLP: a frozen body and a trainable head."""
    steps = _steps(estimator)
    return bool(steps) and isinstance(steps[-1], MLPS)


@dataclass
class TrainableHead:
    """An MLP for a trainable head: `program`, the float program of the whole network (the scaler folded into the
    first layer, the last hidden activation marked head_input, the last layer a FloatDense); `model`, the last layer
    as a linear model on the hidden activations (mean 0, std 1: nothing to standardize)."""
    program: Program
    model: TrainableModel


def trainable_head(estimator, feature_names=None) -> TrainableHead:
    """The MLP's float program (named as to_float_program names it) and its last layer; a TinygenError says what is
    supported."""
    *transforms, mlp = _steps(estimator)
    _only_a_scaler(transforms)
    if getattr(mlp, "loss", "squared_error") not in ("squared_error", "log_loss"):
        raise refuse(f"{type(mlp).__name__}(loss={mlp.loss!r})")
    program = to_float_program(estimator, feature_names, head_input=True)  # refuses what the frozen MLP path does not take
    weights = np.asarray(mlp.coefs_[-1], dtype=np.float64).T.copy()
    bias = np.asarray(mlp.intercepts_[-1], dtype=np.float64).copy()
    labels = list(mlp.classes_) if isinstance(mlp, MLPClassifier) else None
    loss = "squared_error" if labels is None else "log_loss" if weights.shape[0] == 1 else "softmax_log_loss"
    n_hidden = weights.shape[1]
    source = type(mlp).__name__ if not transforms else f"Pipeline(StandardScaler, {type(mlp).__name__})"
    probability = None if labels is None else "logistic" if loss == "log_loss" else "softmax"
    head = TrainableModel(np.zeros(n_hidden), np.ones(n_hidden), weights, bias, loss, labels, source, probability)
    return TrainableHead(program, head)


def trainable_model(estimator) -> TrainableModel:
    """The model and its scaler; a TinygenError says what is supported."""
    *transforms, model = _steps(estimator)
    loss = _loss(model)
    if not hasattr(model, "coef_"):
        raise TinygenError(f"{type(model).__name__} is not fitted; call fit() (or `tinygen train`) first")
    weights = np.asarray(model.coef_, dtype=np.float64).reshape(-1, np.shape(model.coef_)[-1])
    bias = np.broadcast_to(np.asarray(model.intercept_, dtype=np.float64).reshape(-1), (weights.shape[0],)).copy()
    mean, std = _scaler(transforms, weights.shape[1])
    labels = list(model.classes_) if hasattr(model, "classes_") else None
    if labels is not None and weights.shape[0] != (1 if len(labels) == 2 else len(labels)):
        raise TinygenError(f"{type(model).__name__} has {weights.shape[0]} score rows for {len(labels)} classes; refit it")
    if labels is None and weights.shape[0] != 1:
        raise TinygenError("the regressor was fitted on several targets; export one model per target")
    source = type(model).__name__ if not transforms else f"Pipeline(StandardScaler, {type(model).__name__})"
    probability = "logistic" if loss == "log_loss" and labels is not None and len(labels) == 2 else None
    return TrainableModel(mean, std, weights, bias, loss, labels, source, probability)
