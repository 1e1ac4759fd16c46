"""`tinygen report`: one offline HTML page that shows, per dtype, what the integer program costs a model —
its metric against the float model, every tensor's values against the range its format holds (hls4ml-style
precision profiling: profiling.py), the score error, confusion matrices and, for the targets asked for, flash,
RAM, stack and cycles from the same builds and emulator runs as `tinygen verify`.

The page stands alone: the charts are PNGs embedded as base64 (charts.py), the CSS is inline and there is no
script, so it opens offline and can be kept as a CI artifact. Every name a user typed (title, file, feature
and class names, error messages quoting them) reaches the HTML only through Jinja2's autoescaping.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import confusion_matrix

from . import charts, sgd_reference, verify_trainable
from .api import ConvertedModel, convert
from .diagnose import diagnose
from .errors import TinygenError
from .files import atomic_write_text
from .frontend import to_float_program
from .profiling import Stage, profile
from .progress import progress
from .quantize import DTYPES
from .targets.toolchain import package_root
from .trainable import describe
from .verify import DEFAULT_MAX_DROP, agreement, anomaly_reference, compare_on_target, labels_as_classes, metric
from .version import __version__


# ---- the numbers behind the page -------------------------------------------------------------------------
@dataclass
class DtypeResult:
    model: ConvertedModel
    fixed_metric: float
    agreement: float
    predictions: np.ndarray
    score_error: np.ndarray  # dequantized score - float score, every finite output of every row
    stages: list[Stage]
    targets: dict = field(default_factory=dict)  # target -> compare_on_target's dict, or {"error": message}
    diagnosis: list[dict] = field(default_factory=list)  # diagnose.diagnose's causes where the drop is beyond verify's

    @property
    def dtype(self) -> str:
        return self.model.dtype


def supported(estimator, calibration, feature_names) -> list[ConvertedModel]:
    """The estimator converted with every dtype it exports with (a dtype it refuses is left out)."""
    models, first_error = [], None
    for dtype in DTYPES:
        try:
            models.append(convert(estimator, dtype=dtype, calibration=calibration, feature_names=feature_names))
        except TinygenError as exc:
            first_error = first_error or exc
    if not models:
        raise first_error
    return models


def real_scores(program, X) -> np.ndarray:
    """The simulator's scores in real units (what the float program's scores approximate)."""
    scores = np.asarray(program.scores(X), dtype=np.float64)
    if program.output_scale is None:
        return scores
    return (scores - program.output_zero_point) * program.output_scale


def analyse(estimator, X, y, dtypes=(), targets=(), calibration=None, feature_names=None, name: str = "model") -> dict:
    """Everything the page shows, computed: the float model's metric, and per dtype a DtypeResult (with the
    targets' measurements, run as `tinygen verify` runs them)."""
    charts.require()  # before any work: without matplotlib the page cannot be drawn
    X = np.asarray(X, dtype=np.float64)
    calibration = X if calibration is None else calibration
    if dtypes:
        models = [convert(estimator, dtype=d, calibration=calibration, feature_names=feature_names)
                  for d in dict.fromkeys(dtypes)]
    else:
        models = supported(estimator, calibration, feature_names)
    first = models[0].program
    first.check_features(X)
    float_program = to_float_program(estimator, feature_names=first.feature_names)
    float_scores = float_program.scores(X)
    float_pred = estimator.predict(X)
    reference = "labels"
    if first.anomaly is not None:  # IsolationForest: -1/1 labels if the column holds them, else its own predict
        y, reference = anomaly_reference(y, float_pred)
    if y is None:
        raise TinygenError("the report needs labels (a label column) to measure the accuracy")
    if reference == "labels":  # text labels against number classes (or the reverse) must not score 0
        y = labels_as_classes(first, y)[0]
    metric_name, float_metric = metric(first.task, y, float_pred)
    results: dict[str, DtypeResult] = {}
    work = [(model, target) for model in models for target in (None, *dict.fromkeys(targets))]
    for model, target in progress(work, "report", describe=lambda w: w[0].dtype + (f" on {w[1]}" if w[1] else "")):
        if target is None:
            results[model.dtype] = _dtype_result(model, float_program, X, y, float_scores, float_pred)
            continue
        try:
            results[model.dtype].targets[target] = compare_on_target(model, target, X, name)
        except TinygenError as exc:  # e.g. the model does not fit the board in this dtype: the page says so
            results[model.dtype].targets[target] = {"error": str(exc)}
    return {"source": first.source, "task": first.task, "rows": int(len(X)), "metric_name": metric_name,
            "float_metric": float_metric, "metric_reference": reference, "float_pred": float_pred, "y": y,
            "results": results, "targets": list(dict.fromkeys(targets)), "feature_names": first.feature_names,
            "labels": list(getattr(estimator, "classes_", [])) if is_classifier(estimator) else []}


