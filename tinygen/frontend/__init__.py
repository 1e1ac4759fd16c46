"""scikit-learn estimator or Pipeline -> float IR. The only part of tinygen that knows scikit-learn.

Each family module exposes CONVERTERS: {estimator class: function(estimator) -> FrontendResult}; a
Pipeline's leading steps must be transformers from preprocessing.TRANSFORMERS and its last step a model.
"""
from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..errors import TinygenError
from ..ir import Program, json_value
from ..passes import run_passes
from . import linear, mlp, naive_bayes, preprocessing, trees

MODELS = {**linear.CONVERTERS, **trees.CONVERTERS, **naive_bayes.CONVERTERS, **mlp.CONVERTERS}
TRANSFORMERS = dict(preprocessing.CONVERTERS)


def supported_names() -> list[str]:
    return sorted(cls.__name__ for cls in (*MODELS, *TRANSFORMERS)) + ["Pipeline"]


def unsupported_message(class_name: str, where: str = "") -> str:
    """The one refusal of an estimator tinygen cannot convert (also said when loading a .skops that holds one)."""
    return f"{class_name} is not supported by tinygen{where}; supported: {', '.join(supported_names())}"


def _unsupported(obj, where: str) -> TinygenError:
    return TinygenError(unsupported_message(type(obj).__name__, where))


def _check_fitted(obj) -> None:
    try:
        check_is_fitted(obj)
    except NotFittedError:
        raise TinygenError(f"{type(obj).__name__} is not fitted; call fit() (or `tinygen train`) first") from None


def to_float_program(estimator, feature_names=None) -> Program:
    """The float IR of a fitted estimator or Pipeline, with the fold passes applied."""
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    steps = [s for s in steps if s is not None and s != "passthrough"]
    if not steps:
        raise TinygenError("the Pipeline has no steps; give it a model as its last step")
    *transforms, model = steps
    if type(model) not in MODELS:
        if type(model) in TRANSFORMERS:
            raise TinygenError(f"the last step is {type(model).__name__}, a transformer; the last step must be a model")
        raise _unsupported(model, "")
    if transforms and type(model) in trees.CONVERTERS:
        raise TinygenError(f"{type(model).__name__} after {type(transforms[0]).__name__}: trees take raw features "
                           "(scaling does not change a tree); fit the tree without the pre-processing steps")
    ops = []
    for step in transforms:
        if type(step) not in TRANSFORMERS:
            raise _unsupported(step, " as a Pipeline step")
        _check_fitted(step)
        ops.append(TRANSFORMERS[type(step)](step))
    _check_fitted(model)
    head = MODELS[type(model)](model)
    ops.extend(head.ops)
    first = steps[0]
    n_features = int(getattr(first, "n_features_in_", ops[0].n_in))
    names = feature_names
    if names is None and hasattr(first, "feature_names_in_"):
        names = [str(n) for n in first.feature_names_in_]
    if names is None or len(names) != n_features:
        names = [f"x{i}" for i in range(n_features)]
    labels = None if head.labels is None else [json_value(v) for v in head.labels]
    source = type(model).__name__
    if transforms:
        source = f"Pipeline({', '.join(type(s).__name__ for s in steps)})"
    program = Program(dtype="float", task=head.task, decision=head.decision, n_features=n_features,
                      feature_names=list(names), labels=labels, ops=ops, source=source, anomaly=head.anomaly,
                      probability=head.probability)
    return run_passes(program)


def float_reference(estimator, X) -> np.ndarray:
    """What the float model itself outputs for rows X: decision values / predictions, for tests."""
    fn = getattr(estimator, "decision_function", None)
    return fn(X) if fn is not None else estimator.predict(X)
