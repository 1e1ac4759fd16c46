"""Passes over the float IR, run in order after a frontend (hls4ml's idea: each rewrite is a pass)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .errors import TinygenError
from .ops.dense import FloatDense
from .ops.gaussian_jll import FloatGaussianJLL
from .ops.trees import FloatTrees


def fold_dense_chains(program):
    """Merge consecutive FloatDense ops (scaler -> PCA -> linear model) into one: A2 (A1 x + b1) + b2."""
    folded = []
    for op in program.ops:
        if folded and isinstance(folded[-1], FloatDense) and isinstance(op, FloatDense):
            folded[-1] = folded[-1].then(op)
        else:
            folded.append(op)
    program.ops = folded
    return program


def fold_scaler_into_gaussian(program):
    """A per-feature scaler (a diagonal FloatDense) in front of GaussianNB moves into its means and variances;
    anything that mixes features (PCA) cannot, and is refused."""
    folded = []
    for op in program.ops:
        if folded and isinstance(folded[-1], FloatDense) and isinstance(op, FloatGaussianJLL):
            dense = folded.pop()
            off_diagonal = dense.weights - np.diag(np.diag(dense.weights)) if dense.n_in == dense.n_out else dense.weights
            if np.any(off_diagonal != 0):
                raise TinygenError("GaussianNB after PCA (or another step that mixes features) is not supported; "
                                   "put only per-feature scalers in front of it, or none")
            op = op.after_affine(np.diag(dense.weights).copy(), dense.bias)
        folded.append(op)
    program.ops = folded
    return program


def fold_scaler_into_trees(program):
    """A per-feature map with positive scales, x -> a x + b (a scaler, or a window program's integer features to
    real ones), moves into the trees' thresholds: a x + b <= t exactly when x <= (t - b) / a (float64 here; the
    window program's integer trees are defined on these thresholds). A zero scale makes the split constant."""
    folded = []
    for op in program.ops:
        if folded and isinstance(folded[-1], FloatDense) and isinstance(op, FloatTrees):
            dense = folded.pop()
            a = np.diag(dense.weights).copy() if dense.n_in == dense.n_out else None
            if a is None or np.any(dense.weights - np.diag(a) != 0) or np.any(a < 0):
                raise TinygenError("trees take raw features or per-feature scalers; a step that mixes or flips "
                                   "features (PCA) cannot fold into their thresholds")
            op = dataclasses.replace(op, trees=[_moved_thresholds(tree, a, dense.bias) for tree in op.trees])
        folded.append(op)
    program.ops = folded
    return program


def _moved_thresholds(tree, a: np.ndarray, b: np.ndarray):
    inner = tree.left >= 0
    feature = np.where(inner, tree.feature, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = (tree.threshold - b[feature]) / a[feature]
    constant = np.where(b[feature] <= tree.threshold, np.inf, -np.inf)  # a == 0: the split never changes
    threshold = np.where(inner, np.where(a[feature] == 0, constant, moved), tree.threshold)
    return dataclasses.replace(tree, threshold=threshold)


PASSES = (fold_dense_chains, fold_scaler_into_gaussian, fold_scaler_into_trees)


def run_passes(program):
    for step in PASSES:
        program = step(program)
    return program


# ---- calibrated passes (quantize runs them: they need the calibration rows) --------------------------------
FLOAT32_ULPS = 4  # a spread within this many float32 steps of a feature's magnitude is invisible to the MCU


@dataclass(frozen=True)
class IgnoredFeature:
    """A feature the first dense layer no longer reads: its values in the calibration rows stay within `spread`
    of `centre`, which the device cannot resolve (`reason`: "float32", "input_step" or "output_step"), so
    weight * centre went into the bias and its weight column is 0."""

    index: int
    name: str
    reason: str
    centre: float
    spread: float
    step: float  # the resolution it is below: float32 ulps, the input format's step or the output's

    def note(self) -> str:
        where = f"(spread {self.spread:.2g} around {self.centre:.8g}"
        why = {"float32": f"is constant to float32 resolution {where})",
               "input_step": f"varies less than half a step of its input format {where}, step {self.step:.3g})",
               "output_step": f"cannot move the output by half a step {where}; weight x spread below {self.step / 2:.3g})"}
        return f"feature '{self.name}' {why[self.reason]}: folded into the bias, the input is ignored"

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "reason": self.reason, "centre": self.centre,
                "spread": self.spread, "step": self.step, "note": self.note()}


