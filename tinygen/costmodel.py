"""Estimated costs of a typed program on a target, from counts that the program and its input rows determine.

The search (tinygen/model_search.py) needs the flash, stack and cycles of dozens of model variants; building and
emulating each one takes seconds, so it estimates first and runs only the ones that matter on the emulator.
An estimate is a linear function of named counts ("features"), one coefficient per count:

- cycles, per row: each op's work on that row: multiply-accumulates (soft-float ones by zero are quicker),
  float->fixed conversions and the shift loops they run on AVR (which depend on each value's exponent), tree
  splits visited on the way to the leaf reached (inline: those whose input lies beyond AVR's 63-byte load
  displacement, those with a second compare, and the distinct tests, since the compiler computes a test
  repeated across trees once), leaf values added, outputs; plus a constant per call. Mean and max over the
  rows are what verify reports (`cycles_per_inference`, `cycles_max`).
- flash: the bytes of the constant tables (exactly) plus code per op (inline trees: per split, per distinct
  test and its nonzero constant bytes, per leaf value) and the soft-float routines the program pulls in.
- stack: a frame per op plus the bytes of the intermediate buffers (exactly).
- ram (static .data + .bss): fitted like flash (0 for every calibrated program: tables live in flash).

Coefficients are fitted by non-negative least squares (weighted for relative error) on emulator measurements
of the search's own candidates on calibration data sets (CALIBRATION_SETS; fixed-point programs add their
measured NAME_predict_q, which tells the input conversion apart), per target, and stored in
costmodel_<target>.json beside this file with the error on the candidates of data sets left out (CHECK_SETS):

    python3 -m tinygen.costmodel calibrate --target avr     # measure, fit, check, write the JSON (~20 min)
    python3 -m tinygen.costmodel check --target avr         # re-measure the error on the left-out candidates

The counts follow the C templates; when a template changes its cost, run `calibrate` again. Programs with a
count never calibrated get an estimate flagged `calibrated=False` (the search then measures before trusting it).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TinygenError
from .ops.counts import Features

QUANTITIES = ("cycles", "flash", "stack", "ram")
COEFFICIENTS_DIR = Path(__file__).resolve().parent


@dataclass
class Estimate:
    flash_bytes: float
    ram_bytes: float
    stack_bytes: float
    cycles_mean: float
    cycles_max: float
    calibrated: bool  # False: some count has no coefficient (a variant the calibration never saw)
    missing: tuple[str, ...] = ()


# ---- the counts ----------------------------------------------------------------------------------------

def _soft_float_routines(program) -> set[str]:
    """The soft-float routines a program calls on a part without an FPU."""
    routines = set().union(*(op.soft_float_routines() for op in program.ops))
    if program.decision == "value" and program.output_scale is not None:  # value = score * scale
        routines |= {"mul", "from_int"}
    return routines


def program_features(program, X) -> Features:
    """Every count of `program` run on the rows X (float features, as the C receives them)."""
    values = np.asarray(program.check_features(X), dtype=np.float64).astype(np.float32)
    rows = len(values)
    features = Features()
    features.add_cycles("predict:calls", np.ones(rows))
    buffers = 0
    for op in program.ops:
        group = op.cost_group()
        features.add_flash(f"{group}:code", 1)
        features.add_flash("tables:bytes", sum(op.table_bytes().values()))
        features.add_stack(f"{group}:frame", 1)
        op.count_costs(values, group, features)
        values = op.forward(values)
        if op is not program.ops[-1]:  # the last op writes the caller's scores
            buffers += op.buffer_bytes
    decide = f"decide/{program.decision}"
    features.add_cycles(f"{decide}:calls", np.ones(rows))
    features.add_cycles(f"{decide}:outputs", np.full(rows, program.n_outputs))
    features.add_flash(f"{decide}:code", 1)
    for routine in _soft_float_routines(program):  # libgcc's, pulled in once by whichever op needs them
        features.add_flash(f"softfloat:{routine}", 1)
    features.add_stack("buffers:bytes", buffers + 4 * program.n_outputs)
    return features


# ---- coefficients ----------------------------------------------------------------------------------------

@dataclass
class CostModel:
    target: str
    coefficients: dict[str, dict[str, float]]  # quantity -> feature -> coefficient
    error: dict = field(default_factory=dict)  # how far the estimates were from measurements left out of the fit
    notes: dict = field(default_factory=dict)

    def estimate(self, program, X) -> Estimate:
        features = program_features(program, X)
        missing = sorted({name for q in QUANTITIES for name in features.of(q) if name not in self.coefficients[q]})
        cycles = sum((self.coefficients["cycles"].get(k, 0.0) * v for k, v in features.cycles.items()),
                     np.zeros(len(X)))
        size = {q: sum(self.coefficients[q].get(k, 0.0) * v for k, v in features.of(q).items())
                for q in ("flash", "stack", "ram")}
        return Estimate(flash_bytes=float(size["flash"]), ram_bytes=float(size["ram"]), stack_bytes=float(size["stack"]),
                        cycles_mean=float(cycles.mean()), cycles_max=float(cycles.max()), calibrated=not missing,
                        missing=tuple(missing))

    def relative_error(self, quantity: str) -> float:
        """The largest |estimate - measured| / measured seen on programs left out of the fit (the margin the
        search allows before it trusts an estimate), for cycles_mean, cycles_max, flash or stack."""
        return float(self.error.get(quantity, {}).get("max_relative", 1.0))

    def absolute_error(self, quantity: str) -> float:
        return float(self.error.get(quantity, {}).get("max_absolute", 0.0))

    def to_dict(self) -> dict:
        return {"format": "tinygen-cost-model", "version": 1, "target": self.target, "notes": self.notes,
                "error": self.error, "coefficients": self.coefficients}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")


def coefficients_path(target: str) -> Path:
    return COEFFICIENTS_DIR / f"costmodel_{target}.json"


def load(target: str) -> CostModel:
    path = coefficients_path(target)
    if not path.is_file():
        available = sorted(p.stem.split("_", 1)[1] for p in COEFFICIENTS_DIR.glob("costmodel_*.json"))
        raise TinygenError(f"no cost model for target {target} (calibrated targets: {', '.join(available) or 'none'}); "
                           f"make one with: python3 -m tinygen.costmodel calibrate --target {target}")
    data = json.loads(path.read_text())
    return CostModel(target=data["target"], coefficients=data["coefficients"], error=data.get("error", {}),
                     notes=data.get("notes", {}))


# Counts whose coefficient is known, not fitted: constant tables are their bytes in flash, buffers their bytes on
# the stack.
FIXED = {"flash": {"tables:bytes": 1.0}, "stack": {"buffers:bytes": 1.0}}


def fit(target: str, samples: list[tuple[Features, dict]]) -> CostModel:
    """Coefficients from (features, measured costs) pairs, by non-negative least squares per quantity. The
    measured dict holds verify's fields: cycles_per_inference (the mean over the rows), flash_bytes, ...
    Cycles are fitted on the per-row mean counts (the mean is linear in them)."""
    from scipy.optimize import nnls

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


def errors(model: CostModel, rows: list[tuple[Estimate, dict]]) -> dict:
    """Per quantity: max and mean relative error, max absolute error of the estimates against measurements."""
    pairs = {"cycles_mean": [(e.cycles_mean, m["cycles_per_inference"]) for e, m in rows],
             "cycles_max": [(e.cycles_max, m["cycles_max"]) for e, m in rows],
             "flash": [(e.flash_bytes, m["flash_bytes"]) for e, m in rows],
             "stack": [(e.stack_bytes, m["stack_bytes"]) for e, m in rows]}
    out = {}
    for quantity, values in pairs.items():
        est = np.array([v[0] for v in values], dtype=np.float64)
        meas = np.array([v[1] for v in values], dtype=np.float64)
        relative = np.abs(est - meas) / np.maximum(meas, 1.0)
        out[quantity] = {"programs": len(values), "max_relative": round(float(relative.max(initial=0.0)), 4),
                         "mean_relative": round(float(relative.mean()) if len(values) else 0.0, 4),
                         "within_10_percent": round(float((relative <= 0.1).mean()) if len(values) else 0.0, 4),
                         "max_absolute": round(float(np.abs(est - meas).max(initial=0.0)), 1)}
    return out


# ---- calibration: python3 -m tinygen.costmodel calibrate|check --target T --------------------------------

# Fitted on these; the error is stated on the search's own candidates for breast_cancer and digits, left out.
CALIBRATION_SETS = ("iris", "wine", "diabetes", "synthetic-8x5", "synthetic-20x2", "synthetic-36x2", "synthetic-48x6",
                    "synthetic-64x10", "sparse-16x2", "sparse-40x4")
CHECK_SETS = ("breast_cancer", "digits")


def _calibration_data(name: str):
    """(X, y) of a bundled data set, or of a synthetic one "synthetic-<features>x<classes>" (fixed seed)."""
    from . import data

    kind, _, shape = name.partition("-")
    if kind in ("synthetic", "sparse"):
        from sklearn.datasets import make_classification

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
    from . import train as train_module
    from .api import convert
    from .data import Dataset
    from .model_search import grid, variants

    X, y = _calibration_data(dataset_name)
    task = train_module.detect_task(y)
    dataset = Dataset(X, y, [f"x{i}" for i in range(X.shape[1])], "y")
    for spec in grid(task):
        estimator = train_module.fit(dataset, spec.kind, params=dict(spec.params), seed=0, task=task)
        for variant in variants(spec.kind):
            try:
                program = convert(estimator, dtype=variant.dtype, calibration=X, layout=variant.layout,
                                  bins=variant.bins).program
            except TinygenError:
                continue
            yield f"{dataset_name}: {spec.label} ({variant.label})", program, X


def _measure_all(target: str, set_names, cache: dict, jobs: int, echo) -> list:
    """[(label, program, X, measured)] for every candidate of the sets; measured comes from `cache` when there,
    else from the emulator (compare_on_target, as verify); candidates that cannot run there are left out."""
    from concurrent.futures import ThreadPoolExecutor

    from .api import ConvertedModel
    from .verify import compare_on_target

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


def _print_errors(model: CostModel, rows, echo) -> dict:
    echo(f"{'candidate':<58}{'cycles':>10}{'est.':>10}{'err':>8}{'max cyc':>10}{'est.':>10}{'err':>8}"
         f"{'flash':>8}{'est.':>8}{'err':>8}{'stack':>7}{'est.':>6}")
    pairs = []
    for label, program, X, measured in rows:
        estimate = model.estimate(program, X)
        pairs.append((estimate, measured))

        def err(e, m):
            return f"{100 * (e - m) / max(m, 1):+.1f}%"

        echo(f"{label[:57]:<58}{measured['cycles_per_inference']:>10.0f}{estimate.cycles_mean:>10.0f}"
             f"{err(estimate.cycles_mean, measured['cycles_per_inference']):>8}{measured['cycles_max']:>10.0f}"
             f"{estimate.cycles_max:>10.0f}{err(estimate.cycles_max, measured['cycles_max']):>8}"
             f"{measured['flash_bytes']:>8.0f}{estimate.flash_bytes:>8.0f}{err(estimate.flash_bytes, measured['flash_bytes']):>8}"
             f"{measured['stack_bytes']:>7.0f}{estimate.stack_bytes:>6.0f}")
    summary = errors(model, pairs)
    for quantity, stats in summary.items():
        echo(f"{quantity:<12} {stats['programs']} programs: max |error| {100 * stats['max_relative']:.1f}%, "
             f"mean {100 * stats['mean_relative']:.1f}%, {100 * stats['within_10_percent']:.0f}% of them within 10%; "
             f"largest {stats['max_absolute']:,.0f} {'cycles' if quantity.startswith('cycles') else 'B'}")
    return summary


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m tinygen.costmodel", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("calibrate", "check"),
                        help="calibrate: measure, fit and write the coefficients; check: the error on the check sets")
    parser.add_argument("--target", default="avr")
    parser.add_argument("--jobs", type=int, default=2, help="emulator runs in parallel")
    parser.add_argument("--cache", help="JSON file keeping measurements between runs (re-fit without re-measuring)")
    args = parser.parse_args(argv)
    cache_path = Path(args.cache) if args.cache else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    try:
        if args.command == "calibrate":
            fitted_on = _measure_all(args.target, CALIBRATION_SETS, cache, args.jobs, print)
            model = fit(args.target, [(program_features(p, X), m) for _, p, X, m in fitted_on])
            print(f"fitted on {len(fitted_on)} programs ({', '.join(CALIBRATION_SETS)}); in-sample:")
            in_sample = _print_errors(model, fitted_on, print)
        checked = _measure_all(args.target, CHECK_SETS, cache, args.jobs, print)
        if args.command == "check":
            model = load(args.target)
        print(f"left out of the fit: {len(checked)} candidates of {', '.join(CHECK_SETS)}")
        model.error = _print_errors(model, checked, print)
        if args.command == "calibrate":
            model.notes = {"fitted_on": list(CALIBRATION_SETS), "programs": len(fitted_on), "in_sample_error": in_sample,
                           "error_on": list(CHECK_SETS), "command": f"python3 -m tinygen.costmodel calibrate --target {args.target}"}
            model.save(coefficients_path(args.target))
            print(f"wrote {coefficients_path(args.target)}")
    finally:
        if cache_path:
            cache_path.write_text(json.dumps(cache, indent=0, sort_keys=True))


if __name__ == "__main__":
    main()
