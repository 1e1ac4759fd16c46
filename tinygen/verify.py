"""The comparisons behind `tinygen verify`: simulator vs float model, and C vs simulator on every row."""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score

from . import board_port, boards, flash, targets as target_registry
from .api import ConvertedModel, convert
from .diagnose import diagnose
from .errors import TinygenError, ToolMissing
from .frontend import to_float_program
from .ir import json_value
from .ops.probability import PROBA_FRAC_BITS
from .progress import progress

# Default allowed metric drop (accuracy, or R^2 for regressors) of the simulator against the float model.
DEFAULT_MAX_DROP = {"float32": 0.001, "q31": 0.002, "q15": 0.005, "q7": 0.02, "int8": 0.02, "exact": 1e-6}
# A regressor's fixed prediction "agrees" when within this fraction of the float predictions' range.
REGRESSION_AGREEMENT = 0.01
# Budgets (verify --max-flash / --max-ram / --max-cycles): what a target must not exceed. The host measures
# sizes only (no stack, no cycles), so its RAM is static RAM alone and it has no cycle budget.
BUDGETS = ("flash", "ram", "cycles")
HOST_MEASURES = ("flash", "ram")
# What a target that failed (a build error, a model too big for it) reports: null, beside its "error".
TARGET_FIGURES = ("rows", "mismatches", "flash_bytes", "ram_bytes", "stack_bytes", "cycles_per_inference")


def metric(task: str, y_true, y_pred) -> tuple[str, float]:
    if task == "classification":
        return "accuracy", float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
    return "r2", float(r2_score(np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)))


def agreement(task: str, fixed_pred, float_pred) -> float:
    fixed_pred, float_pred = np.asarray(fixed_pred), np.asarray(float_pred)
    if task == "classification":
        return float(np.mean(fixed_pred == float_pred))
    span = float(np.ptp(float_pred)) or 1.0
    return float(np.mean(np.abs(fixed_pred.astype(np.float64) - float_pred) <= REGRESSION_AGREEMENT * span))


def _float_bits_differ(c_values, sim_values) -> np.ndarray:
    c_values = np.asarray(c_values, dtype=np.float32)
    sim_values = np.asarray(sim_values, dtype=np.float32)
    both_nan = np.isnan(c_values) & np.isnan(sim_values)
    return (c_values.view(np.int32) != sim_values.view(np.int32)) & ~both_nan


def compare_on_target(model: ConvertedModel, target: str, X: np.ndarray, name: str, header=None) -> dict:
    """Build the header for `target` (the given header file, else the model's rendered to a temporary one), run
    every row, count rows whose raw scores or prediction differ."""
    module = target_registry.get(target)
    if header is not None:
        return compare_measured(model.program, module.measure(model.program, Path(header), name, X), X)
    with tempfile.TemporaryDirectory(prefix="tinygen-verify-") as tmp:
        paths = model.save(tmp, name)
        measured = module.measure(model.program, paths["header"], name, X)
    return compare_measured(model.program, measured, X)


def run_on_target(model: ConvertedModel, target: str, X: np.ndarray, name: str, header=None) -> dict:
    """compare_on_target, where a failure on this target (the model too big for it, a build or run error there)
    is this target's result, {"error": one line, TARGET_FIGURES: None}, so the other targets still run. A
    missing compiler or emulator stays an error of the whole verify (ToolMissing: exit 2)."""
    try:
        return compare_on_target(model, target, X, name, header)
    except ToolMissing:
        raise
    except TinygenError as exc:
        return {"error": " ".join(str(exc).split()), **dict.fromkeys(TARGET_FIGURES)}


