"""Saving and loading models: .skops round trips, refusal of untrusted types, the pickle opt-in."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import skops.io
from click.testing import CliRunner
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Perceptron,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import SVC, LinearSVC, LinearSVR
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

from tinygen import modelio
from tinygen.cli import main
from tinygen.modelio import SUPPORTED_TYPES, load_model, save_model

from conftest import error_of

CLASSIFIERS = [LogisticRegression(max_iter=2000), LinearSVC(), RidgeClassifier(), SGDClassifier(random_state=0),
               Perceptron()]
REGRESSORS = [LinearRegression(), Ridge(), Lasso(alpha=0.01), ElasticNet(alpha=0.01), SGDRegressor(random_state=0),
              LinearSVR(max_iter=20000)]
SCALERS = [StandardScaler(), MinMaxScaler(), MaxAbsScaler(), RobustScaler()]


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope="module")
def xy():
    X, y = load_iris(return_X_y=True)
    return X, y


def _fitted(estimator, xy, regression=False):
    X, y = xy
    target = X[:, 0] * 2.0 - X[:, 3] if regression else y
    return clone(estimator).fit(X[:, 1:] if regression else X, target), (X[:, 1:] if regression else X)


# ------------------------------------------------------------------------------------------------- types


def test_supported_types_names():
    expected = {
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.decomposition._pca.PCA",
        "sklearn.svm._classes.LinearSVC",
    }
    assert expected <= set(SUPPORTED_TYPES)
    short = {name.rsplit(".", 1)[1] for name in SUPPORTED_TYPES}
    assert short == {
        "LogisticRegression", "LinearSVC", "RidgeClassifier", "SGDClassifier", "Perceptron", "LinearRegression",
        "Ridge", "Lasso", "ElasticNet", "SGDRegressor", "LinearSVR", "Pipeline", "StandardScaler",
        "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "PCA", "DecisionTreeClassifier", "DecisionTreeRegressor",
        "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor", "Tree",
        "GradientBoostingClassifier", "GradientBoostingRegressor", "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor", "TreePredictor", "IsolationForest", "GaussianNB",
        "MLPClassifier", "MLPRegressor", "AdamOptimizer", "SGDOptimizer", "WindowFeatures",
    }
    assert len(SUPPORTED_TYPES) == len(set(SUPPORTED_TYPES))
    for cls in modelio.SUPPORTED_CLASSES:
        assert f"{cls.__module__}.{cls.__qualname__}" in SUPPORTED_TYPES


# ------------------------------------------------------------------------------------------------- skops


@pytest.mark.parametrize("estimator", CLASSIFIERS + REGRESSORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("scaler", SCALERS, ids=lambda s: type(s).__name__)
def test_skops_round_trip_in_pipeline(tmp_path, xy, estimator, scaler):
    regression = estimator in REGRESSORS
    pipeline = Pipeline([("scale", scaler), ("pca", PCA(n_components=2)), ("model", estimator)])
    model, X = _fitted(pipeline, xy, regression)
    path = tmp_path / "model.skops"
    save_model(model, path)
    assert leftovers(tmp_path) == ["model.skops"]
    assert set(skops.io.get_untrusted_types(file=path)) <= set(SUPPORTED_TYPES)
    loaded = load_model(path)
    assert isinstance(loaded, Pipeline)
    assert [type(step).__name__ for _, step in loaded.steps] == [type(step).__name__ for _, step in model.steps]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "decision_function"):
        np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))


def test_skops_round_trip_gaussian_nb(tmp_path, xy):
    from sklearn.naive_bayes import GaussianNB

    X, y = xy
    model = Pipeline([("scale", StandardScaler()), ("model", GaussianNB(var_smoothing=1e-8))]).fit(X, y)
    save_model(model, tmp_path / "gnb.skops")
    assert set(skops.io.get_untrusted_types(file=tmp_path / "gnb.skops")) <= set(SUPPORTED_TYPES)
    loaded = load_model(tmp_path / "gnb.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_skops_round_trip_bare_estimator_with_string_classes(tmp_path, xy):
    X, y = xy
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    model = LogisticRegression(max_iter=2000).fit(X, names)
    save_model(model, tmp_path / "m.SKOPS")  # suffixes are case-insensitive
    loaded = load_model(tmp_path / "m.SKOPS")
    assert list(loaded.classes_) == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_save_overwrites(tmp_path, xy):
    path = tmp_path / "m.skops"
    save_model(_fitted(Ridge(), xy, True)[0], path)
    save_model(_fitted(Lasso(), xy, True)[0], path)
    assert type(load_model(path)).__name__ == "Lasso"
    assert leftovers(tmp_path) == ["m.skops"]


KD_TREE = "sklearn.neighbors._kd_tree.KDTree"


def test_BUG_unsupported_estimator_in_skops_is_named_not_its_internals(tmp_path, xy):
    """Outside case (issue 13): "KNeighborsClassifier in .skops is refused by internal type names instead of
    'not supported'". The KD tree inside it is what skops distrusts; the user is told the model is not supported."""
    path = tmp_path / "knn.skops"
    skops.io.dump(KNeighborsClassifier(algorithm="kd_tree").fit(*xy), path)
    assert KD_TREE in modelio.untrusted_types(path)
    message = error_of(load_model, path)
    assert message.startswith("KNeighborsClassifier is not supported by tinygen; supported: ")
    assert "LogisticRegression" in message and "KDTree" not in message and "sklearn." not in message