def _centres_and_spreads(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature: the mean of its finite calibration values (a folded StandardScaler's own centre, so the
    folded constant is what the float model adds on average) and the largest distance from it (nan: none)."""
    finite = np.isfinite(X)
    count = finite.sum(axis=0)
    values = np.where(finite, X, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = values.sum(axis=0) / count
        spread = np.where(finite, np.abs(X - centre), 0.0).max(axis=0, initial=0.0)
    return centre, np.where(count > 0, spread, np.nan)


def fold_features_below_resolution(program, X: np.ndarray, input_steps=None):
    """(program, [IgnoredFeature]) with every feature the device cannot resolve folded out of the first
    FloatDense (a linear model, or an MLP's first layer, with its scaler folded in): bias += W[:, i] * centre_i
    in float64 and W[:, i] = 0. A feature is unresolvable when its calibration spread is below FLOAT32_ULPS
    float32 steps of its centre (the float32 input cannot carry it: StandardScaler's 1/sigma of 5e8 on such a
    feature would otherwise set the whole layer's weight format), or below half of its input format's step
    (input_steps, fixed point: its integers take one value, or two)."""
    if not program.ops or not isinstance(program.ops[0], FloatDense) or X.shape[0] == 0:
        return program, []
    centre, spread = _centres_and_spreads(np.asarray(X, dtype=np.float64))
    ignored = []
    for i in np.nonzero(np.isfinite(spread) & (np.abs(program.ops[0].weights).max(axis=0, initial=0.0) > 0))[0]:
        ulps = FLOAT32_ULPS * float(np.spacing(np.float32(abs(centre[i]))))
        if spread[i] < ulps:
            reason, step = "float32", ulps / FLOAT32_ULPS
        elif input_steps is not None and spread[i] < input_steps[i] / 2:
            reason, step = "input_step", float(input_steps[i])
        else:
            continue
        ignored.append(IgnoredFeature(int(i), str(program.feature_names[i]), reason, float(centre[i]),
                                      float(spread[i]), step))
    return _folded(program, centre, ignored), ignored


def fold_format_setter(program, X: np.ndarray, input_steps, out_step: float):
    """(program, [IgnoredFeature]): the feature whose weight per input step is the largest (the one that sets the
    first layer's weight format) folded out as fold_features_below_resolution does, when max_j |W[j, i]| *
    spread cannot move that layer's output by half of its step (out_step) even in the format it forces. Only
    that feature: folding any other leaves the formats as they are, and would hide what set them."""
    if not program.ops or not isinstance(program.ops[0], FloatDense) or X.shape[0] == 0:
        return program, []
    weights = np.abs(program.ops[0].weights).max(axis=0, initial=0.0)
    top = int(np.argmax(weights * np.asarray(input_steps, dtype=np.float64)))
    centre, spread = _centres_and_spreads(np.asarray(X, dtype=np.float64))
    if not np.isfinite(spread[top]) or weights[top] == 0 or weights[top] * spread[top] >= out_step / 2:
        return program, []
    ignored = [IgnoredFeature(top, str(program.feature_names[top]), "output_step", float(centre[top]),
                              float(spread[top]), float(out_step))]
    return _folded(program, centre, ignored), ignored


def _folded(program, centre: np.ndarray, ignored: list[IgnoredFeature]):
    """The program with the ignored features' weight * centre in the first FloatDense's bias, their weights 0."""
    if not ignored:
        return program
    dense = program.ops[0]
    columns = [f.index for f in ignored]
    weights, bias = dense.weights.copy(), dense.bias + dense.weights[:, columns] @ centre[columns]
    weights[:, columns] = 0.0
    return dataclasses.replace(program, ops=[FloatDense(weights, bias), *program.ops[1:]])
