"""Fitting scikit-learn models with MCU-friendly defaults.

``fit(dataset, kind)`` picks the estimator for the model ``kind`` and the task (classification or
regression, detected from the labels unless given), puts a scaler in front of it, and fits on float64
numpy arrays. Everything the user can get wrong is a one-line :class:`~tinygen.errors.TinygenError`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression, Perceptron, Ridge,
                                  RidgeClassifier, SGDClassifier, SGDRegressor)
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              IsolationForest, RandomForestClassifier, RandomForestRegressor)
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tinygen.data import Dataset
from tinygen.errors import TinygenError

# The model kinds fit() supports now, in the order the CLI help lists them.
KINDS = ("logreg", "linear-svm", "ridge", "sgd", "perceptron", "linear", "lasso", "elastic-net",
         "tree", "forest", "extra-trees", "gbt", "hist-gbt", "gnb", "isolation-forest", "mlp")
# Trees compare raw features (scaling cannot change a tree), so they train without a scaler.
TREE_KINDS = ("tree", "forest", "extra-trees", "gbt", "hist-gbt", "isolation-forest")
# Unsupervised kinds: fitted on the features alone (a label column, if named, is left out and not used).
UNSUPERVISED_KINDS = ("isolation-forest",)

TASKS = ("classification", "regression")
SCALERS = ("auto", "standard", "minmax", "maxabs", "robust", "none")  # auto: standard, none for trees

# Integer-valued labels with at most this many distinct values are treated as class labels.
MAX_AUTO_CLASSES = 50


# ------------------------------------------------------------------------------------------------ estimators

# An estimator preset: the class and the defaults that make it converge on typical data (random_state is
# set from --seed wherever the estimator has one).
Preset = tuple[type, dict[str, Any]]

# kind -> (classification preset or None, regression preset or None, what to use instead for the other task)
_PRESETS: dict[str, tuple[Preset | None, Preset | None, str]] = {
    "logreg": ((LogisticRegression, {"max_iter": 5000}), None, "for regression use model 'linear' or 'ridge'"),
    "linear-svm": ((LinearSVC, {"max_iter": 20000}), (LinearSVR, {"max_iter": 20000}), ""),
    "ridge": ((RidgeClassifier, {}), (Ridge, {}), ""),
    "sgd": ((SGDClassifier, {"max_iter": 5000}), (SGDRegressor, {"max_iter": 5000}), ""),
    "perceptron": ((Perceptron, {"max_iter": 5000}), None, "for regression use model 'linear', 'ridge' or 'sgd'"),
    "linear": (None, (LinearRegression, {}), "for classification use model 'logreg'"),
    "lasso": (None, (Lasso, {"max_iter": 20000}), "for classification use model 'logreg' or 'linear-svm'"),
    "elastic-net": (None, (ElasticNet, {"max_iter": 20000}), "for classification use model 'logreg' or 'sgd'"),
    # MCU-sized: a depth-6 tree, forests of 10 such trees (RandomForest's 100 unlimited trees fit no Uno)
    "tree": ((DecisionTreeClassifier, {"max_depth": 6}), (DecisionTreeRegressor, {"max_depth": 6}), ""),
    "forest": ((RandomForestClassifier, {"n_estimators": 10, "max_depth": 6}),
               (RandomForestRegressor, {"n_estimators": 10, "max_depth": 6}), ""),
    "extra-trees": ((ExtraTreesClassifier, {"n_estimators": 10, "max_depth": 6}),
                    (ExtraTreesRegressor, {"n_estimators": 10, "max_depth": 6}), ""),
    "gbt": ((GradientBoostingClassifier, {"n_estimators": 50, "max_depth": 3}),
            (GradientBoostingRegressor, {"n_estimators": 50, "max_depth": 3}), ""),
    "hist-gbt": ((HistGradientBoostingClassifier, {"max_iter": 50, "max_depth": 4}),
                 (HistGradientBoostingRegressor, {"max_iter": 50, "max_depth": 4}), ""),
    # one mean and variance per class and feature: MCU-sized as it is; var_smoothing via --param
    "gnb": ((GaussianNB, {}), None, "for regression use model 'linear' or 'ridge'"),
    # MCU-sized: two hidden layers (16, 8) with relu (616 MACs on breast_cancer's 30 features: ~11k cycles on an
    # Uno in q7); --param hidden_layer_sizes=32 or =16,8 changes them; adam with enough epochs to converge
    "mlp": ((MLPClassifier, {"hidden_layer_sizes": (16, 8), "max_iter": 2000}),
            (MLPRegressor, {"hidden_layer_sizes": (16, 8), "max_iter": 5000}), ""),
}
# Unsupervised presets. MCU-sized: 25 trees on 64-row subsamples (depth <= 6) take ~20 KB of AVR flash on
# breast_cancer, which fits an Uno; scikit-learn's 100 trees x 256 rows would need ~130 KB there.
_UNSUPERVISED_PRESETS: dict[str, Preset] = {
    "isolation-forest": (IsolationForest, {"n_estimators": 25, "max_samples": 64}),
}
assert set(_PRESETS) | set(_UNSUPERVISED_PRESETS) == set(KINDS)


def is_unsupervised(estimator) -> bool:
    """True for models fitted without labels (IsolationForest, alone or as a Pipeline's last step)."""
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    return isinstance(final, IsolationForest)


def check_kind(kind: str) -> str:
    """``kind`` if fit() supports it; otherwise a TinygenError saying what is available."""
    if kind in KINDS:
        return kind
    raise TinygenError(f"unknown model kind {kind!r}; choose one of: {', '.join(KINDS)}")


def _scaler(name: str):
    from sklearn import preprocessing

    return {
        "standard": preprocessing.StandardScaler,
        "minmax": preprocessing.MinMaxScaler,
        "maxabs": preprocessing.MaxAbsScaler,
        "robust": preprocessing.RobustScaler,
    }[name]()


# ---------------------------------------------------------------------------------------------------- tasks


def _integral(y: np.ndarray) -> bool:
    if y.dtype.kind in "iub":
        return True
    if y.dtype.kind == "f":
        return bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    return False


def detect_task(y: np.ndarray) -> str:
    """``"classification"`` for text, boolean or integer labels with at most 50 distinct values; otherwise
    ``"regression"``."""
    y = np.asarray(y)
    if y.dtype.kind in "OUSb":
        return "classification"
    if _integral(y) and len(np.unique(y)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def _why_task(y: np.ndarray, label: str) -> str:
    """Why detect_task chose what it chose, for error messages."""
    if y.dtype.kind in "OUSb":
        return f"label column {label!r} holds text, so this is classification"
    n_distinct = len(np.unique(y))
    if _integral(y):
        if n_distinct <= MAX_AUTO_CLASSES:
            return f"label column {label!r} has {n_distinct} distinct integer values, so this is classification"
        return (
            f"label column {label!r} has {n_distinct} distinct values (more than {MAX_AUTO_CLASSES}), "
            "so this is regression"
        )
    return f"label column {label!r} has fractional values, so this is regression"


# ---------------------------------------------------------------------------------------------------- params


_INT_RE = re.compile(r"[+-]?\d+")


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "none":
        return None
    if _INT_RE.fullmatch(text.strip()):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def parse_params(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["C=0.5", "fit_intercept=false", "solver=saga"]`` -> ``{"C": 0.5, "fit_intercept": False, ...}``.

    Values become int, float, bool (``true``/``false``), None (``none``) or else stay strings. Whether the
    estimator accepts the key and value is checked by fit().
    """
    params: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise TinygenError(f"malformed parameter {item!r}; write KEY=VALUE, for example C=0.5")
        if not key.isidentifier():
            raise TinygenError(
                f"malformed parameter {item!r}: {key!r} is not a parameter name; write KEY=VALUE, for example C=0.5"
            )
        if key in params:
            raise TinygenError(f"parameter {key!r} is given more than once; give it once")
        params[key] = _parse_value(value.strip())
    return params


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _apply_params(estimator, kind: str, params: dict[str, Any]) -> None:
    valid = sorted(estimator.get_params(deep=False))
    name = type(estimator).__name__
    for key in params:
        if key not in valid:
            raise TinygenError(
                f"unknown parameter {key!r} for model {kind!r} ({name}); valid parameters: {', '.join(valid)}"
            )
    try:
        estimator.set_params(**params)
    except (ValueError, TypeError) as exc:
        raise TinygenError(f"invalid parameter for model {kind!r} ({name}): {_one_line(exc)}") from exc
    validate = getattr(estimator, "_validate_params", None)  # scikit-learn >= 1.2
    if validate is not None:
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise TinygenError(f"invalid parameter for model {kind!r} ({name}): {_one_line(exc)}") from exc


# ---------------------------------------------------------------------------------------------------- fit


def make_estimator(
    kind: str, task: str, *, params: dict[str, Any] | None = None, seed: int = 0, why: str = ""
):
    """The unfitted estimator for ``kind`` and ``task`` ("classification" or "regression"), with ``params``.

    ``why`` (optional) explains how the task was chosen; it is added to the error for a kind/task mismatch.
    """
    check_kind(kind)
    if kind in _UNSUPERVISED_PRESETS:
        cls, defaults = _UNSUPERVISED_PRESETS[kind]
        return _configured(cls(**defaults), kind, params, seed)
    if task not in TASKS:
        raise TinygenError(f"unknown task {task!r}; choose one of: auto, {', '.join(TASKS)}")
    for_classification, for_regression, instead = _PRESETS[kind]
    preset = for_classification if task == "classification" else for_regression
    if preset is None:
        because = f": {why}" if why else ""
        raise TinygenError(f"model {kind!r} does not do {task}{because}; {instead}")
    cls, defaults = preset
    return _configured(cls(**defaults), kind, params, seed)


def _configured(estimator, kind: str, params: dict[str, Any] | None, seed: int):
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=int(seed))
    if params:
        sizes = params.get("hidden_layer_sizes")
        if kind == "mlp" and isinstance(sizes, str):  # "16,8" -> (16, 8)
            try:
                params = {**params, "hidden_layer_sizes": tuple(int(v) for v in sizes.split(","))}
            except ValueError:
                raise TinygenError(f"hidden_layer_sizes={sizes!r}: write layer widths separated by commas, e.g. 16,8") from None
        _apply_params(estimator, kind, params)
    return estimator


def _check_features(X: np.ndarray, dataset: Dataset, allow_missing: bool = False) -> None:
    """No infinite values; NaN (missing values) only for a model that handles them (allow_missing)."""
    bad = np.isinf(X) if allow_missing else ~np.isfinite(X)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        names = dataset.feature_names
        column = names[col] if col < len(names) else f"#{col + 1}"
        what = "infinite values" if allow_missing else "NaN or infinite values"
        raise TinygenError(
            f"the features contain {what} (column {column!r}, data row {row + 1}, "
            f"{int(bad.any(axis=1).sum())} rows in all); remove or impute those rows"
        )


def handles_missing(kind: str) -> bool:
    """True when model ``kind`` takes missing values (NaN) for every task, in this scikit-learn version."""
    from tinygen.frontend import handles_missing as estimator_handles_missing

    if kind in _UNSUPERVISED_PRESETS:
        presets = [_UNSUPERVISED_PRESETS[kind]]
    else:
        presets = [preset for preset in _PRESETS[check_kind(kind)][:2] if preset is not None]
    return all(estimator_handles_missing(cls(**defaults)) for cls, defaults in presets)


def name_features(estimator, feature_names) -> None:
    """Record the CSV's column names in the fitted model as scikit-learn does for a DataFrame
    (``feature_names_in_`` of the first step), so that every later command matches columns by name."""
    first = estimator.steps[0][1] if hasattr(estimator, "steps") else estimator
    if len(feature_names) != getattr(first, "n_features_in_", len(feature_names)):
        raise TinygenError(f"{len(feature_names)} feature names for a model of {first.n_features_in_} features")
    first.feature_names_in_ = np.asarray([str(n) for n in feature_names], dtype=object)


def fit(
    dataset: Dataset,
    kind: str,
    *,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    task: str = "auto",
    scaler: str = "auto",
):
    """Fit model ``kind`` on ``dataset``.

    Returns ``Pipeline([("scale", <scaler>), ("model", estimator)])``, or the bare estimator for
    ``scaler="none"``. ``task`` is "auto" (see :func:`detect_task`), "classification" or "regression".
    ``params`` (see :func:`parse_params`) are set on the estimator and override tinygen's defaults;
    ``seed`` is its ``random_state`` where it has one. Unsupervised kinds (isolation-forest) fit the
    features alone and return the bare estimator; ``dataset.y`` is ignored.
    """
    check_kind(kind)
    scaler = _scaler_name(kind, scaler)
    if task not in ("auto",) + TASKS:
        raise TinygenError(f"unknown task {task!r}; choose one of: auto, {', '.join(TASKS)}")
    label = dataset.label_name or "label"
    if kind in UNSUPERVISED_KINDS:
        return _fit_unsupervised(dataset, kind, params=params, seed=seed, task=task)
    if dataset.y is None:
        raise TinygenError(f"model {kind!r} needs labels but the data has no label column; name it with --label COLUMN")

    X = np.asarray(dataset.X, dtype=np.float64)
    y = np.asarray(dataset.y)
    check_table(X, dataset, y, handles_missing(kind))

    if task == "auto":
        task = detect_task(y)
        why = _why_task(y, label)
    else:
        why = f"task {task!r} was requested"
    y = _checked_labels(y, task, label)
    estimator = make_estimator(kind, task, params=params, seed=seed, why=why)
    model = estimator if scaler == "none" else _pipeline(_scaler(scaler), estimator)
    try:
        model.fit(X, y)
    except (ValueError, TypeError) as exc:
        raise TinygenError(f"cannot fit model {kind!r} ({type(estimator).__name__}): {_one_line(exc)}") from exc
    return model


def _scaler_name(kind: str, scaler: str | None) -> str:
    """The scaler fit() puts in front of model `kind`: `scaler` checked, "auto" resolved (none for trees)."""
    if scaler is None:
        scaler = "none"
    if scaler not in SCALERS:
        raise TinygenError(f"unknown scaler {scaler!r}; choose one of: {', '.join(SCALERS)}")
    if scaler == "auto":
        return "none" if kind in TREE_KINDS else "standard"
    if kind in TREE_KINDS and scaler != "none":
        raise TinygenError(f"model {kind!r} takes raw features: a scaler cannot change a tree; drop --scaler {scaler}")
    return scaler


def _checked_labels(y: np.ndarray, task: str, label: str) -> np.ndarray:
    """The labels y, checked to be class labels (at least two) or finite regression targets (then as float64);
    `label` names their column in the messages."""
    if task == "classification":
        if y.dtype.kind == "f" and not _integral(y):
            raise TinygenError(
                f"label column {label!r} has fractional or non-finite values, which are not class labels; "
                "use a regression model or round the labels"
            )
        classes = np.unique(y)
        if len(classes) < 2:
            raise TinygenError(
                f"label column {label!r} has a single value {classes.tolist()[0]!r}; classification needs at least "
                "two different labels (is --label the class column?)"
            )
        return y
    if y.dtype.kind in "OUSb":
        raise TinygenError(
            f"label column {label!r} holds text, so it cannot be a regression target; use a "
            "classification model or numeric labels"
        )
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise TinygenError(f"label column {label!r} has NaN or infinite values; remove those rows")
    return y


def check_table(X: np.ndarray, dataset: Dataset, y: np.ndarray | None = None, allow_missing: bool = False) -> None:
    """TinygenError unless the feature table X (dataset's, for the column names in messages) is fit for training:
    a 2-D table of at least 2 rows and 1 column, finite (NaN allowed with allow_missing), and y, when given, one
    label per row. fit() checks this; the search checks it before its folds."""
    if X.ndim != 2:
        raise TinygenError(f"features must be a table (rows x columns), got an array of shape {X.shape}")
    if y is not None and (y.ndim != 1 or len(y) != X.shape[0]):
        raise TinygenError(f"there are {X.shape[0]} feature rows but {y.shape} labels; give one label per row")
    if X.shape[0] < 2:
        raise TinygenError(f"the data has {X.shape[0]} row(s); training needs at least 2 rows")
    if X.shape[1] < 1:
        raise TinygenError("the data has no feature columns; add at least one")
    _check_features(X, dataset, allow_missing)


def _fit_unsupervised(dataset: Dataset, kind: str, *, params, seed: int, task: str):
    """An anomaly detector on the features alone: the labels (if the data has a label column) are not used.
    A preset max_samples above the row count becomes the row count (scikit-learn would warn and do the same)."""
    if task != "auto":
        raise TinygenError(f"model {kind!r} is unsupervised (it has no classification or regression task); drop --task {task}")
    X = np.asarray(dataset.X, dtype=np.float64)
    check_table(X, dataset, allow_missing=handles_missing(kind))
    estimator = make_estimator(kind, "auto", params=params, seed=seed)
    preset_samples = _UNSUPERVISED_PRESETS[kind][1].get("max_samples")
    if "max_samples" not in (params or {}) and isinstance(preset_samples, int) and preset_samples > X.shape[0]:
        estimator.set_params(max_samples=X.shape[0])
    try:
        estimator.fit(X)
    except (ValueError, TypeError) as exc:
        raise TinygenError(f"cannot fit model {kind!r} ({type(estimator).__name__}): {_one_line(exc)}") from exc
    return estimator


def _pipeline(scaler, estimator):
    from sklearn.pipeline import Pipeline

    return Pipeline([("scale", scaler), ("model", estimator)])


# ---------------------------------------------------------------------------------------------------- held out

# A confusion matrix wider than this many classes is not printed (it would not be readable on a terminal).
MAX_CONFUSION_CLASSES = 12


@dataclass
class Holdout:
    """How a copy of the model fitted on part of the rows scores on the rest (``skipped``: why it could not)."""

    metric_name: str = ""  # "accuracy" (classifiers) or "R^2" (regressors)
    value: float = float("nan")
    train_rows: int = 0
    test_rows: int = 0
    stratified: bool = False
    labels: list = field(default_factory=list)  # classifiers: every class, the confusion matrix's order
    confusion: np.ndarray | None = None  # [true class, predicted class] -> rows
    skipped: str = ""
    recordings: int = 0  # holdout_windows: the held-out recordings (the rows are their windows)

    def confusion_lines(self) -> list[str]:
        """The confusion matrix as aligned text lines (rows: true label, columns: predicted label)."""
        if self.confusion is None:
            return []
        if len(self.labels) > MAX_CONFUSION_CLASSES:
            return [f"  (confusion matrix not shown: {len(self.labels)} classes, more than {MAX_CONFUSION_CLASSES})"]
        names = [str(label)[:12] for label in self.labels]
        corner = "true \\ predicted"
        first = max(len(corner), *(len(n) for n in names))
        width = max(len(str(int(self.confusion.max()))), *(len(n) for n in names))
        lines = [f"  {corner:<{first}}  " + "  ".join(f"{n:>{width}}" for n in names)]
        for name, row in zip(names, self.confusion):
            lines.append(f"  {name:<{first}}  " + "  ".join(f"{int(v):>{width}}" for v in row))
        return lines


def _split(X, y, test_size: float, seed: int, stratify: bool):
    """train_test_split, stratified by the labels where that is possible (else a plain split)."""
    from sklearn.model_selection import train_test_split

    if stratify:
        try:
            return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y), True
        except ValueError:  # a class with one row, or fewer test rows than classes
            pass
    return train_test_split(X, y, test_size=test_size, random_state=seed), False


def holdout(dataset: Dataset, kind: str, *, test_size: float, params: dict[str, Any] | None = None, seed: int = 0,
            task: str = "auto", scaler: str = "auto") -> Holdout:
    """Fit ``kind`` on a ``1 - test_size`` share of the rows (stratified for classifiers) and score it on the
    rest: accuracy and a confusion matrix, or R^2. The model to save is fitted on all rows by :func:`fit`."""
    from sklearn.metrics import confusion_matrix, r2_score

    y = np.asarray(dataset.y)
    task = detect_task(y) if task == "auto" else task
    try:
        (X_train, X_test, y_train, y_test), stratified = _split(dataset.X, y, test_size, seed,
                                                                task == "classification")
    except ValueError as exc:
        return Holdout(skipped=f"cannot split {len(y)} rows with --test-size {test_size}: {_one_line(exc)}")
    if task == "regression" and len(y_test) < 2:
        return Holdout(skipped=f"R^2 needs at least 2 held-out rows, --test-size {test_size} holds out {len(y_test)}")
    part = Dataset(X_train, y_train, dataset.feature_names, dataset.label_name)
    try:
        model = fit(part, kind, params=params, seed=seed, task=task, scaler=scaler)
    except TinygenError as exc:
        return Holdout(skipped=f"the {len(y_train)} training rows of the split cannot be fitted: {exc}")
    predicted = model.predict(X_test)
    result = Holdout(train_rows=len(y_train), test_rows=len(y_test), stratified=stratified)
    if task == "regression":
        result.metric_name, result.value = "R^2", float(r2_score(y_test.astype(np.float64), predicted))
        return result
    result.labels = np.unique(y).tolist()
    result.metric_name, result.value = "accuracy", float(np.mean(predicted == y_test))
    result.confusion = confusion_matrix(y_test, predicted, labels=np.unique(y))
    return result


# ---------------------------------------------------------------------------------------------------- windows


def window_pipeline(kind: str, task: str, window: int, channel_names: list[str], *, features=None, hop=None,
                    sample_rate=None, params: dict[str, Any] | None = None, seed: int = 0, scaler: str = "auto",
                    why: str = ""):
    """The unfitted Pipeline([("features", WindowFeatures), ("scale", scaler) unless none, ("model", estimator)])
    for raw windows: the scaler as fit() puts one in front of ``kind`` (none for trees)."""
    from tinygen.features import DEFAULT_FEATURES, WindowFeatures
    from sklearn.pipeline import Pipeline

    scaler = _scaler_name(kind, scaler)
    step = WindowFeatures(window=window, channels=list(channel_names), features=features or DEFAULT_FEATURES,
                          sample_rate=sample_rate, hop=hop)
    step.specs()  # a bad feature list or sample rate is the first thing to say
    estimator = make_estimator(kind, task, params=params, seed=seed, why=why)
    steps = [("features", step)] + ([] if scaler == "none" else [("scale", _scaler(scaler))])
    return Pipeline(steps + [("model", estimator)])


def fit_windows(windows, kind: str, *, features=None, sample_rate=None, params: dict[str, Any] | None = None,
                seed: int = 0, task: str = "auto", scaler: str = "auto"):
    """Fit model ``kind`` on the windows of a raw CSV (a :class:`tinygen.windows.Windows`) through
    :func:`window_pipeline`; the labels are checked as fit() checks them."""
    check_kind(kind)
    if kind in UNSUPERVISED_KINDS:
        raise TinygenError(f"model {kind!r} does not train on windows yet; train it on a feature table")
    task, why = _window_task(windows.y, task, windows.label_name)
    y = _checked_labels(np.asarray(windows.y), task, windows.label_name)
    model = window_pipeline(kind, task, windows.window, windows.channel_names, features=features, hop=windows.hop,
                            sample_rate=sample_rate, params=params, seed=seed, scaler=scaler, why=why)
    try:
        return model.fit(windows.X, y)
    except (ValueError, TypeError) as exc:
        raise TinygenError(f"cannot fit model {kind!r} ({type(model[-1]).__name__}) on the window features: "
                           f"{_one_line(exc)}") from exc


def _window_task(y: np.ndarray, task: str, label: str) -> tuple[str, str]:
    if task not in ("auto",) + TASKS:
        raise TinygenError(f"unknown task {task!r}; choose one of: auto, {', '.join(TASKS)}")
    y = np.asarray(y)
    if task == "auto":
        return detect_task(y), _why_task(y, label)
    return task, f"task {task!r} was requested"


def holdout_windows(windows, kind: str, *, test_size: float, seed: int = 0, **options) -> Holdout:
    """Fit ``kind`` (fit_windows ``options``) on the windows of a ``1 - test_size`` share of the recordings
    (GroupShuffleSplit: whole recordings, no window of a held-out recording seen in training) and score it on the
    windows of the rest. ``train_rows``/``test_rows`` count windows; ``recordings`` the held-out recordings."""
    from sklearn.metrics import confusion_matrix, r2_score
    from sklearn.model_selection import GroupShuffleSplit

    n_recordings = len(np.unique(windows.groups))
    if n_recordings < 2:
        return Holdout(skipped=f"a split by recording needs at least 2 recordings with windows, there is {n_recordings}")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(splitter.split(windows.X, windows.y, windows.groups))
    part = dataclasses.replace(windows, X=windows.X[train], y=windows.y[train], groups=windows.groups[train])
    try:
        model = fit_windows(part, kind, seed=seed, **options)
    except TinygenError as exc:
        return Holdout(skipped=f"the {len(train)} training windows of the split cannot be fitted: {exc}")
    predicted, truth = model.predict(windows.X[test]), np.asarray(windows.y)[test]
    result = Holdout(train_rows=len(train), test_rows=len(test), recordings=len(np.unique(windows.groups[test])))
    if not is_classifier(model):
        result.metric_name, result.value = "R^2", float(r2_score(truth.astype(np.float64), predicted))
        return result
    result.labels = np.unique(windows.y).tolist()
    result.metric_name, result.value = "accuracy", float(np.mean(predicted == truth))
    result.confusion = confusion_matrix(truth, predicted, labels=np.unique(windows.y))
    return result
