"""Model kinds, task detection, scalers, parameters, and the errors of fit()."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from tinygen.data import Dataset, load_bundled
from tinygen.train import KINDS, TREE_KINDS, UNSUPERVISED_KINDS, detect_task, fit, make_estimator, parse_params

from conftest import error_of

TREES = ["tree", "forest", "extra-trees", "gbt", "hist-gbt"]
CLASSIFIER_KINDS = ["logreg", "linear-svm", "ridge", "sgd", "perceptron", *TREES, "gnb", "mlp"]
REGRESSOR_KINDS = ["linear-svm", "ridge", "sgd", "linear", "lasso", "elastic-net", *TREES, "mlp"]

EXPECTED_CLASSES = {
    ("logreg", "classification"): "LogisticRegression",
    ("linear-svm", "classification"): "LinearSVC",
    ("ridge", "classification"): "RidgeClassifier",
    ("sgd", "classification"): "SGDClassifier",
    ("perceptron", "classification"): "Perceptron",
    ("linear-svm", "regression"): "LinearSVR",
    ("ridge", "regression"): "Ridge",
    ("sgd", "regression"): "SGDRegressor",
    ("linear", "regression"): "LinearRegression",
    ("lasso", "regression"): "Lasso",
    ("elastic-net", "regression"): "ElasticNet",
    ("tree", "classification"): "DecisionTreeClassifier",
    ("tree", "regression"): "DecisionTreeRegressor",
    ("forest", "classification"): "RandomForestClassifier",
    ("forest", "regression"): "RandomForestRegressor",
    ("extra-trees", "classification"): "ExtraTreesClassifier",
    ("extra-trees", "regression"): "ExtraTreesRegressor",
    ("gbt", "classification"): "GradientBoostingClassifier",
    ("gbt", "regression"): "GradientBoostingRegressor",
    ("hist-gbt", "classification"): "HistGradientBoostingClassifier",
    ("hist-gbt", "regression"): "HistGradientBoostingRegressor",
    ("gnb", "classification"): "GaussianNB",
    ("mlp", "classification"): "MLPClassifier",
    ("mlp", "regression"): "MLPRegressor",
}


@pytest.fixture(scope="module")
def iris():
    return load_bundled("iris")


@pytest.fixture(scope="module")
def diabetes():
    return load_bundled("diabetes")


def test_kinds():
    assert KINDS[:8] == ("logreg", "linear-svm", "ridge", "sgd", "perceptron", "linear", "lasso", "elastic-net")
    assert KINDS[8:] == ("tree", "forest", "extra-trees", "gbt", "hist-gbt", "gnb", "isolation-forest", "mlp")
    assert sorted(CLASSIFIER_KINDS + REGRESSOR_KINDS) == sorted(k for k, _ in EXPECTED_CLASSES)
    assert set(CLASSIFIER_KINDS) | set(REGRESSOR_KINDS) | set(UNSUPERVISED_KINDS) == set(KINDS)


def test_isolation_forest_fits_features_alone(iris):
    """Unsupervised: the labels are not used (same model with or without them), the MCU preset and the seed
    apply, max_samples above the row count becomes the row count, and --task makes no sense."""
    from sklearn.ensemble import IsolationForest

    model = fit(iris, "isolation-forest", seed=3)
    assert isinstance(model, IsolationForest)
    assert model.n_estimators == 25 and model.max_samples == 64 and model.random_state == 3
    unlabeled = Dataset(X=iris.X, y=None, feature_names=iris.feature_names, label_name=None)
    assert (fit(unlabeled, "isolation-forest", seed=3).score_samples(iris.X) == model.score_samples(iris.X)).all()
    few = Dataset(X=iris.X[:10], y=None, feature_names=iris.feature_names, label_name=None)
    assert fit(few, "isolation-forest").max_samples == 10
    assert fit(iris, "isolation-forest", params={"n_estimators": 7}).n_estimators == 7
    assert "unsupervised" in error_of(fit, iris, "isolation-forest", task="classification")
    assert "scaler" in error_of(fit, iris, "isolation-forest", scaler="standard")


# ------------------------------------------------------------------------------------------------- task


@pytest.mark.parametrize(
    "y,task",
    [
        (np.array(["a", "b", "a"], dtype=object), "classification"),
        (np.array(["a", "b"]), "classification"),
        (np.array([True, False]), "classification"),
        (np.array([0, 1, 2, 1], dtype=np.int64), "classification"),
        (np.arange(50, dtype=np.int64), "classification"),
        (np.arange(51, dtype=np.int64), "regression"),
        (np.array([1.0, 2.0, 3.0]), "classification"),
        (np.array([1.0, 2.5, 3.0]), "regression"),
        (np.linspace(0, 1, 10), "regression"),
    ],
)
def test_detect_task(y, task):
    assert detect_task(y) == task


# ------------------------------------------------------------------------------------------------- kinds


@pytest.mark.parametrize("kind", CLASSIFIER_KINDS)
def test_every_classifier_kind_fits_iris(iris, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = fit(iris, kind)
    assert isinstance(model, Pipeline) != (kind in TREE_KINDS)  # trees train without a scaler
    estimator = model.named_steps["model"] if isinstance(model, Pipeline) else model
    assert type(estimator).__name__ == EXPECTED_CLASSES[(kind, "classification")]
    assert is_classifier(estimator)
    assert accuracy_score(iris.y, model.predict(iris.X)) > 0.8
    assert not hasattr(model, "feature_names_in_")


@pytest.mark.parametrize("kind", REGRESSOR_KINDS)
def test_every_regressor_kind_fits_diabetes(diabetes, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = fit(diabetes, kind)
    estimator = model.named_steps["model"] if isinstance(model, Pipeline) else model
    assert type(estimator).__name__ == EXPECTED_CLASSES[(kind, "regression")]
    assert is_regressor(estimator)
    assert r2_score(diabetes.y, model.predict(diabetes.X)) > 0.3
    assert not hasattr(model, "feature_names_in_")


def test_trees_refuse_a_scaler(iris):
    message = error_of(fit, iris, "forest", scaler="standard")
    assert "raw features" in message and "--scaler standard" in message


@pytest.mark.parametrize("kind", ["linear-svm", "ridge", "sgd"])
def test_task_override(iris, kind):
    model = fit(iris, kind, task="regression")
    assert is_regressor(model.named_steps["model"])


@pytest.mark.parametrize(
    "kind,data,hint",
    [
        ("logreg", "diabetes", "'linear'"),
        ("perceptron", "diabetes", "'ridge'"),
        ("linear", "iris", "'logreg'"),
        ("lasso", "iris", "'logreg'"),
        ("elastic-net", "iris", "'logreg'"),
        ("gnb", "diabetes", "'linear'"),
    ],
)
def test_kind_task_mismatch(iris, diabetes, kind, data, hint):
    dataset = {"iris": iris, "diabetes": diabetes}[data]
    message = error_of(fit, dataset, kind)
    assert f"'{kind}'" in message and hint in message
    assert "target" in message  # says why the task was chosen


def test_mismatch_with_explicit_task(iris):
    message = error_of(fit, iris, "logreg", task="regression")
    assert "regression" in message and "'linear'" in message


def test_unknown_kind(iris):
    message = error_of(fit, iris, "svm-rbf")
    assert "'svm-rbf'" in message and "unknown model kind" in message
    for available in KINDS:
        assert available in message


def test_string_labels(iris):
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    dataset = Dataset(X=iris.X, y=names[iris.y], feature_names=iris.feature_names, label_name="species")
    model = fit(dataset, "logreg")
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    message = error_of(fit, dataset, "ridge", task="regression")
    assert "'species'" in message and "text" in message


# ------------------------------------------------------------------------------------------------- scalers


@pytest.mark.parametrize(
    "scaler,cls",
    [("standard", StandardScaler), ("minmax", MinMaxScaler), ("maxabs", MaxAbsScaler), ("robust", RobustScaler)],
)
@pytest.mark.parametrize("kind", ["logreg", "linear"])
def test_scalers(iris, diabetes, scaler, cls, kind):
    dataset = iris if kind == "logreg" else diabetes
    model = fit(dataset, kind, scaler=scaler)
    assert isinstance(model, Pipeline)
    assert [name for name, _ in model.steps] == ["scale", "model"]
    assert type(model.named_steps["scale"]) is cls
    model.predict(dataset.X)


def test_no_scaler(iris):
    model = fit(iris, "logreg", scaler="none")
    assert type(model).__name__ == "LogisticRegression"
    assert not isinstance(model, Pipeline)


def test_unknown_scaler(iris):
    message = error_of(fit, iris, "logreg", scaler="zscore")
    assert "'zscore'" in message and "standard" in message and "none" in message


def test_unknown_task(iris):
    message = error_of(fit, iris, "logreg", task="clustering")
    assert "'clustering'" in message and "classification" in message


# ------------------------------------------------------------------------------------------------- seeds


def test_seed_is_random_state(iris):
    assert fit(iris, "sgd", seed=7).named_steps["model"].random_state == 7
    a = fit(iris, "sgd", seed=3).named_steps["model"].coef_
    b = fit(iris, "sgd", seed=3).named_steps["model"].coef_
    c = fit(iris, "sgd", seed=4).named_steps["model"].coef_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_linear_regression_has_no_random_state():
    assert "random_state" not in make_estimator("linear", "regression", seed=5).get_params()


# ------------------------------------------------------------------------------------------------- params


def test_parse_params_types():
    params = parse_params(
        ["C=0.5", "max_iter=200", "fit_intercept=false", "shuffle=True", "class_weight=none",
         "solver=saga", "alpha=1e-3", "tol=-2", "name=a=b"]
    )
    assert params == {
        "C": 0.5, "max_iter": 200, "fit_intercept": False, "shuffle": True, "class_weight": None,
        "solver": "saga", "alpha": 1e-3, "tol": -2, "name": "a=b",
    }
    assert type(params["max_iter"]) is int and type(params["C"]) is float
    assert parse_params([]) == {} and parse_params(None) == {}


@pytest.mark.parametrize("item", ["C", "=1", "C=", "C= ", "max iter=3", "1x=2"])
def test_parse_params_malformed(item):
    message = error_of(parse_params, [item])
    assert "malformed parameter" in message and repr(item) in message and "KEY=VALUE" in message


def test_parse_params_duplicate():
    message = error_of(parse_params, ["C=1", "C=2"])
    assert "'C'" in message and "more than once" in message


def test_params_applied_and_override_defaults(iris):
    model = fit(iris, "logreg", params=parse_params(["C=0.25", "max_iter=300"]))
    estimator = model.named_steps["model"]
    assert estimator.C == 0.25 and estimator.max_iter == 300
    assert fit(iris, "sgd", params={"random_state": 11}, seed=1).named_steps["model"].random_state == 11


def test_unknown_param_lists_valid_ones(iris):
    message = error_of(fit, iris, "logreg", params={"gamma": 1})
    assert "'gamma'" in message and "'logreg'" in message
    assert "C" in message and "max_iter" in message and "solver" in message


def test_invalid_param_value(iris):
    message = error_of(fit, iris, "logreg", params={"C": -1.0})
    assert "invalid parameter" in message and "'C'" in message and "LogisticRegression" in message


def test_invalid_param_type(diabetes):
    message = error_of(fit, diabetes, "ridge", params={"alpha": "lots"})
    assert "alpha" in message


def test_incompatible_params_fail_at_fit(iris):
    # Accepted one by one, rejected together by LinearSVC.fit (no dual formulation of l1 + hinge).
    message = error_of(fit, iris, "linear-svm", params={"penalty": "l1", "loss": "hinge", "dual": True})
    assert "cannot fit model 'linear-svm'" in message


# ------------------------------------------------------------------------------------------------- data errors


def test_no_labels(iris):
    dataset = Dataset(X=iris.X, y=None, feature_names=iris.feature_names, label_name=None)
    message = error_of(fit, dataset, "logreg")
    assert "no label column" in message and "--label" in message


def test_single_class():
    dataset = Dataset(X=np.arange(10.0).reshape(5, 2), y=np.array([3, 3, 3, 3, 3]), feature_names=["a", "b"],
                      label_name="y")
    message = error_of(fit, dataset, "logreg")
    assert "label column 'y' has a single value" in message and "3" in message


def test_single_class_strings():
    dataset = Dataset(X=np.arange(4.0).reshape(2, 2), y=np.array(["ok", "ok"], dtype=object),
                      feature_names=["a", "b"], label_name="status")
    message = error_of(fit, dataset, "sgd")
    assert "'status'" in message and "'ok'" in message


def test_too_few_rows():
    dataset = Dataset(X=np.array([[1.0, 2.0]]), y=np.array([1.5]), feature_names=["a", "b"], label_name="y")
    message = error_of(fit, dataset, "linear")
    assert "at least 2 rows" in message


def test_nan_features_rejected(iris):
    X = iris.X.copy()
    X[4, 2] = np.nan
    X[9, 0] = np.inf
    dataset = Dataset(X=X, y=iris.y, feature_names=iris.feature_names, label_name="target")
    message = error_of(fit, dataset, "logreg")
    assert "NaN" in message and repr(iris.feature_names[2]) in message and "data row 5" in message
    assert "2 rows" in message and "remove or impute" in message


def test_label_count_mismatch(iris):
    dataset = Dataset(X=iris.X, y=iris.y[:-1], feature_names=iris.feature_names, label_name="target")
    error_of(fit, dataset, "logreg")


def test_fractional_labels_forced_classification(diabetes):
    y = diabetes.y + 0.5
    dataset = Dataset(X=diabetes.X, y=y, feature_names=diabetes.feature_names, label_name="target")
    message = error_of(fit, dataset, "logreg", task="classification")
    assert "'target'" in message and "fractional" in message


def test_many_integer_values_is_regression(diabetes):
    # diabetes targets are whole numbers but have > 50 distinct values: regression.
    assert detect_task(diabetes.y) == "regression"
    message = error_of(fit, diabetes, "logreg")
    assert "distinct values" in message


# ------------------------------------------------------------------------------------------------ issue 13


def test_missing_values_only_for_the_nan_routing_tree_kinds():
    """NaN passes fit() for the kinds whose scikit-learn estimators take it (and tinygen routes it the same way);
    inf never does; the others refuse NaN with the column and row."""
    from tinygen.train import handles_missing

    assert {k for k in KINDS if handles_missing(k)} == {"tree", "forest", "extra-trees", "hist-gbt", "isolation-forest"}
    iris = load_bundled("iris")
    X = iris.X.copy()
    X[::7, 2] = np.nan
    holes = Dataset(X, iris.y, iris.feature_names, "target")
    assert fit(holes, "hist-gbt").predict(X).shape == (150,)
    message = error_of(fit, holes, "gbt")
    assert "petal length (cm)" in message and "data row 1" in message
    X[3, 0] = np.inf
    assert "infinite" in error_of(fit, Dataset(X, iris.y, iris.feature_names, "target"), "tree")


def test_holdout_and_name_features():
    """holdout() scores a copy fitted on a stratified split (classifiers) or a plain one (regressors);
    name_features() records the names as scikit-learn does for a DataFrame."""
    from tinygen.train import holdout, name_features

    iris = load_bundled("iris")
    result = holdout(iris, "tree", test_size=0.2)
    assert result.stratified and result.test_rows == 30 and result.train_rows == 120
    assert result.confusion.sum() == 30 and result.confusion.sum(axis=1).tolist() == [10, 10, 10]
    assert result.value == np.trace(result.confusion) / 30
    diabetes = load_bundled("diabetes")
    result = holdout(diabetes, "ridge", test_size=0.25)
    assert result.metric_name == "R^2" and result.confusion is None and 0.2 < result.value < 0.8
    assert "cannot split" in holdout(iris, "tree", test_size=0.999).skipped
    model = fit(iris, "logreg")
    name_features(model, iris.feature_names)
    assert list(model.feature_names_in_) == iris.feature_names
    assert "3 feature names" in error_of(name_features, model, iris.feature_names[:3])
