"""dense: out[j] = bias[j] + sum_i weights[j][i] * in[i] — linear models, folded scalers and PCA, and
(later) MLP layers.

Typed forms (what the C in templates/c/dense.c.j2 computes, term by term in order of i):
- float32: acc = bias[j]; acc = acc + w[j][i] * in[i] for i = 0.., each operation rounded to float32
  (the C must be built without FMA contraction, -ffp-contract=off, for bit-exactness).
- fixed:   acc (acc_type) = bias_q[j]; acc += (acc_type) w_q[j][i] * (acc_type) in_q[i];
           out[j] = acc >> out_shift, saturated to out_type when `saturate`.
  Ranges: in_q in the full range of in_type (whatever the input), w_q in weight_type. quantize() picks
  weight_frac_bits so that  sum_i |w_q[j][i]| * 2**(in_bits-1) + |bias_q[j]| <= acc_bound < 2**(acc_bits-1)
  for every j; each partial sum is bounded by the same total, so no input in the representable range can
  overflow the accumulator (recorded as "acc_bound" in the manifest). bias_q already holds the rounding
  constant 2**(out_shift-1), so the final shift rounds to nearest (ties up).
- column shifts (`col_shifts`, the first layer after per-feature input formats): weights[j][i] is a mantissa and
           the term is (w_q[j][i] * in_q[i]) * 2**col_shifts[i], so each input's weights keep `weight_bits` of their own
           instead of rounding to 0 beside one input's large weights (raw features: a band energy in the thousands
           beside a crossing count). Exact integers, so the order of the sum does not change it: the C sums the
           columns of one shift together (a gathered copy of the input, most-shifted group first) and multiplies by
           the power of two between groups (Horner); each partial value is a partial sum divided by a power of two
           that divides it exactly, so |partial| <= acc_bound as well.
- row shifts (`row_shifts`, hidden layers before relu): output j is (acc[j] >> row_shifts[j]), each unit in the
           format its own calibration range needs (out_frac_bits per unit) instead of the widest unit's; the next
           dense reads them as per-input formats (with column shifts). bias[j] holds 2**(row_shifts[j]-1).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..c_primitives import reader
from ..errors import TinygenError
from ..qparams import frac_bits_for, round_half_away
from . import fully_connected
from .base import FloatOp, Op, QFormat, QuantizeStep
from .counts import Features, count_macs
from .quantize_affine import affine_params
from .types import (BITS, INT_TYPES, as_ints, check_type, float32_or_refuse, frac_bits_from_json, frac_bits_to_json,
                    int_tuple_or_none, is_float)


def _row_shifts(frac: int, shift: int, unit_max_abs, out_bits: int, n_out: int) -> np.ndarray:
    """Each output's right shift: the common `shift`, or with `unit_max_abs` the shift its own range needs (at most
    the common one: no unit's range exceeds the widest; at least 0)."""
    if unit_max_abs is None or shift == 0:
        return np.full(n_out, shift, dtype=np.int64)
    own = np.array([frac_bits_for(float(m), out_bits) for m in unit_max_abs], dtype=np.int64)
    # a unit never positive on the calibration rows keeps the common format: a format fitted to nothing would clip
    # the rows where it does fire
    return np.where(np.asarray(unit_max_abs) > 0, np.clip(frac - own, 0, shift), shift)


MAX_SHIFTED_COLUMNS = 255  # the C's column index table is uint8
TOO_WIDE = "the model's weights span too wide a range for fixed point; try dtype float32 or q31"


