"""MLPClassifier / MLPRegressor: one FloatDense per layer (coefs_[k].T, intercepts_[k]) with the hidden
activation (ops/activation.py) between them; identity hidden layers emit nothing, so the fold pass merges
their denses (and a scaler in front folds into the first layer the same way).

The raw scores are the last layer's pre-activation (the logits): scikit-learn applies out_activation_ after
them, which changes no decision: a binary classifier (one logit, logistic output) predicts classes_[1] when
logistic(z) > 0.5, i.e. z > 0 ("positive"); a multiclass one (softmax) takes the argmax of the logits, which
is the argmax of the softmax ("argmax"). predict_proba applies the output activation to the dequantized
scores (Program.probability). Regressors output the last layer's value (identity output).

With head_input (a trainable export, frontend/trainable.py), the last hidden activation is marked as the input of
the trainable head (FloatActivation.head_input; for identity hidden layers an identity op that keeps the fold pass
from merging the body into the head).
"""
from __future__ import annotations

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor

from ..errors import TinygenError
from ..ops.activation import KINDS, FloatActivation
from ..ops.dense import FloatDense
from .linear import FrontendResult


def _layers(est, head_input: bool = False) -> list:
    activation = est.activation
    if activation != "identity" and activation not in KINDS:
        raise TinygenError(f"{type(est).__name__}(activation={activation!r}) is not supported; "
                           f"use identity, {', '.join(KINDS)}")
    ops, last = [], len(est.coefs_) - 1
    for index, (coef, intercept) in enumerate(zip(est.coefs_, est.intercepts_)):
        if index and (activation != "identity" or (head_input and index == last)):
            ops.append(FloatActivation(kind=activation, n=ops[-1].n_out, head_input=head_input and index == last))
        ops.append(FloatDense(weights=np.asarray(coef, dtype=np.float64).T.copy(),
                              bias=np.asarray(intercept, dtype=np.float64).copy()))
    return ops


def convert_classifier(est: MLPClassifier, head_input: bool = False) -> FrontendResult:
    classes = list(est.classes_)
    out = est.out_activation_
    if out == "logistic" and est.n_outputs_ == 1 and len(classes) == 2:
        return FrontendResult(_layers(est, head_input), "classification", "positive", classes, probability="logistic")
    if out == "softmax" and est.n_outputs_ == len(classes):
        return FrontendResult(_layers(est, head_input), "classification", "argmax", classes, probability="softmax")
    raise TinygenError(f"MLPClassifier with {est.n_outputs_} outputs and {out} output activation (multilabel) is "
                       "not supported; fit it on one label column")


def convert_regressor(est: MLPRegressor, head_input: bool = False) -> FrontendResult:
    if est.n_outputs_ != 1:
        raise TinygenError(f"MLPRegressor was fitted on {est.n_outputs_} targets; tinygen exports single-target "
                           "regressors, fit one model per target")
    if est.out_activation_ != "identity":  # loss='poisson' predicts exp(score); tinygen's regressors output the score
        raise TinygenError(f"MLPRegressor(loss={getattr(est, 'loss', '?')!r}) predicts {est.out_activation_}(score), "
                           "which tinygen does not export; fit it with loss='squared_error'")
    return FrontendResult(_layers(est, head_input), "regression", "value", None)


CONVERTERS = {MLPClassifier: convert_classifier, MLPRegressor: convert_regressor}
