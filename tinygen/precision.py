"""Automatic precision (`tinygen export --dtype auto`): the cheapest dtype that keeps the model's accuracy.

Every dtype the model exports with is converted with the calibration data and run through the simulator on
those rows. Those whose metric (accuracy, or R^2 for regressors) drops by at most the tolerance from the float
model's are ranked by flash on the board (built with its cross compiler, as `export --board` measures it),
then by the cost model's cycles (tinygen/costmodel.py) where the board's instruction set has one. The
tolerance is --max-accuracy-drop, or else each dtype's default verify check (verify.DEFAULT_MAX_DROP), so
`tinygen verify --dtype <the choice>` on the same data passes its accuracy check.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np

from . import boards, costmodel
from .api import ConvertedModel, convert
from .errors import TinygenError
from .quantize import DTYPES
from .verify import DEFAULT_MAX_DROP, labels_as_classes, metric


@dataclass
class Tried:
    """One dtype's result on the calibration rows."""
    dtype: str
    model: ConvertedModel | None
    metric: float | None = None
    drop: float | None = None
    tolerance: float | None = None
    flash_bytes: int | None = None
    cycles: float | None = None  # estimated mean over the calibration rows (None: no calibrated cost model for it)
    problem: str | None = None  # why the model does not export with this dtype

    @property
    def holds(self) -> bool:
        return self.problem is None and self.drop <= self.tolerance + 1e-12


@dataclass
class Choice:
    dtype: str
    model: ConvertedModel
    reason: str
    tried: list


def _none_holds(tried: list, metric_name: str) -> TinygenError:
    """Why choose_dtype has no dtype: the one reason every dtype refused (e.g. a bad raw_samples), or the drops."""
    measured = [t for t in tried if t.problem is None]
    problems = {t.problem for t in tried}
    if not measured and len(problems) == 1:
        return TinygenError(problems.pop())
    smallest = min(measured, key=lambda t: t.drop) if measured else None
    detail = f"; the smallest drop is {smallest.dtype}'s {smallest.drop:.4f}" if smallest else ""
    return TinygenError(f"no dtype keeps the {metric_name} drop within the tolerance on the calibration data"
                        f"{detail}; allow more with --max-accuracy-drop, or choose --dtype yourself")


def choose_dtype(estimator, X, y=None, board: str = "uno", max_accuracy_drop: float | None = None,
                 layout: str = "auto", bins: bool | None = None, feature_names=None, name: str = "model",
                 raw_samples: dict | None = None) -> Choice:
    """The cheapest dtype (flash on `board`, then estimated cycles) whose metric on the rows X (labels y; None:
    against the float model's own predictions) is within the tolerance of the float model's. raw_samples: as
    convert's (a window model's declared raw sample formats)."""
    if max_accuracy_drop is not None and not (np.isfinite(max_accuracy_drop) and max_accuracy_drop >= 0):
        raise TinygenError(f"--max-accuracy-drop must be a number >= 0, got {max_accuracy_drop}")
    board_spec = boards.get(board)
    X = np.asarray(X, dtype=np.float64)
    float_pred = estimator.predict(X)
    reference = float_pred if y is None else y
    task = None
    try:
        cost_model = costmodel.load(board_spec.target) if board_spec.target else None
    except TinygenError:
        cost_model = None
    tried = []
    for dtype in DTYPES:
        try:
            model = convert(estimator, dtype=dtype, calibration=X, feature_names=feature_names, layout=layout,
                            bins=None if dtype != "exact" else bins, raw_samples=raw_samples)
        except TinygenError as exc:
            tried.append(Tried(dtype, None, problem=str(exc)))
            continue
        task = model.program.task
        if y is not None:  # text labels against number classes (or the reverse) must not score 0
            reference = labels_as_classes(model.program, y)[0]
        _, float_metric = metric(task, reference, float_pred)
        _, fixed_metric = metric(task, reference, model.predict(X))
        tolerance = DEFAULT_MAX_DROP[dtype] if max_accuracy_drop is None else float(max_accuracy_drop)
        entry = Tried(dtype, model, fixed_metric, float_metric - fixed_metric, tolerance)
        if entry.holds:  # only the ones that qualify are built
            with tempfile.TemporaryDirectory(prefix="tinygen-auto-") as tmp:
                entry.flash_bytes = boards.footprint(board_spec, model.save(tmp, name)["header"], name)["flash_bytes"]
            estimate = None if cost_model is None else cost_model.estimate(model.program, X)
            entry.cycles = estimate.cycles_mean if estimate is not None and estimate.calibrated else None
        tried.append(entry)
    holding = [t for t in tried if t.holds]
    metric_name = "r2" if task == "regression" else "accuracy"
    if not holding:
        raise _none_holds(tried, metric_name)
    best = min(holding, key=lambda t: (t.flash_bytes, np.inf if t.cycles is None else t.cycles, DTYPES.index(t.dtype)))
    within = "within " + (str(max_accuracy_drop) if max_accuracy_drop is not None else "each dtype's verify default") + \
        " of the float model's"
    def costs(t: Tried) -> str:
        return f"{t.flash_bytes} B" + ("" if t.cycles is None else f", ~{t.cycles:,.0f} cycles")

    cycles = "" if best.cycles is None else f", ~{best.cycles:,.0f} cycles estimated"
    others = ", ".join(f"{t.dtype} ({costs(t)})" for t in sorted(holding, key=lambda t: t.flash_bytes) if t is not best)
    failed = ", ".join(f"{t.dtype} drops {t.drop:.4f}" for t in tried if t.problem is None and not t.holds)
    reason = (f"dtype auto: {best.dtype}, the least flash on the {board_spec.name} ({best.flash_bytes} B{cycles}) of the "
              f"dtypes whose {metric_name} on the {len(X)} calibration rows (against "
              f"{'the labels' if y is not None else 'the float model' + chr(39) + 's predictions'}) is {within} "
              f"({best.dtype}: drop {best.drop:.4f})" + (f"; also within: {others}" if others else "")
              + (f"; beyond it: {failed}" if failed else ""))
    return Choice(best.dtype, best.model, reason, tried)
