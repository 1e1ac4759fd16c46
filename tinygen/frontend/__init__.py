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
from . import linear, mlp, naive_bayes, preprocessing, trees, window

MODELS = {**linear.CONVERTERS, **trees.CONVERTERS, **naive_bayes.CONVERTERS, **mlp.CONVERTERS}
TRANSFORMERS = dict(preprocessing.CONVERTERS)
PREFIXES = dict(window.CONVERTERS)  # steps that compute the model's inputs on the device: first only


def supported_names() -> list[str]:
    return sorted(cls.__name__ for cls in (*MODELS, *TRANSFORMERS, *PREFIXES)) + ["Pipeline"]


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


def _steps(estimator) -> list:
    """The estimator, or a Pipeline's steps without the skipped ones (None, "passthrough")."""
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    return [s for s in steps if s is not None and s != "passthrough"]


def check_supported(estimator) -> tuple[list, object]:
    """(transforms, model): the steps of a fitted estimator or Pipeline tinygen converts; a TinygenError says
    what is not supported or not fitted."""
    steps = _steps(estimator)
    if not steps:
        raise TinygenError("the Pipeline has no steps; give it a model as its last step")
    *transforms, model = steps
    if type(model) not in MODELS:
        if type(model) in TRANSFORMERS:
            raise TinygenError(f"the last step is {type(model).__name__}, a transformer; the last step must be a model")
        raise _unsupported(model, "")
    prefix = transforms[:1] if transforms and type(transforms[0]) in PREFIXES else []
    if any(type(step) in PREFIXES for step in transforms[len(prefix):]):
        raise TinygenError("WindowFeatures must be the first step of the Pipeline: it reads the raw windows")
    if transforms[len(prefix):] and type(model) in trees.CONVERTERS and not prefix:
        raise TinygenError(f"{type(model).__name__} after {type(transforms[0]).__name__}: trees take raw features "
                           "(scaling does not change a tree); fit the tree without the pre-processing steps")
    for step in prefix:
        _check_fitted(step)
    for step in transforms[len(prefix):]:
        if type(step) not in TRANSFORMERS:
            raise _unsupported(step, " as a Pipeline step")
        _check_fitted(step)
    _check_fitted(model)
    return transforms, model


def window_step(estimator):
    """The WindowFeatures step of a window pipeline (its first step: it reads the raw windows), else None."""
    steps = _steps(estimator)
    return steps[0] if len(steps) > 1 and type(steps[0]) in PREFIXES else None


def to_float_program(estimator, feature_names=None, head_input: bool = False) -> Program:
    """The float IR of a fitted estimator or Pipeline, with the fold passes applied. head_input (MLPs, a trainable
    export): the last hidden activation marked as the trainable head's input (frontend/mlp.py)."""
    transforms, model = check_supported(estimator)
    steps = [*transforms, model]
    ops = [{**TRANSFORMERS, **PREFIXES}[type(step)](step) for step in transforms]
    head = MODELS[type(model)](model, head_input=True) if head_input else MODELS[type(model)](model)
    ops.extend(head.ops)
    first = steps[0]
    n_features = int(getattr(first, "n_features_in_", ops[0].n_in))
    if type(first) in PREFIXES and feature_names is None:
        feature_names = ops[0].sample_names()  # the windows' values are named channel[t]
    names = feature_names_for(estimator, feature_names, n_features)
    labels = None if head.labels is None else [json_value(v) for v in head.labels]
    source = type(model).__name__
    if transforms:
        source = f"Pipeline({', '.join(type(s).__name__ for s in steps)})"
    program = Program(dtype="float", task=head.task, decision=head.decision, n_features=n_features,
                      feature_names=list(names), labels=labels, ops=ops, source=source, anomaly=head.anomaly,
                      probability=head.probability)
    return run_passes(program)


def feature_names_for(estimator, feature_names, n_features: int) -> list[str]:
    """A program's feature names: the given ones (one per feature, else a TinygenError), else those the estimator
    was fitted with, else x0, x1, ..."""
    if feature_names is not None and len(feature_names) != n_features:
        raise TinygenError(f"feature_names has {len(feature_names)} names but the model takes {n_features} features; "
                           "give one name per feature")
    return list(feature_names or feature_names_of(estimator) or [f"x{i}" for i in range(n_features)])


def feature_names_of(estimator) -> list[str] | None:
    """The names the estimator (or a Pipeline's first step) was fitted with, or None if it was fitted on arrays."""
    steps = _steps(estimator)
    names = getattr(steps[0], "feature_names_in_", None) if steps else None
    return None if names is None else [str(n) for n in names]


def handles_missing(estimator) -> bool:
    """True when scikit-learn's model takes NaN (missing values) and tinygen routes them the same way: the
    tree families whose installed scikit-learn version allows NaN (HistGradientBoosting*, and DecisionTree,
    RandomForest, ExtraTrees from scikit-learn 1.4-1.6 on), each step of a Pipeline included."""
    steps = _steps(estimator)
    if not steps or type(steps[-1]) not in trees.CONVERTERS:
        return False
    try:
        return all(step.__sklearn_tags__().input_tags.allow_nan for step in steps)
    except AttributeError:  # scikit-learn < 1.6 has no tags API: ask its older _get_tags
        return all(getattr(step, "_get_tags", dict)().get("allow_nan", False) for step in steps)


def float_reference(estimator, X) -> np.ndarray:
    """What the float model itself outputs for rows X: decision values / predictions, for tests."""
    fn = getattr(estimator, "decision_function", None)
    return fn(X) if fn is not None else estimator.predict(X)
