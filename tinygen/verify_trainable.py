"""`tinygen verify MODEL --trainable --updates UPDATES.csv --data DATA.csv`: on-device learning checked end to end
(issue 17). Every row of UPDATES is one NAME_partial_fit step, on each target's C and in the simulator; then every
row of DATA is predicted. Checks: the weights after the stream are identical, byte for byte (weight_mismatches:
int32 entries that differ), and so are the raw scores and predictions on every data row; the accuracy after the
stream is within --max-accuracy-drop of the float reference on the same stream from the same start
(sgd_reference.py: `sklearn_accuracy_after`; scikit-learn's SGD for a linear model, float SGD on the last layer in numpy
for an MLP's head; `reference` says which).

The report is verify's JSON with `updates`, `accuracy_before`, `accuracy_after`, `sklearn_accuracy_after`,
`learning_curve` (the simulator's accuracy on DATA after 0, ..., all updates), `schedule`, and per target
`weight_mismatches`, `steps`, `saturations` and the cost of one step where the target measures it."""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

from . import sgd_reference
from .api import convert
from .errors import TinygenError
from . import targets as target_registry
from .verify import agreement, compare_measured, metric

MAX_DROP = 0.02  # the default allowed drop of the accuracy after the stream from scikit-learn's SGD's (issue 17)
CURVE_POINTS = 20  # learning_curve: the accuracy after this many evenly spaced prefixes of the stream (and 0)
STEP_COSTS = ("cycles_partial_fit", "instructions_partial_fit", "stack_bytes_partial_fit", "state_bytes")


def reference_schedule(op) -> sgd_reference.Schedule:
    """The float schedule the device's shifts stand for: a constant rate is the device's own power of two; a
    decaying one is the float formula its breakpoints approximate; alpha is the device's 2**-l2_shift."""
    schedule = op.schedule
    alpha = 0.0 if op.l2_shift is None else 2.0 ** -op.l2_shift
    eta0 = 2.0 ** -schedule.k0 if schedule.kind == "constant" else schedule.eta0
    return sgd_reference.Schedule(schedule.kind, eta0, schedule.power_t, alpha)


def learning_curve(model, X_updates, y_updates, X, y) -> list[dict]:
    """The simulator's metric on the data rows after 0, n/CURVE_POINTS, ..., n updates (from the exported start;
    the model is left after all n)."""
    model.reset()
    n = len(X_updates)
    marks = sorted({round(n * i / CURVE_POINTS) for i in range(CURVE_POINTS + 1)})
    curve, done = [], 0
    for mark in marks:
        if mark > done:
            model.partial_fit(X_updates[done:mark], y_updates[done:mark])
            done = mark
        curve.append({"updates": mark, "accuracy": metric(model.program.task, y, model.predict(X))[1]})
    return curve


def weight_mismatches(device: bytes, simulator: bytes) -> int:
    return int(np.sum(np.frombuffer(device, "<i4") != np.frombuffer(simulator, "<i4")))


def run_target(model, target: str, X_updates, y_updates, X, name: str, header) -> dict:
    """One target: the C from the exported header runs the stream and then the data rows; `model` is the simulator
    after the same stream (learning_curve leaves it there), the state every comparison reads."""
    module = target_registry.get(target)
    with contextlib.ExitStack() as stack:
        if header is None:  # the header holds the exported (initial) weights whatever the simulator's state
            header = model.save(stack.enter_context(tempfile.TemporaryDirectory(prefix="tinygen-verify-")),
                                name)["header"]
        measured = module.measure(model.program, Path(header), name, X, updates=(X_updates, y_updates))
    result = compare_measured(model.program, measured, X)
    result.update(weight_mismatches=weight_mismatches(measured.weights, model.trainable_weights()),
                  steps=measured.steps, saturations=measured.saturations,
                  **{key: measured.extra[key] for key in STEP_COSTS if key in measured.extra})
    return result


