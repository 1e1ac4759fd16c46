"""Benchmarks that print numbers (never asserted in tests), run by `tinygen bench`:
- the matrix of linear models, MLPs and GaussianNB x data sets x dtypes with held-out accuracy (R^2 for
  regressors);
- costs per target: flash, RAM, stack and cycles (AVR) or instructions (QEMU) of one model per dtype, and for
  trees per layout and threshold-bins choice, with C-vs-simulator mismatches and agreement with scikit-learn;
  for MLPs also cycles (instructions) per multiply-accumulate and the speed-up over float32."""
from __future__ import annotations

import functools
import itertools
import warnings

from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression, Perceptron, Ridge,
                                  RidgeClassifier, SGDClassifier, SGDRegressor)
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from .api import convert
from .data import BUNDLED
from .errors import TinygenError
from .progress import progress
from .quantize import BINS_CHOICES, GAUSSIAN_DTYPES, LINEAR_DTYPES
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
# Trees as issue 4 sizes them for an Arduino Uno; "RandomForest" on breast_cancer is the reference model.
TREE_CLASSIFIERS = {
    "RandomForest": lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
    "DecisionTree": lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    "ExtraTrees": lambda: ExtraTreesClassifier(n_estimators=10, max_depth=6, random_state=0),
    "GradientBoosting": lambda: GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0),
    "HistGradientBoosting": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
}
TREE_REGRESSORS = {
    "DecisionTreeRegressor": lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
    "RandomForestRegressor": lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
    "ExtraTreesRegressor": lambda: ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0),
    "GradientBoostingRegressor": lambda: GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
    "HistGradientBoostingRegressor": lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0),
}
TREES = {**TREE_CLASSIFIERS, **TREE_REGRESSORS}
# Issue 5's acceptance networks, fitted as tests/test_mlp.py fits them (StandardScaler + relu layers):
# MLP16x8 is the breast_cancer one, MLP32 the digits one; MLPRegressor16x8 is test_mlp's diabetes network.
MLP_CLASSIFIERS = {
    "MLP16x8": lambda: MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=2000, random_state=0),
    "MLP32": lambda: MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=0),
}
MLP_REGRESSORS = {"MLPRegressor16x8": lambda: MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=5000, random_state=0)}
MLPS = {**MLP_CLASSIFIERS, **MLP_REGRESSORS}
# GaussianNB alone, as tests/test_gaussian_nb.py fits it (a scaler in front would only fold into it)
BAYES = {"GaussianNB": lambda: GaussianNB()}
SCALED = {**CLASSIFIERS, **REGRESSORS, **MLPS}  # fitted behind a StandardScaler
MODELS = {**SCALED, **TREES, **BAYES}
ALL_REGRESSORS = {*REGRESSORS, *TREE_REGRESSORS, *MLP_REGRESSORS}
LINEAR_COST_DTYPES = ("q15", "q7", "float32")  # the cost table's dtypes when none are asked
MLP_DTYPES = (*LINEAR_COST_DTYPES, "int8")  # quantize.py: no q31 for hidden layers (no q31 activation tables)
ACCURACY_DTYPES = (*LINEAR_DTYPES, "int8")  # the accuracy table's columns; "-" where a family has no such dtype
DATASETS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes,
            "digits": load_digits}
assert tuple(DATASETS) == BUNDLED  # the CLI offers data.BUNDLED without importing this module
# (data set, model) pairs of the linear family's acceptance matrix
LINEAR_CASES = [(d, m) for d in ("breast_cancer", "wine") for m in CLASSIFIERS] + [("diabetes", m) for m in REGRESSORS]
# issue 5's: its two acceptance networks (and test_mlp's regressor), GaussianNB on its three data sets
NETWORK_CASES = [("breast_cancer", "MLP16x8"), ("digits", "MLP32"), ("diabetes", "MLPRegressor16x8")]
BAYES_CASES = [(d, "GaussianNB") for d in ("iris", "wine", "breast_cancer")]
ACCURACY_CASES = LINEAR_CASES + NETWORK_CASES + BAYES_CASES


@functools.lru_cache(maxsize=None)
def split(dataset: str):
    """(X, y, X_train, X_test, y_train, y_test): the full data and a fixed 75/25 split."""
    X, y = DATASETS[dataset](return_X_y=True)
    return X, y, *train_test_split(X, y, test_size=0.25, random_state=0)


