"""Linear models: every one computes scores = X @ coef_.T + intercept_ (decision_function or predict).

Classifiers with two classes have one score and predict classes_[1] when it is > 0 (the peer failure to
avoid: micromlgen compares that score with an implicit zero class and inverts every prediction);
multiclass classifiers take the argmax (first index on ties, as numpy). Regressors output the score.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression, Perceptron, Ridge,
                                  RidgeClassifier, SGDClassifier, SGDRegressor)
from sklearn.svm import LinearSVC, LinearSVR

from ..errors import TinygenError
from ..ops.dense import FloatDense


@dataclass
class FrontendResult:
    ops: list
    task: str
    decision: str
    labels: list | None
    anomaly: dict | None = None  # IsolationForest: how scores map back to score_samples (ir.Program.anomaly)
    probability: str | None = None  # "softmax" | "logistic": predict_proba of the scores (ir.Program.probability)


def _dense(est) -> FloatDense:
    coef = np.asarray(est.coef_, dtype=np.float64)
    if coef.ndim == 1:
        coef = coef.reshape(1, -1)
    intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64).reshape(-1), (coef.shape[0],)).copy()
    return FloatDense(weights=coef, bias=intercept)


def _probability(est, n_classes: int) -> str | None:
    """What scikit-learn's predict_proba applies to the scores, when the integer op computes it: LogisticRegression
    the logistic of its one score (two classes) or the softmax (multinomial); SGDClassifier(loss="log_loss") the
    logistic with two classes (its multiclass predict_proba normalizes one-vs-rest logistics: not a softmax)."""
    if isinstance(est, LogisticRegression):
        return "logistic" if n_classes == 2 else "softmax"
    if isinstance(est, SGDClassifier) and est.loss == "log_loss" and n_classes == 2:
        return "logistic"
    return None


def convert_classifier(est) -> FrontendResult:
    dense = _dense(est)
    classes = list(est.classes_)
    probability = _probability(est, len(classes))
    if len(classes) == 2 and dense.n_out == 1:
        return FrontendResult([dense], "classification", "positive", classes, probability=probability)
    if dense.n_out != len(classes):
        raise TinygenError(f"{type(est).__name__} has {dense.n_out} score rows for {len(classes)} classes; refit it")
    return FrontendResult([dense], "classification", "argmax", classes, probability=probability)


def convert_regressor(est) -> FrontendResult:
    coef = np.asarray(est.coef_)
    if coef.ndim == 2 and coef.shape[0] > 1:
        raise TinygenError(f"{type(est).__name__} was fitted on {coef.shape[0]} targets; tinygen exports single-target regressors, fit one model per target")
    return FrontendResult([_dense(est)], "regression", "value", None)


CLASSIFIERS = (LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, Perceptron)
REGRESSORS = (LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, LinearSVR)
CONVERTERS = {**{cls: convert_classifier for cls in CLASSIFIERS}, **{cls: convert_regressor for cls in REGRESSORS}}
