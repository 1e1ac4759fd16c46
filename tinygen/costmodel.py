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
  test and its nonzero constant bytes, per leaf value), each C primitive the header carries (once, however many
  ops call it), predict_proba / score_samples where the program has them, and the soft-float routines it pulls in.
- stack: a frame per op plus the bytes of the intermediate buffers (exactly).
- ram (static .data + .bss): fitted like flash (0 for every calibrated program: tables live in flash).

Coefficients are fitted by non-negative least squares (weighted for relative error) on emulator measurements
of the search's own candidates on calibration data sets (fixed-point programs add their measured
NAME_predict_q on AVR, which tells the input conversion apart), per target, and stored in costmodel_<target>.json
beside this file with the error on the candidates of data sets left out (tinygen/costmodel_calibrate.py):

    tinygen costmodel calibrate --target avr     # measure, fit, check, write the JSON (~20 min; QEMU targets ~15)
    tinygen costmodel check --target avr         # re-measure the error on the left-out candidates

Every search board's target has one: avr (simavr: cycles), cortex-m4, cortex-m0, rv32 and xtensa-lx106 (QEMU:
instructions, which stand in for cycles there). The counts are the same for every target; where one names an AVR
detail (shift loops, the 63-byte displacement, soft-float zeros), a core without it gets a small coefficient
there (the Cortex-M4F's FPU: 0 for every soft-float routine's flash).

The counts follow the C templates; when a template changes its cost, run `calibrate` again. Programs with a
count never calibrated get an estimate flagged `calibrated=False` (the search then measures before trusting it).

Trees have a second flash estimate, ops/trees/layout.estimate_bytes, which `convert` uses to choose a layout
(and quantize.py the bins): it must give the same answer for every target and never move with a recalibration
(the C that `export` writes would change with a data file), so it is constants in code, not these coefficients.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .emit import header_helpers
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
    for head in program.heads:  # predict_proba / score_samples: the harness calls them, so they are linked
        features.add_flash(f"head/{head.op}:code", 1)
        features.add_flash("tables:bytes", sum(head.table_bytes().values()))
    # each C primitive the header carries, once however many ops call it (tinygen/c_primitives.py)
    for name in header_helpers(program)[1]:
        features.add_flash(f"primitive:{name}", 1)
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
                           f"make one with: tinygen costmodel calibrate --target {target}")
    data = json.loads(path.read_text())
    return CostModel(target=data["target"], coefficients=data["coefficients"], error=data.get("error", {}),
                     notes=data.get("notes", {}))


def slowest_row(measured: dict) -> float:
    """The slowest row's count in a target's measurement: cycles_max (simavr's AVR cycles), else instructions_max
    (QEMU counts instructions; they stand in for cycles there, as cycles_per_inference does)."""
    return measured["cycles_max"] if "cycles_max" in measured else measured["instructions_max"]


def errors(model: CostModel, rows: list[tuple[Estimate, dict]]) -> dict:
    """Per quantity: max, mean, median and 90th percentile relative error, max absolute error of the estimates
    against measurements."""
    pairs = {"cycles_mean": [(e.cycles_mean, m["cycles_per_inference"]) for e, m in rows],
             "cycles_max": [(e.cycles_max, slowest_row(m)) for e, m in rows],
             "flash": [(e.flash_bytes, m["flash_bytes"]) for e, m in rows],
             "stack": [(e.stack_bytes, m["stack_bytes"]) for e, m in rows]}
    out = {}
    for quantity, values in pairs.items():
        est = np.array([v[0] for v in values], dtype=np.float64)
        meas = np.array([v[1] for v in values], dtype=np.float64)
        relative = np.abs(est - meas) / np.maximum(meas, 1.0)
        out[quantity] = {"programs": len(values), "max_relative": round(float(relative.max(initial=0.0)), 4),
                         "mean_relative": round(float(relative.mean()) if len(values) else 0.0, 4),
                         "median_relative": round(float(np.median(relative)) if len(values) else 0.0, 4),
                         "p90_relative": round(float(np.percentile(relative, 90)) if len(values) else 0.0, 4),
                         "within_10_percent": round(float((relative <= 0.1).mean()) if len(values) else 0.0, 4),
                         "max_absolute": round(float(np.abs(est - meas).max(initial=0.0)), 1)}
    return out


if __name__ == "__main__":  # the calibration had its own command here before: say where it went
    raise SystemExit("error: the cost model's calibration moved: tinygen costmodel calibrate|check --target T")
