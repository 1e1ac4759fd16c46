"""Float IR + calibration data -> typed program (float32, q31, q15, q7): Q-format choice and range analysis.

Formats are power-of-two and per tensor, except the input conversion, which has one format per feature
(raw features such as breast_cancer's "mean area" (~2500) and "mean smoothness" (~0.1) cannot share one
without losing all resolution on the small one), and where _refine measures that finer ones help: per-input
weight formats in a dense layer, per-unit formats in an MLP's relu layers. Accumulators are proven not to
overflow (ops/dense.py). q15/q7 trees take each feature's format from its split thresholds, not from the
calibration range (_fixed_trees): saturation beyond the thresholds changes no branch.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from .errors import TinygenError
from .fixedpoint import FRAC_BITS_MAX
from .ir import NO_PROBA, Program
from .ops import anomaly_score, gaussian_jll, probability
from .ops.activation import FloatActivation
from .ops.dense import FloatDense
from .ops.base import QuantizeStep
from .ops.quantize_affine import QuantizeAffine
from .ops.quantize_input import QuantizeInput
from .ops.features.feature_input import FeatureInput
from .passes import fold_features_below_resolution, fold_format_setter, run_passes
from .ops.trees import (LAYOUTS, FloatTrees, OrderKeys, choose_layout, exact_variant, on_raw_input, quantize_exact,
                         quantize_fixed, threshold_frac_bits)


@dataclass(frozen=True)
class FixedSpec:
    bits: int  # inputs, weights and activations
    acc_bits: tuple[int, ...]  # accumulator widths to try, narrowest (fastest on AVR) first


FIXED = {
    "q31": FixedSpec(32, (64,)),
    "q15": FixedSpec(16, (32,)),
    "q7": FixedSpec(8, (16, 32)),
}
INT8_SPEC = FixedSpec(8, (32,))  # int8's tensors: 8-bit values, int32 accumulators (TFLM)
LINEAR_DTYPES = ("float32", "q31", "q15", "q7")
DTYPES = (*LINEAR_DTYPES, "int8", "exact")
TREE_DTYPES = ("exact", "float32", "q15", "q7")  # trees: float inputs (exact: integer compares) or pre-quantized ones
SCORE_BITS = 32  # NAME_scores writes int32_t


def check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise TinygenError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return dtype


def calibration_array(X_calib, n_features: int, dtype: str) -> np.ndarray:
    if X_calib is None:
        raise TinygenError(f"dtype {dtype} needs calibration data to choose its formats: pass calibration rows "
                           "(--calibration DATA.csv --label COLUMN)")
    X = np.asarray(X_calib, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features or X.shape[0] == 0:
        shape = X.shape[1] if X.ndim == 2 else X.shape
        raise TinygenError(f"calibration data must be rows of {n_features} features, got {shape}")
    if not np.isfinite(X).any():
        raise TinygenError("calibration data has no finite values")
    return X


LAYOUT_CHOICES = ("auto", *LAYOUTS)
# the `bins` argument by name (bench --bins): auto lets quantize take the smaller, on / off force bins / order keys
BINS_CHOICES = {"auto": None, "on": True, "off": False}


def quantize(program: Program, dtype: str, X_calib=None, layout: str = "auto", bins: bool | None = None,
             integer_inputs: bool = False) -> Program:
    """The typed program for `dtype` from a float program. Trees only: layout inline, table or auto; bins
    True (threshold bins), False (order keys) or None (whichever is smaller); integer_inputs, the inputs are
    integers (a window program's features: q15/q7 trees then take no format finer than frac_bits 0, _fixed_trees).
    Fixed-point classifiers whose scores are logits also get the integer predict_proba (ops/probability.py)."""
    if program.ops[0].is_prefix:
        return _quantize_with_prefix(program, dtype, X_calib, layout, bins)
    typed = _quantize_ops(program, dtype, X_calib, layout, bins, integer_inputs)
    if typed.is_fixed and typed.probability is not None:
        if typed.ops[-1].out_type != "int32":
            raise TinygenError(f"the integer predict_proba reads int32 scores, not {typed.ops[-1].out_type}")
        try:
            typed.proba = probability.plan(typed.probability, typed.n_outputs, len(typed.labels), typed.output_scale,
                                           typed.output_zero_point)
        except TinygenError as exc:  # logits too fine (or coarse) for a Q15 softmax: the model still predicts
            typed.notes.append(f"{NO_PROBA}: {exc}")
            typed.probability = None
    return typed


PREFIX_DTYPES = ("q15", "q7")


def _quantize_with_prefix(program: Program, dtype: str, X_calib, layout: str, bins: bool | None) -> Program:
    """A program whose first op computes the model's inputs on the device (window features, issue 16): the op
    quantizes itself on the calibration rows (quantize_prefix), the model is quantized as a model of the
    prefix's integer outputs, with their real scales and biases folded into it (affine_op), and the model's
    input conversion becomes the integer feature_input (for trees, with the formats their thresholds need:
    _fixed_trees)."""
    if dtype not in PREFIX_DTYPES:
        raise TinygenError(f"window programs export in {' or '.join(PREFIX_DTYPES)} for now, not {dtype}")
    prefix_op, rest = program.ops[0], program.ops[1:]
    X = calibration_array(X_calib, program.n_features, dtype)
    prefix, features, (scale, bias) = prefix_op.quantize_prefix(X)
    inner = dataclasses.replace(program, ops=[prefix_op.affine_op(scale, bias), *rest], n_features=prefix_op.n_out,
                                feature_names=prefix_op.feature_names())
    typed = quantize(run_passes(inner), dtype, features.astype(np.float64), layout, bins, integer_inputs=True)
    conversion = FeatureInput.like(typed.ops[0], prefix_op.n_out)
    return dataclasses.replace(typed, ops=[*prefix, conversion, *typed.ops[1:]], n_features=program.n_features,
                               feature_names=program.feature_names, ignored_features=[])


def _quantize_ops(program: Program, dtype: str, X_calib, layout: str, bins: bool | None,
                  integer_inputs: bool = False) -> Program:
    check_dtype(dtype)
    if layout not in LAYOUT_CHOICES:
        raise TinygenError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUT_CHOICES)}")
    base = dict(task=program.task, decision=program.decision, n_features=program.n_features,
                feature_names=program.feature_names, labels=program.labels, source=program.source,
                anomaly=program.anomaly, probability=program.probability)
    if any(isinstance(op, FloatTrees) for op in program.ops):
        return _quantize_trees(program, dtype, base, X_calib, layout, bins, integer_inputs)
    if layout != "auto" or bins is not None:
        raise TinygenError(f"--layout and --bins are for tree models; {program.source} has one layout")
    if any(isinstance(op, gaussian_jll.FloatGaussianJLL) for op in program.ops):
        return _quantize_gaussian(program, dtype, base, X_calib)
    hidden = any(isinstance(op, FloatActivation) for op in program.ops)
    takes = "float32, q15, q7 or int8" if hidden else "float32, q31, q15, q7 or int8"
    if dtype == "exact":
        raise TinygenError(f"dtype exact is for tree models; {program.source} takes {takes}")
    if not all(op.in_chain for op in program.ops):
        raise TinygenError("quantize expects a float program from a frontend")
    if hidden and dtype == "q31":
        raise TinygenError(f"{program.source} exports with dtype {takes} (q31 activation tables are not "
                           "implemented); use --dtype q15")
    if dtype == "int8":
        return _quantize_int8(program, base, X_calib)
    if dtype == "float32":
        notes = ["float32: C equals the simulator bit for bit when built without FMA contraction (-ffp-contract=off)"]
        return Program(dtype=dtype, ops=[op.to_float32() for op in program.ops], notes=notes, **base)
    return _quantize_fixed_dense(program, dtype, base, X_calib, hidden)


def _quantize_fixed_dense(program: Program, dtype: str, base: dict, X_calib, hidden: bool) -> Program:
    """Linear models and MLPs in q31/q15/q7: per-feature input formats (and offsets), then each dense layer and
    activation in turn, their formats from the calibration activations."""
    spec = FIXED[dtype]
    X = calibration_array(X_calib, program.n_features, dtype)
    first = QuantizeInput.from_calibration(X, spec.bits, offsets=isinstance(program.ops[0], FloatDense))
    refined, first, (program, ops, ignored) = _refine(
        program, lambda inputs, flags: _fold_and_quantize(program, dtype, inputs, X, flags), first, X, base, dtype)
    if hidden:
        tables = [op for op in ops if getattr(op, "table", None) is not None]
        notes_mlp = [f"hidden activations {spec.bits}-bit, formats from the calibration rows (one bit of headroom, "
                     "saturating)"] + [f"{op.kind} table of {len(op.table)} entries: max error {op.max_abs_error:.2g}"
                                       for op in tables[:1]]
    else:
        notes_mlp = []
    notes = [f"{dtype}: inputs {spec.bits}-bit with per-feature formats from {X.shape[0]} calibration rows; "
             "values beyond them saturate; accumulators cannot overflow (acc_bound <= acc_limit per op)"] + notes_mlp
    if first.has_offsets:
        notes.append(f"input offsets on {sum(1 for o in first.offsets if o)} of {first.n_in} features (the midpoints of "
                     "their calibration ranges, subtracted in the integer domain; the first layer's bias absorbs them)")
    notes += refined
    return Program(dtype=dtype, ops=ops, notes=notes, ignored_features=[f.to_dict() for f in ignored], **base)


# Refinements cost AVR cycles, and most models lose nothing without them: input offsets beyond the coarsely
# resolved features (ops/quantize_input.py), per-input weight formats in a linear model's or MLP's first layer
# (ops/dense.py, column shifts) and per-unit formats in an MLP's relu layers (row shifts). _refine measures every
# combination on the calibration rows and takes the cheapest whose error of the deciding scores is within
# 1 / REFINE_FACTOR of the best one's (changing no more classes). Measured: raw breast_cancer features in q7
# (SGDClassifier, no scaler; 10 splits) agree with the float model on 86 % of held-out rows without offsets,
# 96 % with them; raw BasicMotions features with LogisticRegression need per-input weight formats.
REFINE_FACTOR = 0.75
# ... and none where the plain formats' score error is at most this: an RMS error of 1 % of the deciding scores
# moves only rows on the boundary, and the refinements would cost cycles for nothing (breast_cancer's scaled
# LogisticRegression in q15: offsets on its 30 features in the 32-bit conversion took the Uno from 5,663 to
# 10,008 cycles per inference, with 569 of 569 rows agreeing either way).
REFINE_FLOOR = 0.01


def _calibration_errors(float_program: Program, float_scores: np.ndarray, typed: Program,
                        X: np.ndarray) -> tuple[float, float]:
    """(score error, share of rows whose class differs; 0 for regressors) of `typed` against the float program,
    whose scores on X are `float_scores`. The score error is the RMS difference over the float values' RMS
    (regressors: their standard deviation) of what decides: a classifier's margin between its float-best and
    float-second class (one output: the score), a regressor's output. (Whole score vectors would weigh classes
    that never win: GaussianNB caps their terms.)"""
    typed_scores = typed.scores(X)
    want, got = float_scores, np.asarray(typed_scores, dtype=np.float64)
    if typed.output_scale is not None:
        got = (got - typed.output_zero_point) * typed.output_scale
    if float_program.task != "classification":
        want, got, scale = want[:, 0], got[:, 0], float(np.std(want[:, 0]))
    else:
        if want.shape[1] > 1:
            rows, order = np.arange(len(want)), np.argsort(-want, axis=1, kind="stable")
            best, second = order[:, 0], order[:, 1]
            want, got = want[rows, best] - want[rows, second], got[rows, best] - got[rows, second]
        else:
            want, got = want[:, 0], got[:, 0]
        finite = np.isfinite(want) & np.isfinite(got)  # a class of prior 0 scores -inf
        want, got = want[finite], got[finite]
        scale = float(np.sqrt(np.mean(want ** 2))) if len(want) else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        score_error = float(np.sqrt(np.mean((want - got) ** 2)) / scale) if scale > 0 else 0.0
    if float_program.task != "classification":
        return score_error, 0.0
    changed = float(np.mean(float_program.decide(float_scores) != typed.decide(typed_scores)))
    return score_error, changed


def _has(attribute: str):
    return lambda ops: any(getattr(op, attribute, None) is not None for op in ops)


# (what, the flag build() takes, whether a build's ops use it): the finer formats of linear models and MLPs
DENSE_REFINEMENTS = (("per-input weight formats in the first layer (column shifts)", "columns", _has("col_shifts")),
                     ("per-unit formats in the hidden layers (row shifts)", "units", _has("row_shifts")))


def _refine(program: Program, build, first: QuantizeInput, X: np.ndarray, base: dict, dtype: str,
            finer=DENSE_REFINEMENTS) -> tuple[list[str], QuantizeInput, tuple]:
    """(notes, input conversion, build's result): `build(inputs, flags)` (a (program, ops, ignored) triple) with
    every combination of the refinements that cost cycles (offsets on every feature they give a bit, each flag of
    `finer` that changes the ops), measured on the calibration rows (_calibration_errors). The best combination
    changes the fewest classes, then has the least score error; the one taken is the cheapest (fewest refinements,
    then their order) that changes no more classes and whose score error is within 1 / REFINE_FACTOR of it. None
    where the plain formats' score error is at most REFINE_FLOOR."""
    float_scores = program.scores(X)

    def errors_of(ops: list) -> tuple[float, float]:
        return _calibration_errors(program, float_scores, Program(dtype=dtype, ops=ops, **base), X)

    plain = build(first, frozenset())
    measured = [((), first, plain, errors_of(plain[1]))]
    if measured[0][3][0] <= REFINE_FLOOR:
        return [], first, plain  # the plain formats already decide as the float model does
    wider = QuantizeInput.from_calibration(X, FIXED[dtype].bits, offsets=True, every_gain=True)
    names = {"offsets": "input offsets on every feature they give a bit", **{flag: what for what, flag, _ in finer}}
    available = ["offsets"] if (wider.frac_bits, wider.offsets) != (first.frac_bits, first.offsets) else []
    available += [flag for _, flag, _ in finer]
    uses = {flag: used for _, flag, used in finer}
    for combo in itertools.chain.from_iterable(itertools.combinations(available, k) for k in range(1, len(available) + 1)):
        inputs = wider if "offsets" in combo else first
        built = build(inputs, frozenset(combo) - {"offsets"})
        if any(flag != "offsets" and not uses[flag](built[1]) for flag in combo):
            continue  # a refinement that changes nothing here
        measured.append((combo, inputs, built, errors_of(built[1])))
    best = min(errors[::-1] for *_, errors in measured)  # (classes changed, score error)
    combo, inputs, built, errors = next(m for m in measured
                                        if m[3][1] <= best[0] and m[3][0] <= best[1] / REFINE_FACTOR)
    if not combo:
        return [], inputs, built
    before = measured[0][3]
    return [f"{', '.join(names[flag] for flag in combo)}: on the calibration rows the score error falls from "
            f"{before[0]:.4f} to {errors[0]:.4f} (RMS, relative to the float model's deciding scores), classes changed "
            f"{before[1]:.4f} -> {errors[1]:.4f}"], inputs, built


def _fold_and_quantize(program: Program, dtype: str, first: QuantizeInput, X: np.ndarray,
                       finer: frozenset = frozenset()):
    """(program, typed ops, [IgnoredFeature]): the features the device cannot resolve folded into the bias
    (passes.fold_features_below_resolution), then, while the feature that sets the first layer's weight format
    cannot move its output by half a step (passes.fold_format_setter), that one too and the formats again."""
    steps = np.exp2(-np.asarray(first.frac_bits, dtype=np.float64))
    program, ignored = fold_features_below_resolution(program, X, steps)
    ops = _layer_chain(program, first, X, dtype, finer)
    for _ in range(program.n_features):
        program, more = fold_format_setter(program, X, steps, 2.0 ** -np.min(ops[1].out_frac_bits))
        if not more:
            break
        ignored += more
        ops = _layer_chain(program, first, X, dtype, finer)
    return program, ops, ignored


def _layer_chain(program: Program, first, X: np.ndarray, dtype: str, finer: frozenset = frozenset()) -> list:
    """The typed ops of a linear model or MLP: the input conversion `first`, then each float op (dense layers,
    activations) quantized in turn (FloatOp.quantize(QuantizeStep), ops/base.py) from its outputs on the calibration
    rows X run through the float program; None (a fused op) is left out. `finer`: "columns", the first layer takes
    per-input weight formats; "units", hidden layers before a relu give each unit its own format, and the layer
    after reads them with per-input weight formats (ops/dense.py)."""
    spec = FIXED.get(dtype, INT8_SPEC)
    ops, fmt, in_range = [first], first.out_format(), None
    offsets = np.asarray(fmt.offset, dtype=np.float64)  # per feature (q formats with input offsets), or 0
    activations = np.where(np.isfinite(X), X, 0.0) - offsets  # x_q holds x - offset
    for index, fop in enumerate(program.ops):
        nxt = program.ops[index + 1] if index + 1 < len(program.ops) else None
        if index == 0 and np.any(offsets):  # the first layer sees x - offset; its bias takes w . offset
            fop = fop.with_input_offsets(offsets)
        activations = fop.forward(activations)
        out_bits = SCORE_BITS if nxt is None else spec.bits
        step = QuantizeStep(dtype, spec.bits, spec.acc_bits, out_bits, ops[-1].out_type, fmt, activations, nxt, in_range,
                            finer, first=index == 0)
        qop = fop.quantize(step)
        if qop is None:  # fused into the op before (int8's relu)
            continue
        ops.append(qop)
        fmt, in_range = qop.out_format(), qop.out_range
    return ops


GAUSSIAN_DTYPES = ("float32", "q15", "q7")  # q31 inputs would square beyond 32 bits


def _quantize_gaussian(program: Program, dtype: str, base: dict, X_calib=None) -> Program:
    """GaussianNB: float32 as plain float C, or q15/q7 inputs (per-feature formats) and int32 scores."""
    if dtype not in GAUSSIAN_DTYPES:
        raise TinygenError(f"{program.source} exports with dtype {', '.join(GAUSSIAN_DTYPES)}, not {dtype}")
    (fop,) = program.ops
    if dtype == "float32":
        notes = ["float32: C equals the simulator bit for bit when built without FMA contraction (-ffp-contract=off)"]
        return Program(dtype=dtype, ops=[fop.to_float32()], notes=notes, **base)
    spec = FIXED[dtype]
    X = calibration_array(X_calib, program.n_features, dtype)
    finite_rows = X[np.all(np.isfinite(X), axis=1)]

    def build(inputs: QuantizeInput, _):  # the jll reads x_q - theta_q: theta takes the offsets
        return program, [inputs, gaussian_jll.quantize(fop, inputs.frac_bits, spec.bits, finite_rows,
                                                       offsets=inputs.offsets)], []

    refined, first, (_, (_, typed), _) = _refine(program, build, QuantizeInput.from_calibration(X, spec.bits, offsets=True),
                                                 X, base, dtype, finer=())
    saturation = "scores of inputs far outside the calibration range may saturate at INT32_MIN" if typed.saturate \
        else "no input can saturate a score"
    notes = [f"{dtype}: inputs {spec.bits}-bit with per-feature formats from {X.shape[0]} calibration rows; "
             f"jll in Q{typed.out_frac_bits} from squared deviations, no overflow anywhere; {saturation}; "
             "error bound: tinygen/ops/gaussian_jll.py"]
    if typed.term_cap is not None:  # the cap's argmax proof covers rows whose winner gap is below it
        cap_nats = typed.term_cap * 2.0 ** -typed.out_frac_bits
        covered = int(np.sum(gaussian_jll.winner_gaps(fop, finite_rows) < cap_nats))
        notes.append(f"each per-feature term capped at {cap_nats:.4g} nats: cannot change the argmax of a row whose "
                     f"best class is within that of the largest class constant ({covered} of {len(finite_rows)} "
                     "calibration rows)")
    if first.has_offsets:
        notes.append(f"input offsets on {sum(1 for o in first.offsets if o)} of {first.n_in} features (the midpoints of "
                     "their calibration ranges, subtracted in the integer domain from x and from the class means)")
    notes += refined
    return Program(dtype=dtype, ops=[first, typed], notes=notes, **base)


def _quantize_int8(program: Program, base: dict, X_calib) -> Program:
    """TFLM-style affine int8: per-feature input quantization, then one fully_connected per dense layer
    (per-channel int8 weights, int32 bias, double-rounding requantization, relu fused). Every tensor's scale
    and zero point come from its min/max (0 included) on the calibration data, as the TFLite converter does."""
    if any(isinstance(op, FloatActivation) and op.kind not in ("relu", "tanh", "logistic") for op in program.ops):
        kinds = sorted({op.kind for op in program.ops if isinstance(op, FloatActivation)})
        raise TinygenError(f"dtype int8 supports relu, tanh and logistic hidden layers, not {', '.join(kinds)}; use --dtype q15 or q7")
    X = calibration_array(X_calib, program.n_features, "int8")
    program, ignored = fold_features_below_resolution(program, X)  # below float32 resolution: scale ~ 1e-11 otherwise
    first = QuantizeAffine.from_calibration(X)
    ops = _layer_chain(program, first, X, "int8")
    notes = ["int8: TFLM affine int8 (per-channel symmetric weights, int32 bias, multiplier + shift with double rounding, "
             "relu fused; tanh/logistic as TFLM's int8 kernels, tabulated); inputs quantized per feature (x / scale in float32, half away from zero, + zero point), "
             "whose scales and zero points fold into the first layer"]
    return Program(dtype="int8", ops=ops, notes=notes, ignored_features=[f.to_dict() for f in ignored], **base)


def _quantize_trees(program: Program, dtype: str, base: dict, X_calib=None, layout: str = "auto",
                    bins: bool | None = None, integer_inputs: bool = False) -> Program:
    typed = _typed_trees(program, dtype, base, X_calib, layout, bins, integer_inputs)
    if program.anomaly is not None:  # IsolationForest: the integer score_samples reads the tree sum
        typed.anomaly = dict(program.anomaly)
        typed.anomaly_score_op = anomaly_score.plan(typed.ops[-1], program.anomaly)
    return typed


def _typed_trees(program: Program, dtype: str, base: dict, X_calib=None, layout: str = "auto",
                 bins: bool | None = None, integer_inputs: bool = False) -> Program:
    if dtype not in TREE_DTYPES:
        raise TinygenError(f"trees export with dtype {', '.join(TREE_DTYPES)} in this tinygen ({dtype} comes later): "
                           "use --dtype exact for float inputs")
    (trees,) = program.ops
    if dtype in FIXED:  # pre-quantized integer inputs, per-feature formats from the thresholds
        if bins is not None:  # --no-bins too: silently ignoring it would hide a mistaken command
            raise TinygenError(f"threshold bins are for dtype exact; {dtype} trees already compare {dtype} integers "
                               "(leave the bins choice unset)")
        return _fixed_trees(program, dtype, base, X_calib, layout, integer_inputs)
    typed, features = quantize_exact(trees)
    if dtype == "float32":
        return _float32_trees(typed, features, program.n_features, layout, bins, base)
    first, typed = exact_variant(typed, features, program.n_features, layout, bins)
    what = {"bits": "the raw float32 bits", "keys": "order keys", "bins": f"{typed.in_type} threshold bins"}[typed.in_kind]
    notes = [f"exact: every split compares integers ({what}) and takes scikit-learn's branch for every float32 "
             f"input; {typed.pruned_nodes} nodes of splits with equal subtrees removed; {typed.layout} layout"]
    return Program(dtype=dtype, ops=[first, typed], notes=notes, **base)


def _fixed_trees(program: Program, dtype: str, base: dict, X_calib, layout: str, integer_inputs: bool) -> Program:
    """q15/q7 trees: each feature's input format is the finest in which all its split thresholds T = floor(t 2^f)
    lie in [lo, hi - 1] (threshold_frac_bits, ops/trees/quantize.py), so an input beyond them saturates and still
    takes the branch its unsaturated value would; the calibration rows only give the formats of the features no
    split reads (the integer input API still converts them). Integer inputs (a window program's features q) take
    at most frac_bits 0: for f >= 0, q 2^f <= floor(t 2^f) iff q <= t, so the splits are already exact for every q,
    and feature_input's shift (at most 30 in the C) is then 0."""
    spec = FIXED[dtype]
    calibrated = QuantizeInput.from_calibration(calibration_array(X_calib, program.n_features, dtype), spec.bits)
    (trees,) = program.ops
    frac_bits = threshold_frac_bits(trees, spec.bits, calibrated.frac_bits,
                                    max_frac_bits=0 if integer_inputs else FRAC_BITS_MAX)
    first = dataclasses.replace(calibrated, frac_bits=frac_bits)
    typed = quantize_fixed(trees, first.frac_bits, spec.bits)
    typed = dataclasses.replace(typed, layout=choose_layout(typed, layout))
    notes = [f"{dtype}: a split goes left when x_q <= floor(t * 2^frac_bits), exact for the quantized input; input "
             "formats from the split thresholds (each feature's finest with every threshold in [min, max - 1] of "
             f"{typed.in_type}: an input beyond them saturates and takes the branch its unsaturated value would); "
             f"NaN inputs become 0 in the conversion; {typed.pruned_nodes} nodes of decided splits and equal "
             f"subtrees removed; {typed.layout} layout"]
    return Program(dtype=dtype, ops=[first, typed], notes=notes, **base)


def _float32_trees(typed, features: list[int], n_features: int, layout: str, bins: bool | None, base: dict) -> Program:
    """float32: the exact program's trees comparing float32 features with float32 thresholds (inline code; for
    MCUs with an FPU, or where float compares are wanted). Leaves and sums stay integers."""
    if bins or layout == "table":
        raise TinygenError("float32 trees compare floats in inline code; for tables or threshold bins use --dtype exact")
    typed = dataclasses.replace(on_raw_input(typed, features, n_features, "float"), in_type="float32", layout="inline")
    notes = ["float32: every split compares the float32 feature with the largest float32 at or below scikit-learn's "
             f"threshold (the same branch); integer leaves; {typed.pruned_nodes} nodes of equal subtrees removed"]
    return Program(dtype="float32", ops=[OrderKeys(n_in=n_features, mode="float"), typed], notes=notes, **base)
