"""Why a fixed-point program lost accuracy: the tensor whose format one outlier value set, the features that
dominate it, the share of values that saturate, and what to do. `tinygen verify` (and `export --calibration`)
print it when the accuracy drop is beyond the allowed one; the numbers per tensor are profiling.profile's.
"""
from __future__ import annotations

import numpy as np

from .ops.dense import FloatDense
from .ops.gaussian_jll import FloatGaussianJLL
from .profiling import profile

# A weight this many times the next largest (per input step) has taken the tensor's format: the others keep
# log2(OUTLIER_RATIO) = 3 bits fewer than they would without it.
OUTLIER_RATIO = 8.0


def diagnose(float_program, program, X: np.ndarray, stages=None) -> list[dict]:
    """[{"op", "tensor", "cause", "fix", ...}] for a fixed-point program (power-of-two or int8) against the float
    program it came from, on the rows X (stages: profiling.profile's of them, if already made); the causes found,
    most telling first, and last the wider dtype to try (where the family has one)."""
    if not program.is_fixed:
        return []
    if stages is None:
        stages = profile(float_program, program, X)
    n_inputs = program.n_features
    saturated = {stage.name.split(" ")[0]: stage.clipped for stage in stages[n_inputs:]}
    found = []
    for cause in _weight_outliers(float_program, program) + _variance_outliers(float_program, program):
        share = saturated.get(cause["op"].split(" ")[0])
        if share is not None:  # the op's outputs: does the format it got also clip them?
            cause.update(saturated=share, cause=cause["cause"] + f"; {share:.1%} of its outputs saturate")
        found.append(cause)
    named = {cause["op"].split(" ")[0] for cause in found}
    for stage in stages[n_inputs:]:
        if stage.clipped > 0 and stage.name.split(" ")[0] not in named:
            found.append({"op": stage.name, "tensor": "output", "saturated": stage.clipped,
                          "cause": f"{stage.name}: {stage.clipped:.1%} of its values saturate (format {stage.fmt.text})",
                          "fix": "calibrate on rows that cover the data's range (--calibration)"})
    clipped_inputs = [s for s in stages[:n_inputs] if s.clipped > 0]
    if clipped_inputs and not _saturation_decides_nothing(program):
        worst = max(clipped_inputs, key=lambda s: s.clipped)
        found.append({"op": "quantize_input", "tensor": "inputs", "saturated": worst.clipped,
                      "features": [s.name for s in clipped_inputs],
                      "cause": f"{len(clipped_inputs)} input feature(s) saturate beyond the calibration range "
                               f"(worst: '{worst.name}', {worst.clipped:.1%} of rows)",
                      "fix": _input_fix(program)})
    wider = _wider_dtype(program)
    return found + ([] if wider is None else [wider])


def _saturation_decides_nothing(program) -> bool:
    """True for q15/q7 trees: they only compare x_q with thresholds their formats put in [min, max - 1] of the
    input type (ops/trees/quantize.py, threshold_frac_bits), so a saturated input takes the branch it would take
    unsaturated, and no calibration range changes the formats."""
    return any(op.decision_input() == "x_q" for op in program.ops)


def _input_fix(program) -> str:
    """What to do about inputs beyond their formats: wider calibration, or declared raw scales that cover them."""
    if getattr(program.ops[0], "scales", None) is not None and program.window_op is not None:
        return ("declare raw sample scales whose int16 range covers the samples (export --raw-scale), or leave them "
                "out to choose the formats from the calibration windows")
    return "calibrate on rows that cover the data's range (--calibration)"


def _wider_dtype(program) -> dict | None:
    """The next dtype with more bits that the model's family exports with (quantize.py's lists); None if none."""
    kinds = {op.op for op in program.ops}
    if program.window_op is not None:  # window programs export in q15 or q7 (quantize.PREFIX_DTYPES)
        if program.dtype != "q7":
            return None
        wider = "q15"
    elif "tree_ensemble" in kinds:
        wider = "exact"
    else:  # q31 is for linear models only (no q31 activation tables, GaussianNB's squares would not fit)
        no_q31 = bool(kinds & {"activation", "int8_activation", "gaussian_jll"})
        wider = {"q7": "q15", "int8": "q15", "q15": "float32" if no_q31 else "q31", "q31": "float32"}[program.dtype]
    return {"op": None, "tensor": None, "cause": f"{program.dtype} may keep too few bits for this model",
            "fix": f"--dtype {wider} (or --dtype auto, which measures each dtype)"}


def _power_of_two_inputs(program):
    """The input conversion's per-feature formats where they are powers of two (q31, q15, q7), else None."""
    formats = program.ops[0].in_formats()
    return formats if formats and formats[0].frac_bits is not None else None