def _dtype_result(model, float_program, X, y, float_scores, float_pred) -> DtypeResult:
    program = model.program
    predictions = program.predict(X)
    error = (real_scores(program, X) - float_scores).reshape(-1)
    fixed_metric, stages = metric(program.task, y, predictions)[1], profile(float_program, program, X)
    dropped = metric(program.task, y, float_pred)[1] - fixed_metric > DEFAULT_MAX_DROP[model.dtype] + 1e-12
    return DtypeResult(model, fixed_metric, agreement(program.task, predictions, float_pred), predictions,
                       error[np.isfinite(error)], stages,
                       diagnosis=diagnose(float_program, program, X, stages) if dropped else [])


def learning(estimator, X_updates, y_updates, X, y, learning_rate=None, l2=None, calibration=None,
             feature_names=None) -> dict:
    """The section on learning on the device: the estimator exported trainable (q15, as verify --trainable does:
    calibrated on the updates unless calibration is given), the simulator's metric on the data after 0..n updates
    (verify_trainable.learning_curve) and the float reference's (scikit-learn's SGD; an MLP's head: numpy's on the last
    layer) on the same stream from the same start, at the same marks."""
    options = {key: value for key, value in (("learning_rate", learning_rate), ("l2", l2)) if value is not None}
    X, X_updates = np.asarray(X, dtype=np.float64), np.asarray(X_updates, dtype=np.float64)
    model = convert(estimator, dtype="q15", calibration=X_updates if calibration is None else calibration,
                    feature_names=feature_names, trainable=True, **options)
    layer, task = model.program.trainable_op, model.program.task
    curve = verify_trainable.learning_curve(model, X_updates, y_updates, X, y)
    marks = [point["updates"] for point in curve]
    reference = sgd_reference.reference_curve(
        estimator, verify_trainable.reference_schedule(layer), X_updates, y_updates,
        lambda sgd, transform: metric(task, y, sgd.predict(transform(X)))[1], marks)
    return {"metric_name": metric(task, y, model.predict(X))[0], "marks": marks,
            "device": [point["accuracy"] for point in curve], "sklearn": reference, "updates": len(X_updates),
            "reference": sgd_reference.reference_name(estimator),
            "loss": layer.loss, "rate": describe(layer.schedule), "l2_shift": layer.l2_shift,
            "saturations": model.training_state()["saturations"]}


# ---- the page --------------------------------------------------------------------------------------------
def _percent(fraction: float) -> str:
    return "0" if fraction == 0 else f"{100 * fraction:.2g} %"