def _checks(report: dict, max_drop: float | None) -> list[dict]:
    """Per target: the weights and the data rows' outputs identical; with the float reference (max_drop not None),
    the accuracy after the stream within max_drop of scikit-learn's SGD."""
    checks = []
    for target, result in report["targets"].items():
        checks.append({"name": f"weights on {target}", "passed": result["weight_mismatches"] == 0,
                       "detail": f"{result['weight_mismatches']} of the trainable int32 values differ after "
                                 f"{report['updates']} updates"})
        checks.append({"name": f"C vs simulator on {target}", "passed": result["mismatches"] == 0,
                       "detail": f"{result['mismatches']} of {report['rows']} rows differ after the updates"})
    if max_drop is not None:
        after, reference = report["accuracy_after"], report["sklearn_accuracy_after"]
        checks.append({"name": "learning vs float SGD", "passed": reference - after <= max_drop + 1e-12,
                       "detail": f"{report['metric_name']} after the updates {after:.4f}, {report['reference']} from the "
                                 f"same start {reference:.4f} (allowed drop {max_drop})"})
    return checks


def verify_trainable(estimator, X_updates, y_updates, X, y, targets=("host",), learning_rate=None, l2=None,
                     calibration=None, feature_names=None, name: str = "model", shipped=None,
                     max_accuracy_drop=None) -> dict:
    """Every check of `verify --trainable` as a report dict (module doc). shipped: the exported NAME.json (trainable)
    and the NAME.h beside it, verified as they are; else the estimator is converted trainable here."""
    for target in targets:
        target_registry.get(target)
    started = time.perf_counter()
    X, X_updates = np.asarray(X, dtype=np.float64), np.asarray(X_updates, dtype=np.float64)
    if shipped is None:
        options = {k: v for k, v in (("learning_rate", learning_rate), ("l2", l2)) if v is not None}
        model = convert(estimator, dtype="q15", calibration=X_updates if calibration is None else calibration,
                        feature_names=feature_names, trainable=True, **options)
    else:
        model, name = shipped.model, shipped.name
        if model.program.trainable_op is None:
            raise TinygenError(f"{shipped.manifest_path} was not exported trainable: export it with --trainable, or "
                               "verify it without --trainable")
    program, op = model.program, model.program.trainable_op
    task = program.task
    metric_name, before = metric(task, y, model.predict(X))
    curve = learning_curve(model, X_updates, y_updates, X, y)
    transform, sgd = (None, None) if estimator is None else \
        sgd_reference.reference_sgd(estimator, reference_schedule(op), X_updates, y_updates)
    reference_pred = None if sgd is None else sgd.predict(transform(X))
    report = {"rows": len(X), "updates": len(X_updates), "model": program.source, "dtype": model.dtype,
              "metric_name": metric_name, "accuracy_before": before, "accuracy_after": curve[-1]["accuracy"],
              "sklearn_accuracy_after": None if sgd is None else metric(task, y, reference_pred)[1],
              "reference": None if sgd is None else sgd_reference.reference_name(estimator),
              # verify's usual fields: the exported float model on the data, the program after the updates, and
              # its agreement with scikit-learn's SGD after the same stream
              "float_metric": None if estimator is None else metric(task, y, estimator.predict(X))[1],
              "fixed_metric": curve[-1]["accuracy"],
              "agreement": None if sgd is None else agreement(task, model.predict(X), reference_pred),
              "learning_curve": curve, "schedule": op.schedule.to_dict(), "l2_shift": op.l2_shift,
              "saturations": model.training_state()["saturations"], "targets": {}}
    with contextlib.nullcontext() if shipped is None else shipped.header_file() as header:
        for target in targets:
            report["targets"][target] = run_target(model, target, X_updates, y_updates, X, name, header)
    max_drop = None if sgd is None else MAX_DROP if max_accuracy_drop is None else float(max_accuracy_drop)
    checks = ([] if shipped is None else shipped.checks(estimator)) + _checks(report, max_drop)
    seconds = (time.perf_counter() - started) / max(1, len(checks))
    report["checks"] = [{**check, "seconds": seconds} for check in checks]
    report["passed"] = all(check["passed"] for check in checks)
    return report