def compare_measured(program, measured, X: np.ndarray) -> dict:
    """What compare_on_target reports for a Measurement of the C on the rows X: mismatching rows and costs."""
    c_scores, c_pred = measured.scores, measured.predictions
    sim_scores = program.scores(X)
    sim_pred = program.decide(sim_scores)
    if program.ops[-1].out_type != "float32":
        score_diff = np.any(c_scores.astype(np.int64) != sim_scores, axis=1)
    else:  # float32: bit patterns must be equal (so -0.0 != 0.0), except that a NaN equals any NaN: its
        # payload is the platform's choice (avr-libc makes 0xffc0xxxx where x86 keeps the input's)
        score_diff = np.any(_float_bits_differ(c_scores, sim_scores), axis=1)
    pred_diff = _float_bits_differ(c_pred, sim_pred) if c_pred.dtype == np.float32 else c_pred != sim_pred
    row_diff = score_diff | pred_diff
    anomaly = {}
    if program.anomaly_score_op is not None:  # IsolationForest: score_samples / decision_function, int and float
        anomaly_diff = _anomaly_diff(program, measured, X)
        anomaly = {"anomaly_mismatches": None if anomaly_diff is None else int(np.sum(anomaly_diff))}
        if anomaly_diff is not None:
            row_diff = row_diff | anomaly_diff
    proba = {}
    if program.proba is not None:  # NAME_predict_proba (Q15) on every row, where the target runs it
        proba_diff = None if measured.proba is None else \
            np.any(measured.proba.astype(np.int64) != program.proba.forward(sim_scores), axis=1)
        proba = {"proba_mismatches": None if proba_diff is None else int(np.sum(proba_diff))}
        if proba_diff is not None:
            row_diff = row_diff | proba_diff
    return {"rows": int(len(X)), "mismatches": int(np.sum(row_diff)),
            "score_mismatches": int(np.sum(score_diff)), "prediction_mismatches": int(np.sum(pred_diff)),
            **anomaly, **proba, **measured.costs()}


def _anomaly_diff(program, measured, X) -> np.ndarray | None:
    """Rows where the C's score_samples / decision_function (int32, and the floats from them) differ from the
    simulator's; None where the target does not run them."""
    if measured.anomaly_int is None:
        return None
    sim = program.anomaly_scores(X)
    sim_float = (sim * program.anomaly_score_op.scale).astype(np.float32)  # exact: |q| <= 2**23
    return np.any(measured.anomaly_int.astype(np.int64) != sim, axis=1) | \
        np.any(_float_bits_differ(measured.anomaly_float, sim_float), axis=1)


def anomaly_reference(y, float_pred) -> tuple:
    """(reference values, "labels" or "float model's predict"): what an anomaly model's accuracy is measured
    against, in verify and in the report. -1/1 (outlier/inlier) labels when the label column holds only those;
    otherwise (no labels, or class labels that say nothing about outliers) the float model's own predict, so the
    metric is then its agreement and the float model scores 1.0."""
    if y is not None:
        values = set(np.unique(np.asarray(y, dtype=object)).tolist())
        if values <= {-1, 1, -1.0, 1.0}:
            return y, "labels"
    if float_pred is None:  # verify of the shipped files without --model
        raise TinygenError("an IsolationForest is checked against -1/1 labels (-1: outlier) or, with --model MODEL, "
                           "against the float model's predict; give a label column of -1/1 or --model")
    return float_pred, "float model's predict"


def _anomaly_checks(model: ConvertedModel, estimator, X, report: dict) -> list[dict]:
    """score_samples and decision_function of the simulator (what the C returns) within the proven bound of
    the float model's (ops/anomaly_score.py). The bound assumes scikit-learn's tree paths, which only the exact
    dtype guarantees: q-dtypes route the quantized input, so their error is reported, not checked."""
    bound = model.program.anomaly_score_op.error_bound()
    checks = []
    for what in ("score_samples", "decision_function"):
        fn = getattr(estimator, what, None)
        if fn is None:
            continue
        error = float(np.max(np.abs(getattr(model, what)(X) - fn(X)), initial=0.0))
        report[f"{what}_max_error"] = error
        if model.dtype != "exact":
            continue
        report[f"{what}_error_bound"] = bound[what]
        checks.append({"name": f"{what} within {bound[what]:.3g} of the float model", "passed": error <= bound[what] + 1e-12,
                       "detail": f"max |error| {error:.3g}"})
    return checks