def _dense_pairs(float_program, program):
    """(index in program.ops, FloatDense, Dense, the Dense's input frac bits) where the typed ops follow the
    float ones one to one (power-of-two dtypes: an input conversion, then one op per float op)."""
    typed, formats = program.ops[1:], _power_of_two_inputs(program)
    if formats is None or len(typed) != len(float_program.ops):
        return
    in_frac = np.array([fmt.frac_bits for fmt in formats], dtype=np.float64)
    for index, (fop, op) in enumerate(zip(float_program.ops, typed), start=1):
        if isinstance(fop, FloatDense) and op.op == "dense" and not op.is_float:
            yield index, fop, op, np.broadcast_to(in_frac, (fop.n_in,))
        fmt = op.out_format()
        if fmt is None or fmt.frac_bits is None:
            return
        in_frac = np.asarray(fmt.frac_bits, dtype=np.float64)


def _weight_outliers(float_program, program) -> list[dict]:
    """Dense layers whose weight format one input's weights set: per input, the largest |weight| per input step
    (what dense.quantize fits into the weight type); the top one OUTLIER_RATIO times the next or more."""
    ignored = {f["index"] for f in program.ignored_features}
    found = []
    for index, fop, op, in_frac in _dense_pairs(float_program, program):
        weights = fop.weights.copy()
        if index == 1 and ignored:  # the program no longer reads these (passes.fold_features_below_resolution)
            weights[:, sorted(ignored)] = 0.0
        per_step = np.abs(weights).max(axis=0) * np.exp2(-in_frac)
        dominant = _dominant(per_step)
        if dominant is None:
            continue
        top, ratio = dominant
        names = _names("feature", [program.feature_names[i] for i in top]) if index == 1 else _names("hidden unit", top)
        nonzero = weights != 0
        nonzero[:, top] = False
        zeroed = float(np.mean(op.weights[nonzero] == 0)) if nonzero.any() else 0.0
        weight = float(fop.weights[np.argmax(np.abs(fop.weights[:, top[0]])), top[0]])
        fix = (f"rescale or drop {names} (e.g. a StandardScaler on it, or leave it out)" if index == 1 else
               "retrain with stronger regularization (e.g. --param alpha=...)")
        found.append({"op": f"#{index} dense", "tensor": "weights", "feature": names, "weight": weight,
                      "ratio": ratio, "rounded_to_zero": zeroed,
                      "cause": f"#{index} dense weights: format set by {names} weight {weight:.3g}, "
                               f"{ratio:.0f}x the next largest per input step; "
                               f"{zeroed:.0%} of the other weights round to 0",
                      "fix": fix})
    return found


def _variance_outliers(float_program, program) -> list[dict]:
    """GaussianNB: the squared-deviation terms (x - theta)**2 / (2 var) share one score format, set by the largest
    any input in range can give; one class-feature variance far below the rest (var_smoothing's floor under a
    feature constant within a class) takes every other term's precision."""
    fop = float_program.ops[0] if len(float_program.ops) == 1 else None
    formats = _power_of_two_inputs(program)
    if not isinstance(fop, FloatGaussianJLL) or formats is None:
        return []
    reach = np.array([-fmt.range[0] * fmt.scale for fmt in formats])  # the largest |x_q| in real units
    worst = (reach[None, :] + np.abs(fop.theta)) ** 2 / (2 * fop.var)
    per_feature = worst.max(axis=0)
    dominant = _dominant(per_feature)
    if dominant is None:
        return []
    top, ratio = dominant
    cls, first = np.unravel_index(np.argmin(np.where(np.isin(np.arange(fop.n_in), top)[None, :], fop.var, np.inf)),
                                  fop.var.shape)
    names = _names("feature", [program.feature_names[i] for i in top])
    label = program.labels[cls] if program.labels is not None else int(cls)
    return [{"op": "#1 gaussian_jll", "tensor": "inverse variances", "feature": names,
             "variance": float(fop.var[cls, first]), "ratio": ratio,
             "cause": f"#1 gaussian_jll terms: format set by {names} (smallest variance {fop.var[cls, first]:.3g}, "
                      f"class {label!r}), {ratio:.0f}x the largest term of every other feature",
             "fix": f"drop or rescale {names}, or raise var_smoothing (e.g. --param var_smoothing=1e-3)"}]


def _dominant(values: np.ndarray) -> tuple[list[int], float] | None:
    """(the indices of the largest values, largest first, ratio to the next) when a gap of OUTLIER_RATIO or more
    parts at most half of them from the rest (those few then set the format); None otherwise."""
    order = np.argsort(-values, kind="stable")
    ranked = values[order]
    for count in range(1, len(values) // 2 + 1):
        if ranked[count] > 0 and ranked[count - 1] >= OUTLIER_RATIO * ranked[count]:
            return [int(i) for i in order[:count]], float(ranked[count - 1] / ranked[count])
    return None


def _names(kind: str, names: list, shown: int = 3) -> str:
    """"feature 'a'", or "features 'a', 'b', 'c' and 4 more" (names quoted where they are text)."""
    quoted = [f"'{name}'" if isinstance(name, str) else str(name) for name in names]
    if len(quoted) == 1:
        return f"{kind} {quoted[0]}"
    more = len(quoted) - shown
    return f"{kind}s " + ", ".join(quoted[:shown]) + (f" and {more} more" if more > 0 else "")