def _number(value) -> str:
    return "n/a" if value is None else f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def page_context(analysis: dict, title: str, data_name: str, label: str | None) -> dict:
    """The template's context: numbers formatted, charts drawn."""
    results = analysis["results"]
    dtypes = list(results)
    charts_to_draw = ["accuracy", *[d for d in dtypes if results[d].stages], "errors"]
    if analysis["labels"]:
        charts_to_draw.append("confusion")
    if analysis["targets"]:
        charts_to_draw.append("targets")
    drawn = {}
    for chart in progress(charts_to_draw, "charts", describe=str):
        drawn[chart] = _draw_chart(chart, analysis)
    precision = []
    for dtype, result in results.items():
        rows = [{"name": s.name, "format": s.fmt.text, "min": f"{np.min(s.values):.4g}", "max": f"{np.max(s.values):.4g}",
                 "range": f"{s.fmt.low:.4g} .. {s.fmt.high:.4g}", "step": f"{s.fmt.scale:.3g}",
                 "clipped": _percent(s.clipped), "below_step": _percent(s.below_step),
                 "error": "n/a" if s.max_error is None else f"{s.max_error:.3g}", "warn": s.clipped > 0}
                for s in result.stages]
        precision.append({"dtype": dtype, "chart": drawn.get(dtype), "rows": rows,
                          "clipped": [r["name"] for r in rows if r["warn"]],
                          "diagnosis": [f"{cause['cause']}; what to do: {cause['fix']}" for cause in result.diagnosis]})
    accuracy = [{"dtype": d, "metric": f"{r.fixed_metric:.4f}", "drop": f"{analysis['float_metric'] - r.fixed_metric:+.4f}",
                 "agreement": f"{r.agreement:.4f}",
                 "max_error": f"{np.max(np.abs(r.score_error)):.3g}" if len(r.score_error) else "n/a",
                 "notes": [note.removeprefix(f"{d}: ") for note in r.model.program.notes] +
                          [feature["note"] for feature in r.model.program.ignored_features]} for d, r in results.items()]
    measured = []
    for dtype, result in results.items():
        for target, row in result.targets.items():
            if "error" in row:
                measured.append({"target": target, "dtype": dtype, "error": row["error"]})
                continue
            measured.append({"target": target, "dtype": dtype, "rows": row["rows"], "mismatches": row["mismatches"],
                             "flash": _number(row["flash_bytes"]), "ram": _number(row["ram_bytes"]),
                             "stack": _number(row["stack_bytes"]), "cycles": _number(row["cycles_per_inference"]),
                             "unit": row.get("cycles_unit") or ""})
    measured.sort(key=lambda r: analysis["targets"].index(r["target"]))
    return {"title": title, "version": __version__, "source": analysis["source"], "data_name": data_name,
            "label": label, "rows": analysis["rows"], "task": analysis["task"], "metric_name": analysis["metric_name"],
            "float_metric": f"{analysis['float_metric']:.4f}", "metric_reference": analysis["metric_reference"],
            "dtypes": dtypes, "accuracy": accuracy, "precision": precision, "charts": drawn,
            "targets": analysis["targets"], "measured": measured, "classifier": bool(analysis["labels"]),
            "learning": _learning_context(analysis.get("learning"))}


def _learning_context(section: dict | None) -> dict | None:
    """The learning section's numbers formatted and its chart drawn (None: no --trainable)."""
    if section is None:
        return None
    device, reference = section["device"], section["sklearn"]
    chart = charts.learning_curves(section["metric_name"], section["marks"],
                                   {"the device (q15 simulator, bit-exact with the C)": device,
                                    f"{section['reference']} (float)": reference})
    return {**section, "chart": chart, "before": f"{device[0]:.4f}", "after": f"{device[-1]:.4f}",
            "sklearn_before": f"{reference[0]:.4f}", "sklearn_after": f"{reference[-1]:.4f}",
            "rows": [{"updates": m, "device": f"{d:.4f}", "sklearn": f"{r:.4f}"}
                     for m, d, r in zip(section["marks"], device, reference)],
            "l2": "none" if section["l2_shift"] is None else f"2^-{section['l2_shift']}"}


def _draw_chart(chart: str, analysis: dict) -> str:
    results = analysis["results"]
    if chart == "accuracy":
        return charts.accuracy(analysis["metric_name"], analysis["float_metric"], list(results),
                               [r.fixed_metric for r in results.values()])
    if chart == "errors":
        return charts.score_errors({d: r.score_error for d, r in results.items()},
                                   {d: r.model.program.output_scale for d, r in results.items()})
    if chart == "confusion":
        labels, y = analysis["labels"], analysis["y"]
        matrices = [("float model", confusion_matrix(y, analysis["float_pred"], labels=labels))]
        matrices += [(d, confusion_matrix(y, r.predictions, labels=labels)) for d, r in results.items()]
        return charts.confusion(labels, matrices)
    if chart == "targets":
        rows = [{"target": t, "dtype": d, **row} for d, r in results.items() for t, row in r.targets.items()
                if "error" not in row]
        return charts.targets(rows, list(results), analysis["targets"])
    return charts.precision(chart, [stage.chart_row() for stage in results[chart].stages])


def render(context: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(package_root("templates"))), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report/report.html.j2").render(**context)


def write_report(estimator, X, y, output, dtypes=(), targets=(), calibration=None, feature_names=None,
                 name: str = "model", title: str | None = None, data_name: str = "the data",
                 label: str | None = None, updates=None, learning_rate=None, l2=None) -> dict:
    """Analyse, draw and write the page to `output`; returns the analysis (DtypeResults per dtype, and "learning":
    the learning() section when `updates` (X_updates, y_updates) is given, else None)."""
    analysis = analyse(estimator, X, y, dtypes, targets, calibration, feature_names, name)
    analysis["learning"] = None if updates is None else \
        learning(estimator, *updates, X, y, learning_rate, l2, calibration, feature_names)
    context = page_context(analysis, title or f"tinygen report: {name}", data_name, label)
    atomic_write_text(Path(output), render(context))
    return analysis