def _proba_check(program, X, report: dict) -> dict:
    """The integer predict_proba (what NAME_predict_proba writes) within its proven bound of the exact softmax of
    the same dequantized scores (ops/probability.py), on every row."""
    scores = program.scores(X)
    error = float(np.max(np.abs(program.proba.forward(scores) * 2.0 ** -PROBA_FRAC_BITS - program.softmax_of_scores(scores)), initial=0.0))
    bound = program.proba.error_bound()
    report.update(proba_max_error=error, proba_error_bound=bound)
    return {"name": f"predict_proba within {bound:.3g} of the softmax of the scores", "passed": error <= bound + 1e-12,
            "detail": f"max |error| {error:.3g}"}


def _fit_check(model: ConvertedModel, board, measured: dict | None, name: str) -> dict:
    """The board's footprint, as export --board measures it (one figure for both), plus the stack the board's
    target measured."""
    if measured is not None and "error" in measured:
        return {"name": f"fits the {board.name}", "passed": False, "detail": f"{board.target}: {measured['error']}"}
    try:
        stack = None if measured is None else measured.get("stack_bytes")
        sizes = boards.check_model(model, board, name, stack)
        return {"name": f"fits the {board.name}", "passed": True, "detail": boards.fit_line(board, sizes, name, stack)}
    except TinygenError as exc:
        return {"name": f"fits the {board.name}", "passed": False, "detail": str(exc)}


def resolve_budgets(budgets: dict | None, targets) -> dict:
    """{kind: {target or None: limit}} (None: every target) -> {target: {kind: limit}} for the targets that
    measure the kind. A target named in a budget must be verified and measure it; a budget for every target
    must reach at least one; otherwise a TinygenError says what to add."""
    resolved = {target: {} for target in targets}
    for kind, limits in (budgets or {}).items():
        if kind not in BUDGETS:
            raise TinygenError(f"unknown budget {kind!r}; choose from {', '.join(BUDGETS)}")
        option = f"--max-{kind}"
        for target, limit in limits.items():
            if limit < 0:
                raise TinygenError(f"{option} {limit} is negative; give a number of bytes or cycles >= 0")
            if target is not None and target not in resolved:
                raise TinygenError(f"{option} {target}={limit}: {target} is not verified; add --target {target}")
            if target == "host" and kind not in HOST_MEASURES:
                raise TinygenError(f"{option} host={limit}: the host measures no {kind}; budget an MCU target (avr, cortex-m4, ...)")
        for target in targets:
            limit = limits.get(target, limits.get(None))
            if limit is not None and (target != "host" or kind in HOST_MEASURES):
                resolved[target][kind] = limit
        if None in limits and not any(kind in resolved[t] for t in targets):
            raise TinygenError(f"{option} {limits[None]}: none of the verified targets ({', '.join(targets)}) measures "
                               f"{kind}; add --target avr (or another MCU target)")
    return resolved


def _budget_check(kind: str, limit: float, target: str, result: dict) -> dict:
    """One budget against a target's measurement: flash, RAM as static + peak stack, or the worst row's cycles
    (instructions on QEMU targets)."""
    if kind == "flash":
        value, what, unit = result["flash_bytes"], "flash", "B"
        detail = None if value is None else f"{value} B"
    elif kind == "ram":
        static, stack = result["ram_bytes"], result.get("stack_bytes")
        value, what, unit = (None if static is None else static + (stack or 0)), "RAM", "B"
        detail = None if value is None else (f"{static} B static + {stack} B stack = {value} B" if stack is not None
                                             else f"{static} B static (this target measures no stack)")
    else:
        what = result.get("cycles_unit") or "cycles"
        value, unit = result.get(f"{what}_max"), ""
        mean = result.get("cycles_per_inference")
        detail = None if value is None else f"worst row {value} {what} (mean {mean:.1f})"
    name = f"{what} <= {limit:g}{' ' + unit if unit else ''} on {target}"
    if value is None:
        return {"name": name, "passed": False, "detail": f"{target} did not measure {what}"}
    return {"name": name, "passed": value <= limit, "detail": detail}