@functools.lru_cache(maxsize=None)
def fitted(dataset: str, model: str):
    """Linear models and MLPs: StandardScaler + the model, fitted on the training split; GaussianNB alone on the
    training split. Trees: the model alone, fitted on every row (issue 4's acceptance is about every row of the
    data the trees learned)."""
    X, y, X_train, X_test, y_train, y_test = split(dataset)
    if model in TREES:
        return TREES[model]().fit(X, y)
    if model in BAYES:
        return BAYES[model]().fit(X_train, y_train)
    with warnings.catch_warnings():
        # MLPRegressor16x8 stops at max_iter as test_mlp's does; the warning would land in the middle of a table
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(StandardScaler(), SCALED[model]()).fit(X_train, y_train)


def is_regressor(model: str) -> bool:
    return model in ALL_REGRESSORS


def check_bench_model(dataset: str, model: str) -> None:
    if model not in MODELS:
        raise TinygenError(f"unknown bench model {model!r}; choose one of {', '.join(MODELS)}")
    if (dataset == "diabetes") != is_regressor(model):
        raise TinygenError(f"{model} does not fit data set {dataset}: regressors go with diabetes, classifiers with the others")


def default_cost_dtypes(model: str) -> tuple[str, ...]:
    if model in TREES:
        return ("exact",)
    return MLP_DTYPES if model in MLPS else LINEAR_COST_DTYPES


def model_dtypes(model: str) -> tuple[str, ...]:
    """Every dtype a (non-tree) bench model exports with."""
    if model in MLPS:
        return MLP_DTYPES
    return GAUSSIAN_DTYPES if model in BAYES else ACCURACY_DTYPES


def accuracy_rows():
    """One row per (data set, model): the float metric and each of its dtypes' simulator metric on held-out rows."""
    for dataset, model in ACCURACY_CASES:
        X, y, X_train, X_test, y_train, y_test = split(dataset)
        estimator = fitted(dataset, model)
        task = "regression" if is_regressor(model) else "classification"
        name, float_metric = metric(task, y_test, estimator.predict(X_test))
        fixed = {dtype: metric(task, y_test, convert(estimator, dtype=dtype, calibration=X_train).predict(X_test))[1]
                 for dtype in model_dtypes(model)}
        yield dataset, model, name, float_metric, fixed


def print_accuracy_table(echo=print) -> None:
    echo(f"{'data set':<14}{'model':<20}{'metric':<10}{'float':>8}" + "".join(f"{d:>9}" for d in ACCURACY_DTYPES)
         + "   (held-out 25 %, fixed seed; dtype columns: simulator metric - float)")
    for dataset, model, name, float_metric, fixed in list(progress(accuracy_rows(), "training", len(ACCURACY_CASES))):
        echo(f"{dataset:<14}{model:<20}{name:<10}{float_metric:>8.4f}"
             + "".join(f"{fixed[d] - float_metric:>+9.4f}" if d in fixed else f"{'-':>9}" for d in ACCURACY_DTYPES))


def input_kind(program, bins_asked: str = "auto") -> str:
    """What the C's decisions compare: a tree's raw float32 bits, order keys, threshold bins or quantized x_q;
    a linear model's x_q (q-dtypes) or floats. "(auto)" marks an exact tree's automatic bins choice."""
    compared = program.ops[-1].decision_input()
    if compared is None:
        return "float" if program.dtype == "float32" else "x_q"
    if compared == "x_q":
        return compared
    return f"{compared} (auto)" if bins_asked == "auto" else compared


def layout_shown(program, asked: str) -> str:
    """A tree's layout, "(auto)" where convert() chose it; "-" for linear models."""
    layout = program.ops[-1].layout_name()
    if layout is None:
        return "-"
    return f"{layout} (auto)" if asked == "auto" else layout


def cost_rows(dataset: str, model: str, targets, dtypes=(), layouts=("auto",), bins=("auto",), rows: int | None = None):
    """One dict per target x dtype x layout x bins (BINS_CHOICES name): compare_on_target's result plus the
    variant, what its C compares (`input`) and `agree`, the rows where the simulator's predict agrees with
    scikit-learn's (verify.agreement; C == simulator where `mismatches` is 0). All rows, or the first `rows`.
    Every variant is converted here, so a bad combination raises before anything is built; the targets run as
    the returned iterator is consumed."""
    from .verify import agreement, compare_on_target

    check_bench_model(dataset, model)
    estimator = fitted(dataset, model)
    X, y, X_train, *_ = split(dataset)
    X_run = X if rows is None else X[:rows]
    reference = estimator.predict(X_run)
    variants = []
    for dtype in dtypes or default_cost_dtypes(model):
        for layout in layouts:
            for bins_name in bins:
                converted = convert(estimator, dtype=dtype, calibration=X if model in TREES else X_train,
                                    layout=layout, bins=BINS_CHOICES[bins_name])
                agreed = agreement(converted.program.task, converted.predict(X_run), reference)
                variants.append((converted, {"dtype": converted.dtype, "layout": layout_shown(converted.program, layout),
                                             "input": input_kind(converted.program, bins_name),
                                             "agree": f"{round(agreed * len(X_run))}/{len(X_run)}"}))
    return ({"target": target, **variant, **compare_on_target(converted, target, X_run, "bench")}
            for target in targets for converted, variant in variants)


