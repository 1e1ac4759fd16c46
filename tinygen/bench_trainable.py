"""`tinygen bench --trainable`: on-device learning (issue 17), numbers printed, never asserted in tests.

- Without --target, adaptation: a linear model, or an MLP's last layer (its hidden layers frozen), trained on one part
  of a real sensor data set, moved to a shifted sensor, adapts with one pass of integer partial_fit over part of the
  shifted data; accuracy on the rest before and after, beside the float reference on the same stream from the same
  start (sgd_reference.py: scikit-learn's SGD; numpy's SGD on the MLP's last layer). The data: BasicMotions
  (tinygen/sensor_data), 32-sample windows every 16 samples, mean, std, min, max and rms per channel (float features:
  the trainable program reads features); the model learns on the archive's TRAIN recordings; the shift is the watch
  worn differently: both sensors' axes rotated (30 degrees about z, then 15 about x) and the accelerometer offset by
  (0.5, -0.3, 0.2); the TEST recordings so shifted are split by recording: even case numbers are the update stream,
  odd ones are held out.
- With --target, the cost of one partial_fit step of a 30-feature binary q15 model (breast_cancer, StandardScaler
  and the model, fitted on the first 300 rows; 200 update rows): AVR exact cycles per step, the state and the
  step's stack; QEMU instructions per step; and the C == simulator checks of verify --trainable."""
from __future__ import annotations

import functools

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Perceptron, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from .api import convert
from .bench import format_cost_line, shown
from .features import WindowFeatures
from .progress import progress
from .sensor_data import BASICMOTIONS
from .verify import metric
from .verify_trainable import verify_trainable
from .windows import load_windows

MODELS = {
    "SGDClassifier(log_loss)": lambda: SGDClassifier(loss="log_loss", random_state=0),
    "SGDClassifier(hinge)": lambda: SGDClassifier(loss="hinge", random_state=0),
    "LogisticRegression": lambda: LogisticRegression(max_iter=5000),
    "LinearSVC": lambda: LinearSVC(random_state=0),
    "Perceptron": lambda: Perceptron(random_state=0),
    "MLPClassifier(16, relu)": lambda: MLPClassifier((16,), max_iter=2000, random_state=0),
    "MLPClassifier(16, tanh)": lambda: MLPClassifier((16,), activation="tanh", max_iter=2000, random_state=0),
}
COST_MODELS = ("SGDClassifier(log_loss)", "SGDClassifier(hinge)")
ADAPT_RATES = ("2^-3", "2^-5", "2^-7")
WINDOW, HOP, FEATURES = 32, 16, "mean,std,min,max,rms"
ROTATION_DEGREES = (30.0, 15.0)  # about z, then about x
ACC_OFFSET = np.array([0.5, -0.3, 0.2])
COLUMNS = (("target", -11), ("model", -25), ("updates", 8), ("weights", 8), ("mismatch", 9), ("state B", 8),
           ("stack B", 8), ("step mean", 10), ("min", 8), ("max", 8), ("predict", 9))


def rotation(z_degrees: float, x_degrees: float) -> np.ndarray:
    a, b = np.radians(z_degrees), np.radians(x_degrees)
    about_z = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    about_x = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    return about_x @ about_z


@functools.lru_cache(maxsize=None)
def adaptation_data():
    """(features, shifted features, labels, the three row masks: train, update stream, held out)."""
    data = BASICMOTIONS
    w = load_windows(data.path, label=data.label, group=data.group, time=data.time, window=WINDOW, hop=HOP,
                     channels=list(data.channels))
    frames = w.X.reshape(len(w.X), WINDOW, len(data.channels))
    turned = rotation(*ROTATION_DEGREES)
    shifted = frames.copy()
    shifted[:, :, 0:3] = frames[:, :, 0:3] @ turned.T + ACC_OFFSET  # acc_x..z
    shifted[:, :, 3:6] = frames[:, :, 3:6] @ turned.T  # gyro_x..z
    features = WindowFeatures(WINDOW, list(data.channels), FEATURES, hop=HOP).fit(w.X)
    train = np.array([g.startswith("train") for g in w.groups])
    case = np.array([int(g[-2:]) for g in w.groups])
    return (features.transform(w.X), features.transform(shifted.reshape(len(w.X), -1)), w.y,
            train, ~train & (case % 2 == 0), ~train & (case % 2 == 1))