# ---- labels, the reference the simulator is held to, and the metric checks -----------------------------------
def _label_key(value):
    """A label as a number where it reads as one (CSV labels "0", "1" load as int64; a model may hold text
    classes "0", "1", or the reverse), else as its text."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text


def match_labels(classes, y) -> tuple[np.ndarray, list, int]:
    """(y as the model's own classes, the labels that are none of them, the rows holding those). A label equal
    to a class is that class; a label of the other kind (number vs text) that reads as the same number is that
    class when only one class reads so (CSV "0" -> int64 0 matches the text class "0"). A TinygenError when no
    label is a class: every prediction would then count as wrong, and accuracy 0 says nothing of the model."""
    classes = [json_value(c) for c in classes]
    by_key = {}
    for c in classes:
        by_key.setdefault(_label_key(c), []).append(c)
    labels = [json_value(v) for v in np.asarray(y, dtype=object).tolist()]
    mapping, unknown = {}, []
    for value in dict.fromkeys(labels):
        same = [c for c in classes if isinstance(c, str) == isinstance(value, str) and c == value]
        alike = by_key.get(_label_key(value), [])
        if same or len(alike) == 1:
            mapping[value] = same[0] if same else alike[0]
        else:
            unknown.append(value)
    if not mapping:
        raise TinygenError(f"none of the data's labels ({_listed(unknown)}) is a class of the model "
                           f"({_listed(classes)}); is the label column the right one?")
    matched = [mapping.get(v, v) for v in labels]
    unknown_rows = sum(v not in mapping for v in labels)
    return np.asarray(matched, dtype=object if len({type(v) for v in matched}) > 1 else None), unknown, unknown_rows


def labels_as_classes(program, y) -> tuple[np.ndarray, list, int]:
    """A data set's labels as match_labels gives them for a classifier (regressors: as numbers), so that every
    accuracy tinygen reports (verify, export --dtype auto, report) compares like with like."""
    if program.task == "regression":
        return _regression_labels(y), [], 0
    if program.labels is None:
        return np.asarray(y), [], 0
    return match_labels(program.labels, y)


def _listed(values, limit: int = 8) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _regression_labels(y) -> np.ndarray:
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise TinygenError("the model is a regressor but the data's labels are not numbers; is the label column "
                           "the right one?") from None


def _exact_ties(program, X) -> np.ndarray:
    """[rows, classes] bool: the classes that share the top integer score on rows where two or more do (all
    False elsewhere). The C's argmax takes the lowest of them; a one-score decision (class 1 when score >
    zero point) ties at the zero point, where it takes class 0."""
    scores = np.asarray(program.scores(X), dtype=np.int64)
    if program.decision == "argmax" and scores.shape[1] >= 2:
        tied = scores == scores.max(axis=1, keepdims=True)
        return tied & (tied.sum(axis=1, keepdims=True) >= 2)
    if program.decision == "positive":
        at_zero = scores[:, 0] == program.output_zero_point
        return np.stack([at_zero, at_zero], axis=1)
    return np.zeros((len(scores), max(len(program.labels or ()), 1)), dtype=bool)


def exact_reference(estimator, program, X, fixed_pred, float_pred) -> tuple[np.ndarray, dict]:
    """(the predictions an exact program is held to, counts of the rows where that is not scikit-learn's
    predict on X). The C receives float32 inputs, so the reference is scikit-learn on X rounded to float32
    (HistGradientBoosting compares float64 inputs with float64 thresholds: a value within float32 rounding of
    a threshold takes the other branch). Where classes tie exactly in the integer scores, tinygen's policy is
    the lowest class index; scikit-learn's float64 sum of the trees' outputs may round another tied class
    above it, so there the reference is the simulator's class (tie_explained)."""
    X32 = X.astype(np.float32).astype(np.float64)
    float32_pred = np.asarray(estimator.predict(X32))
    reference, ties, decided_otherwise = float32_pred, 0, 0
    if program.task == "classification" and program.labels is not None:
        tied = _exact_ties(program, X)
        ties = int(np.sum(tied.any(axis=1)))
        explained = tie_explained(estimator, program, X32, tied, float32_pred) & \
            _predictions_differ(fixed_pred, float32_pred)
        decided_otherwise = int(np.sum(explained))
        reference = np.where(explained, np.asarray(fixed_pred, dtype=object), float32_pred.astype(object))
    return reference, {"exact_ties": ties, "exact_ties_decided_otherwise": decided_otherwise,
                       "float32_input_disagreements": int(np.sum(_predictions_differ(float32_pred, float_pred)))}