# (header, width) of the cost table's columns, negative widths aligned left; "unit" follows them. cost_columns()
# keeps the layout for trees only and the per-MAC cost and speed-up for MLPs only.
COST_COLUMNS = (("target", -16), ("dtype", -8), ("layout", -15), ("input", -12), ("rows", 6), ("mismatch", 9),
                ("agree", 10), ("flash B", 9), ("RAM B", 7), ("stack B", 8), ("mean", 10), ("min", 9), ("max", 9),
                ("per MAC", 9), ("vs float32", 12))


def cost_columns(model: str) -> list[tuple[str, int]]:
    left_out = ({"layout"} if model not in TREES else set()) | ({"per MAC", "vs float32"} if model not in MLPS else set())
    return [column for column in COST_COLUMNS if column[0] not in left_out]


def format_cost_line(columns, cells: dict, unit: str) -> str:
    """One line of a cost table: each (name, width) column's cell, negative widths aligned left, then the unit."""
    return "".join(f"{cells[name]:<{-width}}" if width < 0 else f"{cells[name]:>{width}}"
                   for name, width in columns) + f"  {unit}"


def shown(value, fmt="{:.0f}") -> str:
    """A measured figure as the tables print it: "-" where a target cannot measure it."""
    return "-" if value is None else fmt.format(value)


def network_size(estimator) -> tuple[list[int], int]:
    """A fitted MLP's (pipeline's) layer widths, inputs first, and its multiply-accumulates per inference."""
    weights = estimator[-1].coefs_
    return [weights[0].shape[0], *(w.shape[1] for w in weights)], sum(w.size for w in weights)


def print_cost_table(dataset: str, model: str, targets, dtypes=(), layouts=("auto",), bins=("auto",),
                     rows: int | None = None, echo=print) -> None:
    measured = cost_rows(dataset, model, targets, dtypes, layouts, bins, rows)
    firmware_note = "flash/RAM: what the model adds to the firmware"
    macs = None
    if model in TREES:
        echo(f"{model} on {dataset}, fitted on all {len(split(dataset)[0])} rows; {firmware_note}")
    elif model in MLPS:
        widths, macs = network_size(fitted(dataset, model))
        echo(f"{model} on {dataset} (StandardScaler folded in), {'-'.join(map(str, widths))} relu: {macs} MACs per "
             f"inference; {firmware_note}")
    elif model in BAYES:
        echo(f"{model} on {dataset}; {firmware_note}")
    else:
        echo(f"{model} on {dataset} (StandardScaler folded in); {firmware_note}")
    task_note = "within 1 % of the float predictions' range" if is_regressor(model) else "same class"
    echo(f"mismatch: C vs simulator; agree: simulator predict vs scikit-learn's ({task_note})")
    if macs:
        echo("per MAC: mean / MACs (in the row's unit); vs float32: float32's mean / the row's, on the same target")
    columns = cost_columns(model)

    def ratio(numerator, denominator):  # None (shown "-") where a target measures no cycles
        return None if numerator is None or not denominator else numerator / denominator

    n_runs = len(targets) * len(dtypes or default_cost_dtypes(model)) * len(layouts) * len(bins)
    measured = list(progress(measured, "measuring", n_runs, describe=lambda r: f"{r['dtype']} on {r['target']}"))
    echo(format_cost_line(columns, {name: name for name, _ in columns}, "unit"))
    # a target's rows are printed once all of them are measured: the speed-up needs its float32 row
    for _, target_rows in itertools.groupby(measured, key=lambda r: r["target"]):
        target_rows = list(target_rows)
        float32_mean = next((r["cycles_per_inference"] for r in target_rows if r["dtype"] == "float32"), None)
        for r in target_rows:
            mean = r["cycles_per_inference"]
            echo(format_cost_line(columns, {
                **r, "mismatch": r["mismatches"], "flash B": shown(r["flash_bytes"]), "RAM B": shown(r["ram_bytes"]),
                "stack B": shown(r["stack_bytes"]), "mean": shown(mean, "{:.1f}"),
                "min": shown(r.get("cycles_min", r.get("instructions_min"))),
                "max": shown(r.get("cycles_max", r.get("instructions_max"))),
                "per MAC": shown(ratio(mean, macs), "{:.1f}"),
                "vs float32": shown(ratio(float32_mean, mean), "{:.1f}x")}, r.get("cycles_unit") or "-"))
