"""Benchmarks that print numbers (never asserted in tests), run by `tinygen bench`:
- the linear family's matrix of models x data sets x dtypes with held-out accuracy (R^2 for regressors);
- costs per target: flash, RAM, stack and cycles (AVR) or instructions (QEMU) of one model per dtype."""
from __future__ import annotations

import functools

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression, Perceptron, Ridge,
                                  RidgeClassifier, SGDClassifier, SGDRegressor)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from .api import convert
from .quantize import LINEAR_DTYPES as DTYPES
from .verify import metric

CLASSIFIERS = {
    "LogisticRegression": lambda: LogisticRegression(max_iter=5000),
    "LinearSVC": lambda: LinearSVC(max_iter=20000, random_state=0),
    "RidgeClassifier": lambda: RidgeClassifier(),
    "SGDClassifier": lambda: SGDClassifier(random_state=0),
    "Perceptron": lambda: Perceptron(random_state=0),
}
REGRESSORS = {
    "LinearRegression": lambda: LinearRegression(),
    "Ridge": lambda: Ridge(),
    "Lasso": lambda: Lasso(alpha=0.1),
    "ElasticNet": lambda: ElasticNet(alpha=0.01),
    "SGDRegressor": lambda: SGDRegressor(random_state=0),
    "LinearSVR": lambda: LinearSVR(max_iter=20000, random_state=0),
}
DATASETS = {"breast_cancer": load_breast_cancer, "wine": load_wine, "diabetes": load_diabetes}
# (data set, model) pairs of the linear family's acceptance matrix
LINEAR_CASES = [(d, m) for d in ("breast_cancer", "wine") for m in CLASSIFIERS] + [("diabetes", m) for m in REGRESSORS]


@functools.lru_cache(maxsize=None)
def split(dataset: str):
    """(X, y, X_train, X_test, y_train, y_test): the full data and a fixed 75/25 split."""
    X, y = DATASETS[dataset](return_X_y=True)
    return X, y, *train_test_split(X, y, test_size=0.25, random_state=0)


@functools.lru_cache(maxsize=None)
def fitted(dataset: str, model: str):
    """StandardScaler + the model, fitted on the training split."""
    X, y, X_train, X_test, y_train, y_test = split(dataset)
    return make_pipeline(StandardScaler(), {**CLASSIFIERS, **REGRESSORS}[model]()).fit(X_train, y_train)


def accuracy_rows():
    """One row per (data set, model): the float metric and each dtype's simulator metric on held-out rows."""
    for dataset, model in LINEAR_CASES:
        X, y, X_train, X_test, y_train, y_test = split(dataset)
        estimator = fitted(dataset, model)
        task = "classification" if model in CLASSIFIERS else "regression"
        name, float_metric = metric(task, y_test, estimator.predict(X_test))
        fixed = {dtype: metric(task, y_test, convert(estimator, dtype=dtype, calibration=X_train).predict(X_test))[1]
                 for dtype in DTYPES}
        yield dataset, model, name, float_metric, fixed


def print_accuracy_table(echo=print) -> None:
    echo(f"{'data set':<14}{'model':<20}{'metric':<10}{'float':>8}" + "".join(f"{d:>9}" for d in DTYPES)
         + "   (held-out 25 %, fixed seed; dtype columns: simulator metric - float)")
    for dataset, model, name, float_metric, fixed in accuracy_rows():
        echo(f"{dataset:<14}{model:<20}{name:<10}{float_metric:>8.4f}"
             + "".join(f"{fixed[d] - float_metric:>+9.4f}" for d in DTYPES))


def cost_rows(dataset: str, model: str, dtypes, targets, rows: int | None = None):
    """(target, dtype, compare_on_target result) for the bench model on each target, all rows or the first `rows`."""
    from .verify import compare_on_target

    X, y, X_train, *_ = split(dataset)
    X_run = X if rows is None else X[:rows]
    for target in targets:
        for dtype in dtypes:
            converted = convert(fitted(dataset, model), dtype=dtype, calibration=X_train)
            yield target, dtype, compare_on_target(converted, target, X_run, "bench")


def print_cost_table(dataset: str, model: str, dtypes, targets, rows: int | None = None, echo=print) -> None:
    echo(f"{model} on {dataset} (StandardScaler folded in); flash/RAM: what the model adds to the firmware")
    echo(f"{'target':<16}{'dtype':<9}{'rows':>6}{'mismatch':>9}{'flash B':>9}{'RAM B':>7}{'stack B':>8}"
         f"{'mean':>10}{'min':>9}{'max':>9}  unit")
    for target, dtype, r in cost_rows(dataset, model, dtypes, targets, rows):
        low = r.get("cycles_min", r.get("instructions_min"))
        high = r.get("cycles_max", r.get("instructions_max"))

        def show(v, fmt="{:.0f}"):
            return "-" if v is None else fmt.format(v)

        echo(f"{target:<16}{dtype:<9}{r['rows']:>6}{r['mismatches']:>9}{show(r['flash_bytes']):>9}{show(r['ram_bytes']):>7}"
             f"{show(r['stack_bytes']):>8}{show(r['cycles_per_inference'], '{:.1f}'):>10}{show(low):>9}{show(high):>9}"
             f"  {r.get('cycles_unit') or '-'}")