# An integer tie is scikit-learn's tie too when its probabilities of the tied classes are this close: the
# integer leaves round each tree's class fraction to 1/LEAF_SCALE (1.5e-5), and boosting's leaves to 2**-frac.
TIE_PROBA_TOLERANCE = 1e-4


def tie_explained(estimator, program, X32, tied, float32_pred) -> np.ndarray:
    """Rows where the integer scores tie and scikit-learn's class (on the float32 inputs) is one of the tied
    classes, whose probabilities it holds within TIE_PROBA_TOLERANCE of each other. A program whose scores
    tie where scikit-learn's classes do not (e.g. every score 0) explains nothing: its rows still count."""
    rows = np.nonzero(tied.any(axis=1))[0]
    explained = np.zeros(len(tied), dtype=bool)
    if not len(rows) or not hasattr(estimator, "predict_proba"):
        return explained
    proba = np.asarray(estimator.predict_proba(X32[rows]), dtype=np.float64)
    index = {json_value(label): k for k, label in enumerate(program.labels)}
    for row, p in zip(rows, proba):
        chosen = index.get(json_value(float32_pred[row]))
        classes = tied[row]
        if chosen is not None and classes[chosen] and np.ptp(p[classes]) <= TIE_PROBA_TOLERANCE:
            explained[row] = True
    return explained


def _predictions_differ(a, b) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return ~((a == b) | (np.isnan(a) & np.isnan(b)))
    return a != b


def _rows(count: int) -> str:
    return f"{count} row{'s' * (count != 1)}"


def exact_notes(counts: dict) -> list[tuple[str, str]]:
    """(short, full) words for the exact ties and the float32-input disagreements, where there are any."""
    notes = []
    ties, f32 = counts["exact_ties"], counts["float32_input_disagreements"]
    if ties:
        notes.append((f"{ties} exact tie{'s' * (ties != 1)} (lowest class index)",
                      f"{_rows(ties)} tie{'s' * (ties == 1)} exactly in the integer scores; tinygen takes the lowest class index, and on "
                      f"{counts['exact_ties_decided_otherwise']} of them scikit-learn's float64 sum rounds to another "
                      "tied class: they pass"))
    if f32:
        notes.append((f"{_rows(f32)} where scikit-learn differs between float64 and float32 inputs",
                      f"{_rows(f32)} where scikit-learn predicts differently on the float32 values the C receives than "
                      "on the float64 data (values within float32 rounding of a split threshold): the simulator is "
                      "held to scikit-learn on the float32 inputs"))
    return notes


def check_min_accuracy(min_accuracy, task: str | None = None) -> None:
    """A TinygenError for a --min-accuracy that no model can reach (> 1, NaN) or none can miss (accuracy < 0;
    R^2 may be negative)."""
    if min_accuracy is None:
        return
    if not np.isfinite(min_accuracy) or min_accuracy > 1:
        raise TinygenError(f"--min-accuracy {min_accuracy} is not a number <= 1; give the lowest accuracy (R^2 for "
                           "regressors) to accept, e.g. 0.9")
    if task == "classification" and min_accuracy < 0:
        raise TinygenError(f"--min-accuracy {min_accuracy} is below 0, which every classifier reaches; give an "
                           "accuracy between 0 and 1")


