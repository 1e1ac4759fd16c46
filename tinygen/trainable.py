"""The trainable quantize path (issue 17, docs/trainable-spec.md): a linear model (and its StandardScaler) ->
[quantize_input (frozen, offsets = the scaler's mean), standardize (frozen), trainable_dense] in q15, whose last op
learns on the device with integer SGD (ops/trainable_dense.py) and in the simulator, bit for bit. An MLP -> its
frozen q15 body (quantize.py's MLP path: the input conversion, the dense layers and activations) and trainable_dense
on the last hidden activations (int16 in one format) in place of the last layer.

Formats: the input conversion holds max |x - mean| of the calibration rows with QuantizeInput.HEADROOM; z in one
common format (ops/standardize.py); the master weights' WF as large as lets the exported weights and bias grow GROWTH
times within the proof's limits, capped so that every shift of an update is a right shift of at most 31 (the
schedule's shift is capped to match)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .errors import TinygenError
from .frontend import feature_names_for
from .frontend.trainable import TrainableModel, is_mlp, trainable_head, trainable_model
from .ir import Program, json_value
from .ops import learning_rate, probability, standardize
from .ops.quantize_input import WIDE_CHOICES, QuantizeInput
from .ops.trainable_dense import CLASS_GRAD_FRAC_BITS, TrainableDense, weight_limits
from .qparams import frac_bits_for, round_half_away
from .quantize import calibration_array, quantize

DTYPES = ("q15",)
GROWTH = 4.0  # the exported weights may grow this much before they saturate
WEIGHT_FLOOR = 0.25  # weights below this in magnitude still get the room of this one (a model fitted to zeros)
TARGET_HEADROOM = 4.0  # squared_error: the gradient's format holds 4 max |prediction| on the calibration rows


def centred_input(X: np.ndarray, mean: np.ndarray, wide_bits: int | None = None) -> QuantizeInput:
    """The q15 input conversion with the means as offsets: per feature the most frac bits that hold max |x - mean|
    (with HEADROOM) and convert x into the wide range `wide_bits` (None: 16 bits when that costs no feature a bit,
    else 31; convert_trainable takes 16 where standardize's plan comes out the same, see _conversion)."""
    finite = np.where(np.isfinite(X), X, np.nan)
    low, high = (np.nan_to_num(f(finite, axis=0), nan=0.0) for f in (np.nanmin, np.nanmax))
    spread = np.maximum(np.abs(high - mean), np.abs(low - mean))
    size = np.maximum(np.maximum(np.abs(low), np.abs(high)), np.abs(mean))
    headroom = QuantizeInput.HEADROOM
    choices = {}
    for wide in WIDE_CHOICES:
        frac_bits = [min(frac_bits_for(headroom * float(d), 16), frac_bits_for(headroom * float(m), wide))
                     for d, m in zip(spread, size)]
        choices[wide] = frac_bits
    if wide_bits is None:
        wide_bits = min(WIDE_CHOICES, key=lambda w: (-sum(choices[w]), w))
    frac_bits = choices[wide_bits]
    offsets = [int(round_half_away(np.ldexp(m, f))) for m, f in zip(mean, frac_bits)]
    if not any(offsets):
        return QuantizeInput(out_type="int16", frac_bits=frac_bits)
    return QuantizeInput(out_type="int16", frac_bits=frac_bits, offsets=offsets, wide_bits=wide_bits)


def _grad_frac_bits(loss: str, acc_frac_bits: int, predictions: np.ndarray) -> int:
    if loss == "squared_error":
        largest = float(np.max(np.abs(predictions[np.isfinite(predictions)]), initial=0.0))
        return min(frac_bits_for(TARGET_HEADROOM * largest, 16), 14, acc_frac_bits - 1)
    if loss == "squared_hinge":
        return min(CLASS_GRAD_FRAC_BITS[loss], acc_frac_bits - 1)
    return CLASS_GRAD_FRAC_BITS[loss]


def _formats(model: TrainableModel, z_frac: int, k0: int, predictions: np.ndarray) -> tuple[int, int]:
    """(WF, GF): the master weights' frac bits and the gradient's (module doc)."""
    w_max, b_max = weight_limits(model.weights.shape[1])
    w_size = max(float(np.max(np.abs(model.weights), initial=0.0)), WEIGHT_FLOOR)
    b_size = float(np.max(np.abs(model.bias), initial=0.0))
    wf = min(16 + math.floor(math.log2(w_max / (GROWTH * w_size))), 31)
    if b_size > 0:
        wf = min(wf, 16 - z_frac + math.floor(math.log2(b_max / (GROWTH * b_size))))
    while wf - 16 + z_frac >= 1:  # AF >= 1
        gf = _grad_frac_bits(model.loss, wf - 16 + z_frac, predictions)
        capped = min(wf, gf + z_frac + k0, gf + k0 + 16 - z_frac)  # every update shift >= 0 at the largest rate
        if capped == wf:
            return wf, gf
        wf = capped
    # squared_hinge and squared_error read the score in a format coarser than the scores' (GF < AF), so a rate of 1
    # would shift the bias step left
    raise TinygenError(f"the learning rate 2^-{k0} is too large for the trainable {model.loss} layer of this model; "
                       "take a smaller one (--learning-rate constant:2^-4, say)")


def plan_layer(model: TrainableModel, z_frac: int, schedule: learning_rate.Schedule, l2_shift: int | None,
               predictions: np.ndarray) -> TrainableDense:
    """The trainable layer of `model` on inputs of z_frac frac bits, its shifts within [0, 31] for every step."""
    wf, gf = _formats(model, z_frac, schedule.k0, predictions)
    af = wf - 16 + z_frac
    if af < 1 or gf < 0:
        raise TinygenError(f"the model's weights or intercepts are too large for the trainable q15 layer (largest "
                           f"{np.max(np.abs(model.weights)):.3g}, {np.max(np.abs(model.bias)):.3g}); refit it on "
                           "scaled features")
    k_cap = min(learning_rate.K_MAX, 31 - (gf + z_frac - wf), 31 - (gf - af))
    w_max, b_max = weight_limits(model.weights.shape[1])
    weights = np.clip(round_half_away(np.ldexp(model.weights, wf)), -(w_max << 16), w_max << 16)
    bias = np.clip(round_half_away(np.ldexp(model.bias, af)), -b_max, b_max)
    sigmoid = probability.plan("logistic", 1, 2, 2.0 ** -af, 0) if model.loss == "log_loss" else None
    n_out = model.weights.shape[0]
    softmax = probability.plan("softmax", n_out, n_out, 2.0 ** -af, 0) if model.loss == "softmax_log_loss" else None
    return TrainableDense(loss=model.loss, init_weights=weights, init_bias=bias, weight_frac_bits=wf,
                          z_frac_bits=z_frac, grad_frac_bits=gf, schedule=schedule.capped(k_cap), l2_shift=l2_shift,
                          sigmoid=sigmoid, softmax=softmax)


def convert_trainable(estimator, dtype: str | None, calibration, learning_rate_spec: str | None = None,
                      l2: float | None = None, feature_names=None) -> Program:
    """The trainable program of a fitted estimator (frontend/trainable.py lists what is supported)."""
    if dtype not in (None, *DTYPES):
        raise TinygenError(f"trainable export takes dtype {' or '.join(DTYPES)}, not {dtype}")
    if is_mlp(estimator):
        return convert_head(estimator, calibration, *_rates(learning_rate_spec, l2), feature_names)
    model = trainable_model(estimator)
    n_features = model.weights.shape[1]
    X = calibration_array(calibration, n_features, "q15")
    schedule, l2_shift = _rates(learning_rate_spec, l2)
    z_calib = np.where(np.isfinite(X), X, model.mean) - model.mean
    z_calib = z_calib / model.std
    conversion, scaler, notes = _conversion(X, model, z_calib)
    layer = plan_layer(model, scaler.z_frac_bits, schedule, l2_shift, z_calib @ model.weights.T + model.bias)
    names = feature_names_for(estimator, feature_names, n_features)
    decision = "value" if model.task == "regression" else ("positive" if layer.n_out == 1 else "argmax")
    return Program(dtype="q15", task=model.task, decision=decision, n_features=n_features, feature_names=names,
                   labels=None if model.labels is None else [json_value(v) for v in model.labels],
                   ops=[conversion, scaler, layer], source=model.source, notes=[layer_note(layer)] + notes,
                   probability=model.probability, proba=layer.proba if model.probability else None)


def _rates(learning_rate_spec: str | None, l2) -> tuple[learning_rate.Schedule, int | None]:
    """(the schedule, the L2 shift or None) of --learning-rate and --l2."""
    alpha = None if l2 is None else learning_rate.parse_rate(l2)
    l2_shift = None if alpha is None else learning_rate.shift_of(alpha)
    if l2_shift is not None and not 0 <= l2_shift <= 31:
        raise TinygenError(f"the L2 alpha {alpha:g} rounds to 2^{-l2_shift}; tinygen takes alphas from 1 down to 2^-31")
    return learning_rate.plan(learning_rate_spec, None if l2_shift is None else 2.0 ** -l2_shift), l2_shift


def layer_note(layer: TrainableDense) -> str:
    return (f"trainable q15: {layer.loss} SGD on the device; master weights int32 with {layer.weight_frac_bits} frac "
            f"bits (the forward reads their upper int16), z with {layer.z_frac_bits}, scores with "
            f"{layer.acc_frac_bits}; learning rate {describe(layer.schedule)}"
            + (f", L2 alpha 2^-{layer.l2_shift}" if layer.l2_shift is not None else ""))


def convert_head(estimator, calibration, schedule: learning_rate.Schedule, l2_shift: int | None,
                 feature_names=None) -> Program:
    """An MLP with a trainable head: the network quantized as a frozen q15 MLP (quantize.py: formats, refinements
    and notes as without --trainable; its last hidden activation in one format, ops/activation.py head_input), whose
    last dense layer is then replaced by trainable_dense on that activation's format (the float last layer's weights,
    planned as a linear model's: plan_layer)."""
    head = trainable_head(estimator, feature_names)
    program = head.program
    X = calibration_array(calibration, program.n_features, "q15")
    typed = quantize(program, "q15", X)
    body, hidden = typed.ops[:-1], typed.ops[-2].out_format()
    if hidden is None or hidden.per_channel or hidden.offset or hidden.type_name != "int16" \
            or not 0 <= hidden.frac_bits <= 15:
        raise TinygenError(f"the last hidden layer's activations ({'n/a' if hidden is None else hidden.text}) are "
                           "beyond the trainable head's int16 input with 0 to 15 frac bits; refit the MLP on "
                           "scaled features")
    with np.errstate(all="ignore"):
        predictions = program.scores(np.where(np.isfinite(X), X, 0.0))
    layer = plan_layer(head.model, hidden.frac_bits, schedule, l2_shift, predictions)
    return dataclasses.replace(typed, ops=[*body, layer], notes=[layer_note(layer)] + typed.notes,
                               proba=layer.proba if head.model.probability else None,
                               probability=head.model.probability)


def _conversion(X: np.ndarray, model: TrainableModel, z_calib: np.ndarray):
    """(input conversion, standardize op, notes): the 16-bit wide conversion (AVR: ~80 cycles a feature less than
    the 31-bit one) where standardize's plan is the same with it (z's format, every feature on the fixed shift):
    the input bits it drops are then below z's step (every ratio stays below 1, ops/standardize.py), else the one
    centred_input chooses. breast_cancer: 23 of 30 features lose an input bit (one loses two), z keeps 9 bits."""
    narrow = centred_input(X, model.mean, min(WIDE_CHOICES))
    best = centred_input(X, model.mean)
    planned = [(c, *standardize.plan(c.frac_bits, model.std, z_calib)) for c in (narrow, best)]
    (_, narrow_op, _), (_, best_op, _) = planned
    same = narrow_op.z_frac_bits == best_op.z_frac_bits and narrow_op.fixed_shift >= best_op.fixed_shift
    return planned[0] if same else planned[1]


def describe(schedule: learning_rate.Schedule) -> str:
    """The schedule as the device runs it: "2^-7", or "2^-3 then one more halving at steps 2, 6, ...". """
    if not schedule.breakpoints:
        return f"2^-{schedule.k0}"
    shown = ", ".join(str(b) for b in schedule.breakpoints[:4]) + (", ..." if len(schedule.breakpoints) > 4 else "")
    return f"2^-{schedule.k0}, halved at steps {shown} ({schedule.kind})"

