"""Naive Bayes: GaussianNB. predict is the argmax of the joint log-likelihood (first class on ties),
    jll[c] = log class_prior_[c] - 1/2 sum_i log(2 pi var_[c][i]) - 1/2 sum_i (x[i] - theta_[c][i])**2 / var_[c][i],
which becomes one gaussian_jll op (tinygen/ops/gaussian_jll.py). var_ already includes var_smoothing's epsilon_.
A class with prior 0 has log prior -inf (scikit-learn never predicts it): its constant stays -inf and the typed
ops give it the lowest score (INT32_MIN, or float32's lowest). Scalers in front fold into theta and var
(passes.fold_scaler_into_gaussian); PCA in front is refused there. predict_proba is the softmax of the joint
log-likelihoods, as scikit-learn's (exp(jll - logsumexp(jll))): Program.probability "softmax".
"""
from __future__ import annotations

import numpy as np
from sklearn.naive_bayes import GaussianNB

from ..errors import TinygenError
from ..ops.gaussian_jll import FloatGaussianJLL
from .linear import FrontendResult


def convert_gaussian_nb(estimator) -> FrontendResult:
    theta = np.asarray(estimator.theta_, dtype=np.float64)
    var = np.asarray(estimator.var_, dtype=np.float64)
    prior = np.asarray(estimator.class_prior_, dtype=np.float64)
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(var))) or np.any(var <= 0):
        raise TinygenError("GaussianNB has a variance <= 0 or non-finite means; refit it with var_smoothing > 0 on finite data")
    if np.any(prior < 0) or not np.any(prior > 0):
        raise TinygenError("GaussianNB's class priors must be >= 0 with at least one > 0; refit it")
    with np.errstate(divide="ignore"):
        log_prior = np.log(prior)  # -inf for a zero prior, as scikit-learn's own jll
    constant = log_prior - 0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
    op = FloatGaussianJLL(theta=theta, var=var, constant=constant)
    return FrontendResult([op], "classification", "argmax", list(estimator.classes_), probability="softmax")


CONVERTERS = {GaussianNB: convert_gaussian_nb}