def metric_report(estimator, program, X, y, max_drop: float, min_accuracy: float | None) -> tuple[dict, list[dict]]:
    """The report's metric fields and its metric checks: the drop of the simulator's accuracy (R^2) from the
    float model's, and with min_accuracy the simulator's accuracy itself. Labels are matched to the model's
    classes (match_labels); in exact mode the drop is measured against exact_reference. Without an estimator
    (verify of the shipped files without --model) the float figures are null and there is no drop check."""
    check_min_accuracy(min_accuracy, program.task)
    float_pred = None if estimator is None else estimator.predict(X)
    fixed_pred = program.predict(X)
    y, reference = anomaly_reference(y, float_pred) if program.anomaly_score_op is not None else (y, "labels")
    if y is None:
        raise TinygenError("verify needs labels (a label column) to measure the accuracy")
    report = {"warnings": [], "notes": []}
    if reference == "labels":
        y, unknown, unknown_rows = labels_as_classes(program, y)
        if program.task == "classification":
            report.update(unknown_labels=unknown, unknown_label_rows=unknown_rows)
        if unknown:
            report["warnings"].append(f"{unknown_rows} of {len(y)} rows have labels the model does not know "
                                      f"({_listed(unknown)}); they count as wrong predictions")
    metric_name, fixed_metric = metric(program.task, y, fixed_pred)
    report.update(passed=False, rows=int(len(X)), dtype=program.dtype, model=program.source, task=program.task,
                  metric_name=metric_name, float_metric=None, fixed_metric=fixed_metric, accuracy_drop=None,
                  max_accuracy_drop=None, agreement=None, metric_reference=reference)
    against = "" if reference == "labels" else f" (against the {reference})"
    checks = []
    if float_pred is not None:
        checks.append(_drop_check(estimator, program, X, y, float_pred, fixed_pred, max_drop, report))
    if min_accuracy is not None:
        report["min_accuracy"] = float(min_accuracy)
        float_words = "" if float_pred is None else f", float {report['float_metric']:.4f}"
        checks.append({"name": f"{metric_name} >= {min_accuracy:g}", "passed": fixed_metric >= min_accuracy,
                       "detail": f"{program.dtype} {fixed_metric:.4f}{float_words}{against}"})
    return report, checks


def _drop_check(estimator, program, X, y, float_pred, fixed_pred, max_drop: float, report: dict) -> dict:
    """The drop of the simulator's metric from the float model's (in exact mode from exact_reference's), with
    the float figures, exact ties and float32-input disagreements into the report."""
    metric_name, float_metric = metric(program.task, y, float_pred)
    fixed_metric = report["fixed_metric"]
    checked_metric, checked_as, notes = float_metric, "", []
    if program.dtype == "exact":
        exact_pred, counts = exact_reference(estimator, program, X, fixed_pred, float_pred)
        _, checked_metric = metric(program.task, y, exact_pred)
        report.update(counts, reference_metric=checked_metric)
        notes = exact_notes(counts)
        if counts["float32_input_disagreements"] or counts["exact_ties"]:
            ties = ", exact ties to the lowest class" if counts["exact_ties"] else ""
            checked_as = f" ({checked_metric:.4f} on the float32 inputs{ties})"
    report["notes"] = [full for _, full in notes]
    report.update(float_metric=float_metric, accuracy_drop=checked_metric - fixed_metric, max_accuracy_drop=max_drop,
                  agreement=agreement(program.task, fixed_pred, float_pred))
    against = "" if report["metric_reference"] == "labels" else f" (against the {report['metric_reference']})"
    return {"name": f"{metric_name} drop <= {max_drop}", "passed": report["accuracy_drop"] <= max_drop + 1e-12,
            "detail": f"float {float_metric:.4f}{checked_as}, {program.dtype} {fixed_metric:.4f}{against}" +
                      "".join(f"; {short}" for short, _ in notes)}


