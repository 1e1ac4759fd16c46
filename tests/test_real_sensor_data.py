"""Issue 14's acceptance on real sensor data: per-window features (mean, standard deviation, min, max, RMS,
mean-crossing count, FFT band powers) of two real multichannel recordings that the aeon package bundles, vendored
in tests/data (made by tests/data/make_sensor_features.py; see its docstring for the sources and licences).

5-fold cross-validated accuracy of the exported program (each fold converted with its training rows as
calibration, the simulator scoring the held-out rows) against the float model's: logistic regression and an MLP
behind a scaler and GaussianNB within 0.01 in q15 and q7 (one BasicMotions row is 0.0125: none may be lost there),
and linear models on the raw, unscaled features within 0.01 (q15) / 0.02 (q7). C == simulator on every row for the
raw q7 models, which take offsets and per-input weight formats."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen.verify import compare_on_target

from conftest import need_tool

DATA = Path(__file__).parent / "data"
SETS = ("basicmotions", "japanesevowels")
MODELS = {
    "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
    "mlp": lambda: make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=2000, random_state=0)),
    "gnb": GaussianNB,
    "logreg-raw": lambda: LogisticRegression(max_iter=5000),
    "sgd-raw": lambda: SGDClassifier(random_state=0),
}
TOLERANCE = {"q15": 0.01, "q7": 0.01}
RAW_TOLERANCE = {"q15": 0.01, "q7": 0.02}


def load(name: str):
    """(feature names, X float64 holding float32 values, y labels) of tests/data/NAME_features.csv.gz."""
    with gzip.open(DATA / f"{name}_features.csv.gz", "rt", encoding="utf-8") as f:
        names = f.readline().strip().split(",")[:-1]
        rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
    X = np.array([[float(v) for v in row[:-1]] for row in rows], dtype=np.float32).astype(np.float64)
    return names, X, np.array([row[-1] for row in rows])


def test_vendored_data_is_what_the_note_says():
    """80 BasicMotions recordings (6 channels x 10 features, 4 activities) and 640 JapaneseVowels recordings (12
    channels x 6 features, 9 speakers); every value finite."""
    for name, shape, classes in (("basicmotions", (80, 60), 4), ("japanesevowels", (640, 72), 9)):
        names, X, y = load(name)
        assert X.shape == shape and len(names) == shape[1] and len(set(y)) == classes
        assert np.isfinite(X).all()


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("name", SETS)
def test_cross_validated_accuracy_within_tolerance(name, kind):
    _, X, y = load(name)
    tolerance = RAW_TOLERANCE if kind.endswith("-raw") else TOLERANCE
    hits = {"float": 0, "q15": 0, "q7": 0}
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        estimator = MODELS[kind]().fit(X[train], y[train])
        hits["float"] += int((estimator.predict(X[test]) == y[test]).sum())
        for dtype in ("q15", "q7"):
            model = tinygen.convert(estimator, dtype=dtype, calibration=X[train])
            hits[dtype] += int((model.predict(X[test]) == y[test]).sum())
    accuracy = {key: value / len(y) for key, value in hits.items()}
    for dtype in ("q15", "q7"):
        assert accuracy[dtype] >= accuracy["float"] - tolerance[dtype] - 1e-12, (dtype, accuracy)


@pytest.mark.parametrize("name", SETS)
def test_raw_q7_c_equals_simulator(name):
    """LogisticRegression on the raw features in q7 (per-input weight formats): C == simulator on every row on host
    and on the ATmega328P."""
    need_tool("gcc")
    need_tool("avr-gcc")
    _, X, y = load(name)
    model = tinygen.convert(LogisticRegression(max_iter=5000).fit(X, y), dtype="q7", calibration=X)
    assert model.program.ops[1].col_shifts is not None
    for target in ("host", "avr"):
        result = compare_on_target(model, target, X, "m")
        assert (result["rows"], result["mismatches"]) == (len(X), 0), (target, result)