def adaptation_row(model_name: str, rate: str) -> dict:
    F, F_shifted, y, train, stream, held = adaptation_data()
    estimator = make_pipeline(StandardScaler(), MODELS[model_name]()).fit(F[train], y[train])
    model = convert(estimator, dtype="q15", calibration=F[train], trainable=True, learning_rate=rate)
    report = verify_trainable(estimator, F_shifted[stream], y[stream], F_shifted[held], y[held], targets=(),
                              learning_rate=rate, calibration=F[train])
    return {"model": model_name, "rate": rate, "unshifted": metric("classification", y[held], model.predict(F[held]))[1],
            "float before": metric("classification", y[held], estimator.predict(F_shifted[held]))[1],
            "before": report["accuracy_before"], "after": report["accuracy_after"],
            "sklearn after": report["sklearn_accuracy_after"], "stream": int(stream.sum()), "held": int(held.sum())}


def print_adaptation(models=(), echo=print) -> None:
    echo(f"BasicMotions, {WINDOW}-sample windows every {HOP}, {FEATURES} per channel (float features); learned on the "
         "TRAIN recordings; the TEST ones shifted (axes rotated 30 deg about z and 15 about x, accelerometer offset "
         "0.5, -0.3, 0.2 g); one pass of partial_fit (q15, constant rate) over the even TEST recordings; accuracy on "
         "the odd ones")
    header = ("model", "rate", "unshifted", "float before", "before", "after", "sklearn after", "stream", "held")
    echo(f"{header[0]:<25}{header[1]:<6}" + "".join(f"{h:>14}" for h in header[2:]))
    cases = [(name, rate) for name in models or MODELS for rate in ADAPT_RATES]
    for row in progress((adaptation_row(*case) for case in cases), "adapting", len(cases)):
        echo(f"{row['model']:<25}{row['rate']:<6}" + "".join(f"{row[h]:>14.4f}" for h in header[2:7])
             + f"{row['stream']:>14}{row['held']:>14}")
    echo("unshifted: the q15 program on the held-out recordings as recorded; float before: the float model on the "
         "shifted ones; before / after: the q15 program (simulator = C) before and after the stream; sklearn after: "
         "the float reference from the same start on the same stream (scikit-learn's SGD; MLPs: numpy's SGD on the "
         "last layer, the hidden layers frozen)")


def cost_rows(targets, models=COST_MODELS):
    X, y = load_breast_cancer(return_X_y=True)
    for name in models:
        estimator = make_pipeline(StandardScaler(), MODELS[name]()).fit(X[:300], y[:300])
        report = verify_trainable(estimator, X[300:500], y[300:500], X[500:], y[500:], targets=targets,
                                  calibration=X[:300])
        for target, result in report["targets"].items():
            yield {"target": target, "model": name, "updates": report["updates"], **result}


def print_trainable_cost(targets, models=(), echo=print) -> None:
    echo("breast_cancer, 30 features, binary, q15 (StandardScaler + the model fitted on 300 rows), constant rate 2^-7; "
         "200 partial_fit steps, then 69 rows predicted")
    echo("step: one NAME_partial_fit (AVR: exact cycles; QEMU: instructions); state: NAME_train_t; stack: the step's; "
         "predict: NAME_predict after the stream; weights, mismatch: C vs simulator")
    echo(format_cost_line(COLUMNS, {name: name for name, _ in COLUMNS}, "unit"))
    n_runs = len(targets) * len(models or COST_MODELS)
    for r in progress(cost_rows(targets, models or COST_MODELS), "measuring", n_runs):
        step = r.get("cycles_partial_fit", r.get("instructions_partial_fit"))
        low = r.get("cycles_partial_fit_min", r.get("instructions_partial_fit_min"))
        high = r.get("cycles_partial_fit_max", r.get("instructions_partial_fit_max"))
        echo(format_cost_line(COLUMNS, {
            **r, "weights": r["weight_mismatches"], "mismatch": r["mismatches"], "state B": shown(r.get("state_bytes")),
            "stack B": shown(r.get("stack_bytes_partial_fit")), "step mean": shown(step, "{:.1f}"), "min": shown(low),
            "max": shown(high), "predict": shown(r.get("cycles_per_inference"))}, r.get("cycles_unit") or "-"))