def diagnosis(estimator, program, X, report: dict) -> list[dict]:
    """diagnose.diagnose's causes and fixes where the simulator's metric dropped beyond the allowed drop (a float
    model to compare with is needed), else []."""
    drop, allowed = report.get("accuracy_drop"), report.get("max_accuracy_drop")
    if estimator is None or drop is None or drop <= allowed + 1e-12 or not program.is_fixed:
        return []
    return diagnose(to_float_program(estimator, feature_names=program.feature_names), program, X)


def calibration_diagnosis(estimator, program, X, y=None) -> tuple[str, list[dict]]:
    """export --calibration's check: (what dropped, diagnose's causes) when the simulator's metric on the
    calibration rows (against the labels y, else the float model's predictions) drops beyond verify's default
    for the dtype; ("", []) otherwise."""
    if not program.is_fixed or program.anomaly is not None:
        return "", []
    float_pred = estimator.predict(X)
    reference = float_pred if y is None else labels_as_classes(program, y)[0]
    metric_name, float_metric = metric(program.task, reference, float_pred)
    _, fixed_metric = metric(program.task, reference, program.predict(X))
    report = {"accuracy_drop": float_metric - fixed_metric, "max_accuracy_drop": DEFAULT_MAX_DROP[program.dtype]}
    causes = diagnosis(estimator, program, X, report)
    against = "the labels" if y is not None else "the float model's predictions"
    return (f"{program.dtype} {metric_name} on the {len(X)} calibration rows is {fixed_metric:.4f} against {against}, "
            f"float {float_metric:.4f} (verify allows a drop of {report['max_accuracy_drop']})"), causes


def _target_checks(model: ConvertedModel, X, name: str, header, target_budgets: dict, report: dict, add,
                   port: board_port.PortRequest | None = None) -> None:
    """`C == simulator on T` and T's budgets for every target (the keys of target_budgets, in order) into the
    report; a target that cannot build or run the model fails its own check (run_on_target), the rest still run.
    Then the board at the port, if any (_port_check), with the header that is verified (header, else the model's)."""
    unit = "windows" if model.program.window_op is not None else "rows"  # a window program's rows are windows
    for target in progress(list(target_budgets), "verify", describe=str):
        result = run_on_target(model, target, X, name, header)
        report["targets"][target] = result
        add({"name": f"C == simulator on {target}", "passed": result["mismatches"] == 0,
             "detail": result["error"] if "error" in result else f"{result['mismatches']} of {result['rows']} {unit} differ"})
        add(*(_budget_check(kind, limit, target, result) for kind, limit in target_budgets[target].items()))
    if port is not None:
        header_bytes = Path(header).read_bytes() if header is not None else model.files(name)[0].encode()
        _port_check(model, X, name, header_bytes, port, report, add)


def _port_check(model: ConvertedModel, X, name: str, header_bytes: bytes, port: board_port.PortRequest,
                report: dict, add) -> None:
    """verify --port: the firmware on the board must report this model's digest (else the check fails: flash it
    first), then C == simulator on every row it runs, with its cycles and stack; report["targets"]["port"]."""
    digest = flash.model_digest(header_bytes)
    measured, extra = board_port.measure(model.program, X, port, digest)
    where = f"the {port.board} on {port.path}"
    if measured is None:
        detail = (f"the firmware there runs another model (digest {extra['firmware_digest'][:12]}..., this model "
                  f"{digest[:12]}...): flash it first: {port.flash_command}")
        report["targets"]["port"] = {"error": detail, **dict.fromkeys(TARGET_FIGURES), **extra}
        add({"name": f"firmware on {where} runs this model", "passed": False, "detail": detail})
        return
    result = compare_measured(model.program, measured, X)
    result.update(extra, **flash.port_sizes(model.program, name, header_bytes, port.board, digest, extra["timed_alone"]))
    report["targets"]["port"] = result
    unit = "windows" if model.program.window_op is not None else "rows"
    add({"name": f"C == simulator on {where}", "passed": result["mismatches"] == 0,
         "detail": f"{result['mismatches']} of {result['rows']} {unit} differ"})


