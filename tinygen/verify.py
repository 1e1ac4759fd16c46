"""The comparisons behind `tinygen verify`: simulator vs float model, and C vs simulator on every row."""
from __future__ import annotations

import tempfile
import time

import numpy as np
from sklearn.metrics import r2_score

from . import boards, targets as target_registry
from .api import ConvertedModel, convert
from .errors import TinygenError
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


def compare_on_target(model: ConvertedModel, target: str, X: np.ndarray, name: str) -> dict:
    """Build the header for `target`, run every row, count rows whose raw scores or prediction differ."""
    module = target_registry.get(target)
    with tempfile.TemporaryDirectory(prefix="tinygen-verify-") as tmp:
        paths = model.save(tmp, name)
        measured = module.measure(model.program, paths["header"], name, X)
    return compare_measured(model.program, measured, X)


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


def _anomaly_reference(y, float_pred):
    """An anomaly model's accuracy is against -1/1 (outlier/inlier) labels when the label column holds only
    those; otherwise (no labels, or class labels that say nothing about outliers) against the float model's
    own predict, so the metric is then its agreement and the float model scores 1.0."""
    if y is not None:
        values = set(np.unique(np.asarray(y, dtype=object)).tolist())
        if values <= {-1, 1, -1.0, 1.0}:
            return y, "labels"
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


def verify(estimator, X, y, dtype: str | None = None, targets: tuple[str, ...] = ("host",), max_accuracy_drop=None,
           calibration=None, feature_names=None, name: str = "model", board: str | None = None,
           layout: str = "auto", bins: bool | None = None, budgets: dict | None = None) -> dict:
    """Every check of `tinygen verify` as a report dict (DESIGN.md's verify JSON).

    With a board, its instruction set's target joins `targets` and the model must fit its memories
    (measured flash, RAM and stack where that target runs, the cross-compiled footprint otherwise).
    budgets: {"flash" | "ram" | "cycles": {target or None (every target): limit}}, checked per target after
    its run (resolve_budgets). Every check carries `seconds`, the time it took (JUnit's testcase time)."""
    board_spec = boards.get(board) if board else None
    if board_spec and board_spec.target:
        targets = (*targets, board_spec.target)
    targets = tuple(dict.fromkeys(targets))
    for target in targets:
        target_registry.get(target)  # an unknown target fails before any work
    target_budgets = resolve_budgets(budgets, targets)
    started = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    model = convert(estimator, dtype=dtype, calibration=X if calibration is None else calibration,
                    feature_names=feature_names, layout=layout, bins=bins)
    program, dtype = model.program, model.dtype
    program.check_features(X)
    max_drop = DEFAULT_MAX_DROP[dtype] if max_accuracy_drop is None else float(max_accuracy_drop)
    float_pred = estimator.predict(X)
    fixed_pred = program.predict(X)
    anomaly = program.anomaly_score_op is not None
    y, reference = _anomaly_reference(y, float_pred) if anomaly else (y, "labels")
    if y is None:
        raise TinygenError("verify needs labels (a label column) to measure the accuracy")
    metric_name, float_metric = metric(program.task, y, float_pred)
    _, fixed_metric = metric(program.task, y, fixed_pred)
    report = {
        "passed": False, "rows": int(len(X)), "dtype": dtype, "model": program.source, "task": program.task,
        "metric_name": metric_name, "float_metric": float_metric, "fixed_metric": fixed_metric,
        "accuracy_drop": float_metric - fixed_metric, "max_accuracy_drop": max_drop,
        "agreement": agreement(program.task, fixed_pred, float_pred), "targets": {}, "checks": [],
        "metric_reference": reference,
    }
    checks = report["checks"]

    def add(*new_checks):  # each new check took the time since the previous one (the first: convert too)
        nonlocal started
        now = time.perf_counter()
        for check in new_checks:
            checks.append({**check, "seconds": (now - started) / len(new_checks)})
        started = now

    add({"name": f"{metric_name} drop <= {max_drop}", "passed": report["accuracy_drop"] <= max_drop + 1e-12,
         "detail": f"float {float_metric:.4f}, {dtype} {fixed_metric:.4f}" +
                   ("" if reference == "labels" else f" (against the {reference})")})
    if anomaly:
        add(*_anomaly_checks(model, estimator, X, report))
    if program.proba is not None:
        add(_proba_check(program, X, report))
    for target in progress(dict.fromkeys(targets), "verify", describe=str):
        result = compare_on_target(model, target, X, name)
        report["targets"][target] = result
        add({"name": f"C == simulator on {target}", "passed": result["mismatches"] == 0,
             "detail": f"{result['mismatches']} of {result['rows']} rows differ"})
        add(*(_budget_check(kind, limit, target, result) for kind, limit in target_budgets[target].items()))
    if any(target_budgets.values()):
        report["budgets"] = {target: limits for target, limits in target_budgets.items() if limits}
    if board_spec:
        report["board"] = board_spec.name
        add(_fit_check(model, board_spec, report["targets"].get(board_spec.target), name))
    report["passed"] = all(check["passed"] for check in checks)
    return report