def test_unsupported_estimator_inside_pipeline_is_named(tmp_path, xy):
    path = tmp_path / "p.skops"
    pipeline = Pipeline([("scale", StandardScaler()), ("model", KNeighborsClassifier(algorithm="kd_tree"))])
    skops.io.dump(pipeline.fit(*xy), path)
    assert error_of(load_model, path).startswith("KNeighborsClassifier is not supported by tinygen; supported: ")
    assert KD_TREE in modelio.untrusted_types(path)


@pytest.mark.parametrize("estimator", [KNeighborsClassifier(algorithm="kd_tree"), KNeighborsClassifier(algorithm="brute"),
                                       SVC()], ids=["knn-kd_tree", "knn-brute", "svc"])
def test_export_of_unsupported_skops_says_not_supported(tmp_path, xy, estimator):
    """Whether skops trusts the file (SVC, brute-force KNN: loaded, then refused by the frontend) or not (the
    KD tree), export says the same one line and writes nothing."""
    path = tmp_path / "m.skops"
    skops.io.dump(clone(estimator).fit(*xy), path)
    result = CliRunner().invoke(main, ["export", str(path), "--dtype", "float32", "-o", str(tmp_path / "out")])
    kind = type(estimator).__name__
    assert result.exit_code == 2 and result.output.startswith(f"error: {kind} is not supported by tinygen; supported: ")
    assert result.output.count("\n") == 1 and not (tmp_path / "out").exists()


def test_trees_load_with_their_node_arrays_trusted(tmp_path, xy):
    path = tmp_path / "forest.skops"
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(*xy)
    save_model(forest, path)
    assert (load_model(path).predict(xy[0]) == forest.predict(xy[0])).all()


class Payload:
    def __init__(self):
        self.command = "echo pwned"


def test_refuses_arbitrary_class(tmp_path):
    path = tmp_path / "evil.skops"
    skops.io.dump(Payload(), path)
    assert error_of(load_model, path).startswith("Payload is not supported by tinygen; supported: ")


def test_unsupported_but_skops_trusted_estimator_is_returned(tmp_path, xy):
    # Whether tinygen can convert it is the frontend's business, not the loader's.
    path = tmp_path / "svc.skops"
    save_model(SVC().fit(*xy), path)
    assert isinstance(load_model(path), SVC)


def test_not_a_zip(tmp_path):
    path = tmp_path / "junk.skops"
    path.write_bytes(b"this is not a model")
    message = error_of(load_model, path)
    assert "junk.skops" in message and "not a readable .skops" in message


def test_zip_without_schema(tmp_path):
    path = tmp_path / "empty.skops"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    message = error_of(load_model, path)
    assert "not a readable .skops" in message