def verify(estimator, X, y, dtype: str | None = None, targets: tuple[str, ...] = ("host",), max_accuracy_drop=None,
           calibration=None, feature_names=None, name: str = "model", board: str | None = None,
           layout: str = "auto", bins: bool | None = None, budgets: dict | None = None,
           min_accuracy: float | None = None, shipped=None, port: board_port.PortRequest | None = None) -> dict:
    """Every check of `tinygen verify` as a report dict (DESIGN.md's verify JSON).

    shipped (shipped.Shipped): verify the exported NAME.json and the NAME.h beside it as they are, instead of
    converting the estimator (then optional: None leaves the float figures null).

    With a board, its instruction set's target joins `targets` and the model must fit its memories
    (measured flash, RAM and stack where that target runs, the cross-compiled footprint otherwise).
    budgets: {"flash" | "ram" | "cycles": {target or None (every target): limit}}, checked per target after
    its run (resolve_budgets). min_accuracy: the lowest accuracy (R^2 for regressors) of the simulator to
    accept. port (board_port.PortRequest): the board at a serial port too. Every check carries its `seconds`."""
    board_spec = boards.get(board) if board else None
    if board_spec and board_spec.target:
        targets = (*targets, board_spec.target)
    targets = tuple(dict.fromkeys(targets))
    for target in targets:
        target_registry.get(target)  # an unknown target fails before any work
    target_budgets = resolve_budgets(budgets, targets)
    check_min_accuracy(min_accuracy)  # before any work
    started = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    if shipped is None:
        model = convert(estimator, dtype=dtype, calibration=X if calibration is None else calibration,
                        feature_names=feature_names, layout=layout, bins=bins)
    else:  # the exported program as it is; its header is compiled as it is (run_on_target's header)
        model, name = shipped.model, shipped.name
    program, dtype = model.program, model.dtype
    program.check_features(X)
    shipped_checks = [] if shipped is None else shipped.checks(estimator)
    max_drop = DEFAULT_MAX_DROP[dtype] if max_accuracy_drop is None else float(max_accuracy_drop)
    report, metric_checks = metric_report(estimator, program, X, y, max_drop, min_accuracy)
    report.update(targets={}, checks=[], **({} if shipped is None else {"shipped": shipped.describe()}))
    report.update(ignored_features=list(program.ignored_features), diagnosis=diagnosis(estimator, program, X, report))
    report["notes"] += [feature["note"] for feature in program.ignored_features]
    checks = report["checks"]

    def add(*new_checks):  # each new check took the time since the previous one (the first: convert too)
        nonlocal started
        now = time.perf_counter()
        for check in new_checks:
            checks.append({**check, "seconds": (now - started) / len(new_checks)})
        started = now

    add(*shipped_checks, *metric_checks)
    if program.anomaly_score_op is not None and estimator is not None:
        add(*_anomaly_checks(model, estimator, X, report))
    if program.proba is not None:
        add(_proba_check(program, X, report))
    with contextlib.nullcontext() if shipped is None else shipped.header_file() as header:
        _target_checks(model, X, name, header, target_budgets, report, add, port)
    if any(target_budgets.values()):
        report["budgets"] = {target: limits for target, limits in target_budgets.items() if limits}
    if board_spec:
        report["board"] = board_spec.name
        add(_fit_check(model, board_spec, report["targets"].get(board_spec.target), name))
    report["passed"] = all(check["passed"] for check in checks)
    return report