@dataclass
class FloatDense(FloatOp):
    """Float IR: y = x @ weights.T + bias, float64."""

    in_chain = True

    weights: np.ndarray  # [n_out, n_in]
    bias: np.ndarray  # [n_out]

    @property
    def n_in(self) -> int:
        return self.weights.shape[1]

    @property
    def n_out(self) -> int:
        return self.weights.shape[0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weights.T + self.bias

    def then(self, nxt: "FloatDense") -> "FloatDense":
        """The single dense equal to applying self, then nxt (used by the fold pass)."""
        return FloatDense(nxt.weights @ self.weights, nxt.weights @ self.bias + nxt.bias)

    def with_input_offsets(self, offsets: np.ndarray) -> "FloatDense":
        """The same function of inputs that hold x - offsets: W x + b = W (x - o) + (b + W o), in float64 on
        the host, as the scaler folding (the input conversion subtracts the offsets)."""
        return FloatDense(self.weights, self.bias + self.weights @ offsets)

    def quantize(self, step: QuantizeStep) -> "Dense | fully_connected.FullyConnected":
        """The typed layer for `step` (ops/base.py): a power-of-two Dense, or int8's FullyConnected."""
        return self._quantize_affine(step) if step.affine else self._quantize_pow2(step)

    def _quantize_pow2(self, step: QuantizeStep) -> "Dense":
        fop = self
        if not step.first and step.in_format.offset:  # the activation before holds f - offset: offset * w into the bias
            fop = FloatDense(self.weights, self.bias + self.weights.sum(axis=1) * step.in_format.offset)
        in_frac = step.in_format.frac_bits
        by_column = ("columns" in step.finer and step.first) or (not step.first and isinstance(in_frac, tuple))
        # a hidden layer: activations of `bits`, in the format its activation needs (per unit before a relu); the
        # last layer: the scores' format from its outputs on the calibration rows
        nxt, out_max_abs, units = step.next_op, None, None
        if nxt is not None:
            out_max_abs = nxt.input_max_abs(step.outputs, step.bits)
            if "units" in step.finer and nxt.per_unit_formats:
                units = [nxt.input_max_abs(step.outputs[:, [j]], step.bits) for j in range(self.n_out)]
        return quantize(fop, in_frac, step.bits, step.bits, step.acc_bits, step.out_bits, step.outputs,
                        in_range=step.in_range, out_max_abs=out_max_abs, column_shifts=by_column, unit_max_abs=units)

    def _quantize_affine(self, step: QuantizeStep) -> "fully_connected.FullyConnected":
        """TFLM's int8 layer; relu after it is fused. The first layer reads x_q of per-feature scales and zero
        points: the scales fold into the weights, the zero points into the bias."""
        relu = getattr(step.next_op, "kind", None) == "relu"
        calib = np.maximum(step.outputs, 0.0) if relu else step.outputs
        out_scale, out_zero_point = affine_params(calib.min(initial=0.0), calib.max(initial=0.0))
        fmt, act = step.in_format, "relu" if relu else "none"
        weights, bias_offset, in_scale, in_zero_point = self.weights, None, fmt.scale_value, fmt.zero_point
        if step.first:
            weights = self.weights * np.asarray(fmt.scale_value, dtype=np.float64)[None, :]
            probe = fully_connected.quantize(weights, self.bias, 1.0, 0, out_scale, out_zero_point, act)
            bias_offset = -(probe.weights @ np.asarray(fmt.zero_point, dtype=np.int64))
            in_scale, in_zero_point = 1.0, 0
        layer = fully_connected.quantize(weights, self.bias, in_scale, in_zero_point, out_scale, out_zero_point, act,
                                         bias_offset)
        # NAME_scores writes int32_t: the last layer's int8 values, widened
        return dataclasses.replace(layer, out_type="int32") if step.out_bits == 32 else layer

    def to_float32(self) -> "Dense":
        weights, bias = float32_or_refuse(self.weights, "weights"), float32_or_refuse(self.bias, "intercepts")
        return Dense(in_type="float32", weight_type="float32", acc_type="float32", out_type="float32",
                     weights=weights, bias=bias)


@dataclass
class Dense(Op):
    op = "dense"
    in_type: str
    weight_type: str
    acc_type: str
    out_type: str
    weights: np.ndarray  # [n_out, n_in]: int64 holding weight_type values, or float32
    bias: np.ndarray  # [n_out]: in accumulator units (rounding constant included), or float32
    weight_frac_bits: int | None = None  # weights' frac bits, given the input as plain integers
    out_shift: int = 0
    out_frac_bits: int | None = None  # frac bits of the outputs (real value = out * 2**-out_frac_bits)
    saturate: bool = False
    acc_bound: int | None = None  # proven max |accumulator| over every representable input
    in_range: tuple[int, int] | None = None  # the input integers' (lo, hi) when narrower than in_type (MLP layers)
    col_shifts: tuple[int, ...] | None = None  # per input: the term w * in is multiplied by 2**col_shifts[i]
    row_shifts: tuple[int, ...] | None = None  # per output: its own right shift (out_shift is then their largest)

    @property
    def shifts(self) -> np.ndarray:
        """The right shift of each output (int64)."""
        if self.row_shifts is not None:
            return np.asarray(self.row_shifts, dtype=np.int64)
        return np.full(self.n_out, self.out_shift, dtype=np.int64)

    @property
    def scaled_weights(self) -> np.ndarray:
        """The weights with their column shifts applied: the integers the accumulator sums (int64, exact)."""
        if self.col_shifts is None:
            return self.weights
        return self.weights * np.left_shift(1, np.asarray(self.col_shifts, dtype=np.int64))[None, :]

    @property
    def column_order(self) -> list[int]:
        """The inputs in the order the C sums them with column shifts: by shift, largest first (stable)."""
        return sorted(range(self.n_in), key=lambda i: -self.col_shifts[i])

    @property
    def column_groups(self) -> list[tuple[int, int, int]]:
        """(start, count, factor) per group of equal column shift in column_order: after summing a group, the C
        multiplies the accumulator by `factor`, 2**(this shift - the next group's shift; the last: its shift)."""
        shifts = [self.col_shifts[i] for i in self.column_order]
        groups, start = [], 0
        for k in range(1, len(shifts) + 1):
            if k == len(shifts) or shifts[k] != shifts[start]:
                following = shifts[k] if k < len(shifts) else 0
                groups.append((start, k - start, 1 << (shifts[start] - following)))
                start = k
        return groups

    @property
    def n_in(self) -> int:
        return self.weights.shape[1]

    @property
    def n_out(self) -> int:
        return self.weights.shape[0]

    @property
    def is_float(self) -> bool:
        return is_float(self.acc_type)

    @property
    def product_type(self) -> str:
        """The narrowest integer type that holds every weight * input product (int8 x int8 -> int16 lets
        AVR use its 8-bit MULS instead of a 32-bit multiply routine)."""
        return INT_TYPES[min(bits for bits in (16, 32, 64) if bits >= BITS[self.weight_type] + BITS[self.in_type])]

    @property
    def mac_pairs(self) -> bool:
        """int8 x int8 layers of at most 255 inputs compute two rows at once in C (NAME_mac2_i8 loads each
        input byte once for both); their weights are stored in c_weights' order."""
        return (not self.is_float and self.weight_type == "int8" and self.in_type == "int8" and self.n_in <= 255
                and self.n_out >= 2 and self.col_shifts is None)

    @property
    def shift_up(self) -> int:
        """The C shifts the accumulator right by out_shift; when out_shift % 8 >= 5 and acc_bound leaves room,
        it writes (acc * 2**up) >> (out_shift + up) instead, up = 8 - out_shift % 8: the same value (no
        overflow by the bound), and AVR shifts whole bytes by moves but single bits by a loop."""
        rest = self.out_shift % 8
        if self.is_float or self.row_shifts is not None or self.acc_type != "int32" or rest < 5 or (self.acc_bound or 0) << (8 - rest) >= 1 << 31:
            return 0
        return 8 - rest

    def c_weights(self) -> np.ndarray:
        """The weights, flat, in the order the C reads them: rows 2k and 2k+1 interleaved element by element when
        mac_pairs (an odd last row stays as it is), else row by row. Only the storage order changes."""
        if self.col_shifts is not None:
            return self.weights[:, self.column_order].reshape(-1)
        if not self.mac_pairs:
            return self.weights.reshape(-1)
        paired = self.n_out - self.n_out % 2
        pairs = self.weights[:paired].reshape(paired // 2, 2, self.n_in).transpose(0, 2, 1).reshape(-1)
        return np.concatenate([pairs, self.weights[paired:].reshape(-1)])

    def table_bytes(self) -> dict[str, int]:
        """Bytes of each constant table the C holds for this op."""
        tables = {"weights": self.weights.size * BITS[self.weight_type] // 8, "bias": self.n_out * BITS[self.acc_type] // 8}
        if self.col_shifts is not None:
            tables["columns"] = self.n_in  # uint8 input indexes in column_order
        if self.row_shifts is not None:
            tables["shifts"] = self.n_out  # uint8
        return tables

    def out_format(self) -> QFormat | None:
        if self.is_float or self.out_frac_bits is None:
            return None
        return QFormat(self.out_type, self.out_frac_bits, rounding="floor", saturate=self.saturate)

    def accumulator_bound(self) -> float | None:
        if self.acc_bound is None or self.weight_frac_bits is None:
            return None
        return self.acc_bound * 2.0 ** -self.weight_frac_bits  # acc = 2^weight_frac_bits * (w . x + b)

    def out_bounds(self) -> tuple[int, int] | None:
        """|acc| <= acc_bound, shifted right (floor) by the smallest output shift, saturated where the op saturates."""
        if self.is_float or self.acc_bound is None:
            return None
        shift = int(self.shifts.min(initial=0))
        lo, hi = -((self.acc_bound + (1 << shift) - 1) >> shift), self.acc_bound >> shift
        if self.saturate:
            type_lo, type_hi = fixedpoint.int_range(BITS[self.out_type])
            lo, hi = max(lo, type_lo), min(hi, type_hi)
        return lo, hi

    def cost_group(self) -> str:  # layers of two rows per pass (mac2_i8) cost differently from one row per pass
        if self.is_float:
            return "dense/float32"
        return f"dense/{self.weight_type}x{self.in_type}/{self.acc_type}{'/pairs' if self.mac_pairs else ''}"

    @property
    def shift_bits(self) -> int:
        """Single-bit shift steps of the output shift per output (templates/c/dense.c.j2): whole bytes are
        register moves; the rest is a bit loop, or `shift_up` left steps when the C shifts up first."""
        return self.shift_up or self.out_shift % 8

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        rows = len(values)
        count_macs(self, values, group, counts, float_zeros=self.is_float)
        if self.is_float:
            return
        if self.row_shifts is None:  # whole bytes are moves; what is left is a bit loop
            counts.add_cycles(f"{group}:shift_bits", np.full(rows, self.n_out * self.shift_bits))
        else:  # shifts read from a table: a loop step per bit
            counts.add_cycles(f"{group}:row_shift_bits", np.full(rows, sum(self.row_shifts)))
        if self.col_shifts is not None:  # the gathered copy of the input; a MAC call and a multiply per group
            counts.add_cycles(f"{group}:gathered_inputs", np.full(rows, self.n_in))
            counts.add_cycles(f"{group}:column_groups", np.full(rows, self.n_out * len(self.column_groups)))
            counts.add_flash(f"{group}:column_groups", len(self.column_groups))
            counts.add_stack(f"{group}:gathered_bytes", self.n_in * BITS[self.in_type] // 8)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.is_float:
            x = x.astype(np.float32)
            acc = np.tile(self.bias.astype(np.float32), (x.shape[0], 1))
            with np.errstate(all="ignore"):  # IEEE float32 as in C: inf/NaN inputs give inf/NaN, tiny products 0
                for i in range(self.n_in):  # the C's order of operations, one float32 rounding per step
                    acc = (acc + (self.weights[:, i][None, :] * x[:, i][:, None]).astype(np.float32)).astype(np.float32)
            return acc
        acc = as_ints(x) @ self.scaled_weights.T + self.bias  # exact: int64 never overflows (see acc_bound)
        if self.acc_bound is not None and acc.size and int(np.abs(acc).max()) > self.acc_bound:
            raise AssertionError("dense accumulator beyond its proven bound: the range analysis is wrong")
        out = fixedpoint.shift_right(acc, self.shifts[None, :])
        return fixedpoint.saturate(out, BITS[self.out_type]) if self.saturate else out

    def to_dict(self) -> dict:
        data = {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "in_type": self.in_type,
                "weight_type": self.weight_type, "acc_type": self.acc_type, "out_type": self.out_type}
        if self.is_float:
            data["weights"] = [[float(v) for v in row] for row in self.weights]
            data["bias"] = [float(v) for v in self.bias]
            return data
        data.update({
            "weight_frac_bits": self.weight_frac_bits, "out_shift": self.out_shift,
            "out_frac_bits": frac_bits_to_json(self.out_frac_bits), "saturate": self.saturate, "acc_bound": self.acc_bound,
            "acc_limit": (1 << (BITS[self.acc_type] - 1)) - 1,
            "overflow": "impossible: sum|w|*2^(in_bits-1)+|bias| <= acc_bound <= acc_limit" if self.in_range is None else
                        "impossible: |bias + sum_i w*in| <= acc_bound <= acc_limit for in in in_range",
            "rounding": "bias holds 2^(out_shift-1); shift is arithmetic" if self.out_shift else "none (shift 0)",
            "weights": [[int(v) for v in row] for row in self.weights],
            "bias": [int(v) for v in self.bias],
        })
        if self.in_range is not None:
            data["in_range"] = [int(v) for v in self.in_range]
        if self.col_shifts is not None:
            data["col_shifts"] = [int(v) for v in self.col_shifts]
            data["overflow"] += " (terms w * in * 2^col_shifts[i])"
        if self.row_shifts is not None:
            data.update({"row_shifts": [int(v) for v in self.row_shifts],
                         "rounding": "bias[j] holds 2^(row_shifts[j]-1) where row_shifts[j] > 0; shift is arithmetic"})
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Dense":
        types = {k: check_type(data[k]) for k in ("in_type", "weight_type", "acc_type", "out_type")}
        if is_float(types["acc_type"]):
            return cls(**types, weights=np.asarray(data["weights"], dtype=np.float32).reshape(data["n_out"], data["n_in"]),
                       bias=np.asarray(data["bias"], dtype=np.float32))
        return cls(**types, weights=as_ints(data["weights"]).reshape(data["n_out"], data["n_in"]),
                   bias=as_ints(data["bias"]), weight_frac_bits=int(data["weight_frac_bits"]),
                   out_shift=int(data["out_shift"]), out_frac_bits=frac_bits_from_json(data["out_frac_bits"]),
                   saturate=bool(data["saturate"]), acc_bound=int(data["acc_bound"]),
                   in_range=int_tuple_or_none(data, "in_range"), col_shifts=int_tuple_or_none(data, "col_shifts"),
                   row_shifts=int_tuple_or_none(data, "row_shifts"))

    # ---- the C (templates/c/dense.c.j2) --------------------------------------------------------------------
    @property
    def mac_kernel(self) -> str | None:
        """The MAC primitive for this layer's types (at most 255 MACs a call), or None: a plain loop."""
        if self.is_float:
            return None
        if self.weight_type == self.in_type == "int8" and self.acc_type in ("int16", "int32"):
            return "mac_i8_i16" if self.acc_type == "int16" else "mac_i8_i32"
        if self.weight_type == self.in_type == "int16" and self.acc_type == "int32":
            return "mac_i16_i32"
        return None

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros the template calls (tinygen/c_primitives.py)."""
        if self.is_float:
            return ("ROM", "rd_f32")
        helpers = ["ROM", reader(self.acc_type)]
        if self.mac_pairs:
            helpers.append("mac2_i8")
        if self.mac_kernel is None:
            helpers.append(reader(self.weight_type))
        elif not self.mac_pairs or self.n_out % 2:  # pairs: the kernel computes an odd last row
            helpers.append(self.mac_kernel)
        if self.col_shifts is not None or self.row_shifts is not None:
            helpers.append("rd_u8")  # the column order, the row shifts
        if self.saturate:
            helpers.append("sat_i64" if self.acc_type == "int64" else "sat_i32")
        return tuple(helpers)


def quantize(fop: FloatDense, in_frac_bits, in_bits: int, weight_bits: int, acc_bits_choices: tuple[int, ...],
             out_bits: int, calib_out: np.ndarray, in_range: tuple[int, int] | None = None,
             out_max_abs: float | None = None, column_shifts: bool = False,
             unit_max_abs: np.ndarray | None = None) -> Dense:
    """Fixed-point dense for an input whose element i has frac bits in_frac_bits[i] (scalar or per feature).

    The per-input scales fold into the weights (w_eff[j][i] = w[j][i] * 2**-in_frac_bits[i]) so the op
    works on the input integers directly. weight_frac_bits is the largest value for which every weight
    fits weight_bits and the accumulator bound holds; the first accumulator width in acc_bits_choices that
    holds the full-precision weights is taken, else the last one with fewer weight bits. `calib_out`
    (float outputs on the calibration data) sets the output format when the output is narrower than the
    accumulator. With `column_shifts`, each input's weights get the most frac bits their own column allows
    (col_shifts: see the module docstring), the accumulator's frac bits (weight_frac_bits) as many as its bound
    leaves room for; the plain format is the case of all shifts 0, taken when no shift fits. With `unit_max_abs`
    (per output, the |value| its format must hold; outputs narrower than the accumulator), each output gets its own
    right shift (row_shifts), never more than the common one.
    """
    if not np.all(np.isfinite(fop.weights)) or not np.all(np.isfinite(fop.bias)):
        raise TinygenError("the model has non-finite weights or intercepts; refit it on finite data")
    in_frac = np.broadcast_to(np.asarray(in_frac_bits, dtype=np.float64), (fop.n_in,))
    with np.errstate(over="ignore"):  # huge weights on inputs of a tiny format: beyond float64 is beyond reach
        w_eff = fop.weights * np.exp2(-in_frac)[None, :]
    if not np.all(np.isfinite(w_eff)):
        raise TinygenError(TOO_WIDE)
    finite_calib = calib_out[np.isfinite(calib_out)] if calib_out.size else calib_out
    out_abs = 2.0 * float(np.abs(finite_calib).max(initial=0.0)) if out_max_abs is None else float(out_max_abs)
    fit = _Fit(fop, w_eff, in_bits, weight_bits, out_bits, out_abs, in_range, unit_max_abs)
    start = frac_bits_for(float(np.abs(w_eff).max(initial=0.0)), weight_bits)
    if column_shifts and 0 < fop.n_in <= MAX_SHIFTED_COLUMNS and fit.col_max.any() and max(acc_bits_choices) <= 32:
        for frac in range(int(fit.col_frac[fit.col_max > 0].max()), start, -1):  # at `start` every shift is 0
            for acc_bits in acc_bits_choices:
                found = fit.attempt(frac, acc_bits, by_column=True)
                if found is not None:
                    return found
    for acc_bits in acc_bits_choices:
        found = fit.attempt(start, acc_bits)
        if found is not None:
            return found
    for frac in range(start - 1, fixedpoint.FRAC_BITS_MIN - 1, -1):
        found = fit.attempt(frac, acc_bits_choices[-1])
        if found is not None:
            return found
    raise TinygenError(TOO_WIDE)


@dataclass
class _Fit:
    """One dense layer's quantization problem: attempt() gives the Dense for accumulator frac bits `frac` in an
    `acc_bits` accumulator (with column shifts or not), or None where a weight, the bias or the bound does not fit."""

    fop: FloatDense
    w_eff: np.ndarray  # the weights per input integer
    in_bits: int
    weight_bits: int
    out_bits: int
    out_abs: float  # the |output| the common output format must hold
    in_range: tuple[int, int] | None
    unit_max_abs: np.ndarray | None

    def __post_init__(self):
        self.col_max = np.abs(self.w_eff).max(axis=0, initial=0.0)
        self.col_frac = np.array([frac_bits_for(float(m), self.weight_bits) for m in self.col_max],
                                 dtype=np.int64)
        if self.in_range is not None:
            self.in_range = (min(int(self.in_range[0]), 0), max(int(self.in_range[1]), 0))

    def attempt(self, frac: int, acc_bits: int, by_column: bool = False) -> Dense | None:
        shifts = np.where(self.col_max > 0, frac - np.minimum(self.col_frac, frac), 0) if by_column \
            else np.zeros(self.fop.n_in, np.int64)
        if shifts.max(initial=0) > acc_bits - 2:
            return None  # a shifted weight alone would not fit the accumulator (and int64 must hold every term)
        w_mantissas = round_half_away(self.w_eff * np.exp2(frac - shifts)[None, :])
        w_lo, w_hi = fixedpoint.int_range(self.weight_bits)
        if w_mantissas.size and (w_mantissas.min() < w_lo or w_mantissas.max() > w_hi):
            return None
        w_q = w_mantissas * np.left_shift(1, shifts)[None, :]  # the integers the accumulator sums
        # keep the calibration range with one bit of headroom; beyond it the output saturates
        shift = 0 if self.out_bits >= acc_bits else max(0, frac - frac_bits_for(self.out_abs, self.out_bits))
        with np.errstate(over="ignore"):
            bias_scaled = self.fop.bias * np.exp2(frac)
        if shift > acc_bits - 2 or np.any(np.abs(bias_scaled) >= 2.0 ** (acc_bits - 1)):
            return None  # the bias alone, or the rounding constant, would not fit the accumulator: fewer frac bits
        rows = _row_shifts(frac, shift, self.unit_max_abs, self.out_bits, self.fop.n_out)
        b_q = round_half_away(bias_scaled) + np.where(rows > 0, np.left_shift(1, np.maximum(rows - 1, 0)), 0)
        row_bound = self._row_bounds(w_q, b_q)
        bound = max(row_bound, default=0)
        if bound > (1 << (acc_bits - 1)) - 1:
            return None
        out_lo, out_hi = fixedpoint.int_range(self.out_bits)
        needs_saturation = any(b >> int(r) > out_hi or -(b >> int(r)) - 1 < out_lo for b, r in zip(row_bound, rows))
        per_unit = bool(np.any(rows != shift))
        return Dense(in_type=INT_TYPES[self.in_bits], weight_type=INT_TYPES[self.weight_bits],
                     acc_type=INT_TYPES[acc_bits], out_type=INT_TYPES[self.out_bits], weights=w_mantissas, bias=b_q,
                     weight_frac_bits=frac, out_shift=shift,
                     out_frac_bits=tuple(int(frac - r) for r in rows) if per_unit else frac - shift,
                     saturate=needs_saturation, acc_bound=bound, in_range=self.in_range,
                     col_shifts=tuple(int(v) for v in shifts) if shifts.any() else None,
                     row_shifts=tuple(int(r) for r in rows) if per_unit else None)

    def _row_bounds(self, w_q: np.ndarray, b_q: np.ndarray) -> list[int]:
        """Per output, the largest |accumulator| any input can give (Python ints: q31's sum|w| 2^31 is beyond int64)."""
        if self.in_range is None:
            in_mag = 1 << (self.in_bits - 1)
            return [int(np.abs(w_q[j]).sum()) * in_mag + abs(int(b_q[j])) for j in range(self.fop.n_out)]
        in_lo, in_hi = self.in_range
        top = b_q + np.maximum(w_q * in_lo, w_q * in_hi).sum(axis=1)
        bottom = b_q + np.minimum(w_q * in_lo, w_q * in_hi).sum(axis=1)
        return [int(v) for v in np.maximum(np.abs(top), np.abs(bottom))]
