"""The cost model's calibration: measure the search's own candidates on a target's emulator, fit the coefficients
of tinygen/costmodel.py on them, and state their error on candidates left out of the fit.

    tinygen costmodel calibrate --target avr   # measure, fit, check, write costmodel_avr.json
    tinygen costmodel check --target avr       # re-measure the error on the left-out candidates

A module of its own because it needs both sides: the candidates come from the search's grid (model_search.py),
and the search estimates with the cost model. Fitted on CALIBRATION_SETS; the error is measured on CHECK_SETS.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from sklearn.datasets import make_classification

from . import data, train as train_module
from .api import ConvertedModel, convert
from .costmodel import QUANTITIES, CostModel, Features, coefficients_path, errors, load, program_features, slowest_row
from .errors import TinygenError
from .model_search import grid, variants
from .verify import compare_on_target

# Fitted on these; the error is stated on the search's own candidates for breast_cancer and digits, left out.
CALIBRATION_SETS = ("iris", "wine", "diabetes", "synthetic-8x5", "synthetic-20x2", "synthetic-36x2", "synthetic-48x6",
                    "synthetic-64x10", "sparse-16x2", "sparse-40x4")
CHECK_SETS = ("breast_cancer", "digits")


def _calibration_data(name: str):
    """(X, y) of a bundled data set, or of a synthetic one "synthetic-<features>x<classes>" (fixed seed)."""
    kind, _, shape = name.partition("-")
    if kind in ("synthetic", "sparse"):
        n_features, n_classes = (int(v) for v in shape.split("x"))
        X, y = make_classification(n_samples=100 * n_classes, n_features=n_features, n_informative=n_features // 2,
                                   n_classes=n_classes, random_state=0)
        if kind == "sparse":  # counts: small integers, half of them zero (zeros take quicker paths)
            return np.round(np.maximum(X, 0.0) * 4.0), y
        return X * np.linspace(0.01, 300.0, n_features), y  # features of many magnitudes, as real data has
    bundle = data.load_bundled(name)
    return bundle.X, bundle.y


def candidate_programs(dataset_name: str):
    """(label, program, X) for every candidate the search would consider on a data set: each configuration of
    the grid fitted on every row, in each of its variants, converted with every row as calibration."""
    X, y = _calibration_data(dataset_name)
    task = train_module.detect_task(y)
    dataset = data.Dataset(X, y, [f"x{i}" for i in range(X.shape[1])], "y")
    for spec in grid(task):
        estimator = train_module.fit(dataset, spec.kind, params=dict(spec.params), seed=0, task=task)
        for variant in variants(spec.kind):
            try:
                program = convert(estimator, dtype=variant.dtype, calibration=X, layout=variant.layout,
                                  bins=variant.bins).program
            except TinygenError:
                continue
            yield f"{dataset_name}: {spec.label} ({variant.label})", program, X


def measure_candidates(target: str, set_names, cache: dict, jobs: int, echo) -> list:
    """[(label, program, X, measured)] for every candidate of the sets; measured comes from `cache` when there,
    else from the emulator (compare_on_target, as verify); candidates that cannot run there are left out."""
    items = [item for name in set_names for item in candidate_programs(name)]

    def run(item):
        label, program, X = item
        # the program itself, not only its name, keys the cache: a changed program is measured again
        key = f"{label} {hashlib.sha256(program.to_json().encode()).hexdigest()[:16]}"
        if key not in cache:
            try:
                cache[key] = compare_on_target(ConvertedModel(program), target, X, "m")
            except TinygenError as exc:
                cache[key] = {"problem": str(exc)}
        return (*item, cache[key])

    out = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for label, program, X, measured in pool.map(run, items):
            if "problem" in measured:
                echo(f"  skipped {label}: {measured['problem'][:120]}")
                continue
            out.append((label, program, X, measured))
    return out


def _percent_off(estimated: float, measured: float) -> str:
    return f"{100 * (estimated - measured) / max(measured, 1):+.1f}%"


def _print_errors(model: CostModel, rows, echo) -> dict:
    """A row per candidate (measured, estimated, error), then the error per quantity; returns that summary."""
    echo(f"{'candidate':<58}{'cycles':>10}{'est.':>10}{'err':>8}{'max cyc':>10}{'est.':>10}{'err':>8}"
         f"{'flash':>8}{'est.':>8}{'err':>8}{'stack':>7}{'est.':>6}")
    pairs = []
    for label, program, X, measured in rows:
        estimate = model.estimate(program, X)
        pairs.append((estimate, measured))
        echo(f"{label[:57]:<58}{measured['cycles_per_inference']:>10.0f}{estimate.cycles_mean:>10.0f}"
             f"{_percent_off(estimate.cycles_mean, measured['cycles_per_inference']):>8}{slowest_row(measured):>10.0f}"
             f"{estimate.cycles_max:>10.0f}{_percent_off(estimate.cycles_max, slowest_row(measured)):>8}"
             f"{measured['flash_bytes']:>8.0f}{estimate.flash_bytes:>8.0f}{_percent_off(estimate.flash_bytes, measured['flash_bytes']):>8}"
             f"{measured['stack_bytes']:>7.0f}{estimate.stack_bytes:>6.0f}")
    summary = errors(model, pairs)
    unit = rows[0][3].get("cycles_unit") or "cycles" if rows else "cycles"  # QEMU targets count instructions
    for quantity, stats in summary.items():
        echo(f"{quantity:<12} {stats['programs']} programs: max |error| {100 * stats['max_relative']:.1f}%, "
             f"mean {100 * stats['mean_relative']:.1f}%, median {100 * stats['median_relative']:.1f}%, "
             f"p90 {100 * stats['p90_relative']:.1f}%, {100 * stats['within_10_percent']:.0f}% of them within 10%; "
             f"largest {stats['max_absolute']:,.0f} {unit if quantity.startswith('cycles') else 'B'}")
    return summary


# Counts whose coefficient is known, not fitted: constant tables are their bytes in flash, buffers their bytes on
# the stack.
FIXED = {"flash": {"tables:bytes": 1.0}, "stack": {"buffers:bytes": 1.0}}


def fit(target: str, samples: list[tuple[Features, dict]]) -> CostModel:
    """Coefficients from (features, measured costs) pairs, by non-negative least squares per quantity. The
    measured dict holds verify's fields: cycles_per_inference (the mean over the rows), flash_bytes, ...
    Cycles are fitted on the per-row mean counts (the mean is linear in them)."""
    measured_key = {"cycles": "cycles_per_inference", "flash": "flash_bytes", "stack": "stack_bytes", "ram": "ram_bytes"}
    coefficients = {}
    for quantity in QUANTITIES:
        fixed = FIXED.get(quantity, {}) if quantity != "ram" else {}
        names = sorted({name for features, _ in samples for name in features.of(quantity)} - set(fixed))
        rows, known, measured = [], [], []
        for features, m in samples:
            counts = features.of(quantity)
            rows.append([float(np.mean(counts[n])) if n in counts else 0.0 for n in names])
            known.append(sum(c * float(np.mean(counts.get(n, 0.0))) for n, c in fixed.items()))
            measured.append(float(m[measured_key[quantity]]))
            if quantity == "cycles" and features.input_group and m.get("cycles_predict_q") is not None:
                # NAME_predict_q, timed too, is the same program without the conversion: it tells them apart
                skip = features.input_group + ":"
                rows.append([0.0 if n.startswith(skip) else v for n, v in zip(names, rows[-1])])
                known.append(0.0)
                measured.append(float(m["cycles_predict_q"]))
        A = np.array(rows)
        measured = np.array(measured)
        b = measured - np.array(known)
        # relative error matters, not absolute: weight each program by 1 / its measured cost
        weight = 1.0 / np.maximum(measured, 1.0) if quantity == "cycles" else 1.0 / np.maximum(measured, 64.0)
        solution, _ = nnls(A * weight[:, None], b * weight, maxiter=50 * len(names) + 1000)
        coefficients[quantity] = {n: round(float(c), 4) for n, c in zip(names, solution)}
        coefficients[quantity].update(fixed)
    return CostModel(target=target, coefficients=coefficients)




@contextlib.contextmanager
def _measurement_cache(path: Path | None):
    """The measurements kept in `path` between runs (a re-fit without re-measuring), written back even when the
    run stops half way; an empty dict without a path."""
    cache = json.loads(path.read_text()) if path is not None and path.is_file() else {}
    try:
        yield cache
    finally:
        if path is not None:
            path.write_text(json.dumps(cache, indent=0, sort_keys=True))


def calibrate(target: str, jobs: int = 2, cache_path: Path | None = None, echo=print) -> Path:
    """Measure the candidates of CALIBRATION_SETS, fit the coefficients, state their error on CHECK_SETS, and
    write them to costmodel_<target>.json (returned)."""
    with _measurement_cache(cache_path) as cache:
        fitted_on = measure_candidates(target, CALIBRATION_SETS, cache, jobs, echo)
        model = fit(target, [(program_features(p, X), m) for _, p, X, m in fitted_on])
        echo(f"fitted on {len(fitted_on)} programs ({', '.join(CALIBRATION_SETS)}); in-sample:")
        in_sample = _print_errors(model, fitted_on, echo)
        model.error = _check_error(model, target, cache, jobs, echo)
    model.notes = {"fitted_on": list(CALIBRATION_SETS), "programs": len(fitted_on), "in_sample_error": in_sample,
                   "error_on": list(CHECK_SETS), "command": f"tinygen costmodel calibrate --target {target}"}
    path = coefficients_path(target)
    model.save(path)
    echo(f"wrote {path}")
    return path


def check(target: str, jobs: int = 2, cache_path: Path | None = None, echo=print) -> dict:
    """The error of the shipped coefficients on the candidates of CHECK_SETS, measured again (printed and returned)."""
    model = load(target)  # before the measurements: a target without a cost model fails at once
    with _measurement_cache(cache_path) as cache:
        return _check_error(model, target, cache, jobs, echo)


def _check_error(model: CostModel, target: str, cache: dict, jobs: int, echo) -> dict:
    checked = measure_candidates(target, CHECK_SETS, cache, jobs, echo)
    echo(f"left out of the fit: {len(checked)} candidates of {', '.join(CHECK_SETS)}")
    return _print_errors(model, checked, echo)