def test_truncated_skops(tmp_path, xy):
    path = tmp_path / "cut.skops"
    save_model(_fitted(LogisticRegression(max_iter=2000), xy)[0], path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = error_of(load_model, path)
    assert "cut.skops" in message


def test_missing_model_file(tmp_path):
    message = error_of(load_model, tmp_path / "nope.skops")
    assert "nope.skops" in message and "does not exist" in message


def test_model_path_is_directory(tmp_path):
    (tmp_path / "dir.skops").mkdir()
    message = error_of(load_model, tmp_path / "dir.skops")
    assert "directory" in message


@pytest.mark.parametrize("name", ["model.onnx", "model", "model.skops.bak"])
def test_unknown_suffix(tmp_path, xy, name):
    (tmp_path / name).write_bytes(b"x")
    for message in (error_of(load_model, tmp_path / name), error_of(save_model, Ridge(), tmp_path / "out" / name)):
        assert name in message and ".skops" in message and ".joblib" in message and ".pkl" in message


# ------------------------------------------------------------------------------------------------- pickle


@pytest.mark.parametrize("suffix", [".joblib", ".pkl"])
def test_pickle_needs_opt_in(tmp_path, xy, suffix):
    model, X = _fitted(LogisticRegression(max_iter=2000), xy)
    path = tmp_path / f"model{suffix}"

    message = error_of(save_model, model, path)
    assert ".skops" in message and "--allow-pickle" in message
    assert leftovers(tmp_path) == []

    save_model(model, path, allow_pickle=True)
    message = error_of(load_model, path)
    assert message == (
        f"{str(path)!r} is a pickle, which runs code when loaded; pass --allow-pickle if you trust it, "
        "or save the model as .skops"
    )
    loaded = load_model(path, allow_pickle=True)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_plain_pickle_file_loads(tmp_path, xy):
    model, X = _fitted(Ridge(), xy, True)
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(model))
    np.testing.assert_array_equal(load_model(path, allow_pickle=True).predict(X), model.predict(X))


def test_corrupt_pickle(tmp_path):
    path = tmp_path / "bad.joblib"
    path.write_bytes(b"\x80\x04garbage")
    message = error_of(load_model, path, allow_pickle=True)
    assert "cannot load pickle" in message and "bad.joblib" in message


# ------------------------------------------------------------------------------------------------- failed writes


def test_save_into_missing_directory_leaves_nothing(tmp_path, xy):
    model = _fitted(Ridge(), xy, True)[0]
    message = error_of(save_model, model, tmp_path / "missing" / "m.skops")
    assert "cannot write" in message and "m.skops" in message
    assert leftovers(tmp_path) == []


def test_failed_skops_dump_leaves_nothing_and_keeps_old_file(tmp_path, xy, monkeypatch):
    path = tmp_path / "m.skops"
    save_model(_fitted(Ridge(), xy, True)[0], path)
    before = path.read_bytes()

    def broken_dumps(obj, **kwargs):
        raise TypeError("cannot serialize this object")

    monkeypatch.setattr(skops.io, "dumps", broken_dumps)
    message = error_of(save_model, Lasso(), path)
    assert "cannot save model" in message and "m.skops" in message
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == ["m.skops"]

    message = error_of(save_model, Lasso(), tmp_path / "new.skops")
    assert leftovers(tmp_path) == ["m.skops"]


def test_same_model_same_skops_bytes(tmp_path):
    """skops names objects by id() and dates the zip; tinygen renumbers and fixes both."""
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = (X[:, 0] > 20).astype(int)
    for run in ("a", "b"):
        model = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
        save_model(model, tmp_path / f"{run}.skops")
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    loaded = load_model(tmp_path / "a.skops")
    assert (loaded.predict(X) == model.predict(X)).all()


def test_failed_pickle_dump_leaves_nothing(tmp_path):
    unpicklable = Ridge()
    unpicklable.callback = lambda: None  # lambdas cannot be pickled
    message = error_of(save_model, unpicklable, tmp_path / "m.pkl", allow_pickle=True)
    assert "cannot save model" in message and "m.pkl" in message
    assert leftovers(tmp_path) == []
