"""trainable_dense: a linear layer whose weights live in RAM and learn on the device, one integer SGD step per
partial_fit call (docs/trainable-spec.md; the C is templates/c/trainable_dense.c.j2, the same program written twice).

State: W[j][i] int32 master weights with weight_frac_bits (WF) fractional bits, B[j] int32 bias in the accumulator
format AF = WF - 16 + ZF (ZF: the standardized input's z_frac_bits), steps and saturations (uint32).
Forward: acc_j = B[j] + sum_i (W[j][i] >> 16) z[i] (arithmetic shift: the upper int16 half; int16 x int16 products
summed in int32), the raw score of frac AF. The master weight keeps 16 bits below what the forward reads, so small
SGD steps accumulate instead of rounding away.

Overflow proof: every update clamps |W[j][i]| <= w_max 2**16 (so |W >> 16| <= w_max) and |B[j]| <= b_max, with
w_max = min(16383, floor((2**31 - 1) / (2 n_in 2**15))) and b_max = min(2**30, 2**31 - 1 - n_in w_max 2**15), so
every partial sum of the forward is at most b_max + n_in w_max 2**15 <= 2**31 - 1 in magnitude for any int16 z
(loaded weights are clamped the same way). An update never leaves int32 either: |W| <= w_max 2**16 < 2**30 and a
step is |rdbpot(g z, e)| <= 2**30 (|g|, |z| <= 2**15, e >= 0); |B| <= 2**30 and a bias step is at most 2**15.

One step, partial_fit(x, y) (t = steps + 1, k = the schedule's shift at t, ops/learning_rate.py), for each output j
with y_j = +1 (its class; binary: class 1) or -1, using the weights before this call:
  1. acc_j as above; the gradient of the loss with respect to the score, g (int16, grad_frac_bits GF):
     hinge          g = -y_j 2**GF when y_j acc <= 2**AF (y s <= 1), else 0            (GF = 14)
     perceptron     g = -y_j 2**GF when y_j acc <= 0, else 0                            (GF = 14)
     squared_hinge  g = 2 sat(rdbpot(acc, AF - GF) - y_j 2**GF, -2**14, 2**14 - 1) when y_j acc < 2**AF, else 0
     log_loss       g = rdbpot(p1 - 2**15 [y_j = +1], 1), p1 = the integer logistic of acc in Q15 (ops/probability.py)
     softmax_log_loss  (an MLP's multiclass head: one softmax over every output, not one-vs-rest)
                    g = rdbpot(p_j - 2**15 [y = j], 1), p the integer softmax of every output's acc in Q15
                    (ops/probability.py, the program's predict_proba): p_j in [0, 2**15], so |g| <= 2**14 (GF = 14)
     squared_error  g = sat16(rdbpot(acc, AF - GF) - y_g), y_g = to_fixed(y, GF) in [-2**29, 2**29)
  2. L2 (alpha = 2**-l2_shift): W[j][i] -= rdbpot(W[j][i], k + l2_shift) when k + l2_shift <= 31 (the bias is not
     decayed, as in scikit-learn)
  3. W[j][i] -= rdbpot(g z[i], GF + ZF + k - WF); B[j] -= rdbpot(g, GF + k - AF); each clamped
  then steps += 1. The quantizer caps WF so both shifts are in [0, 31] for every k of the schedule (no left shift).
Saturations counts every clamp of a weight or bias, every saturated gradient and every target that reached its limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .. import fixedpoint
from ..errors import TinygenError
from .base import Op, QFormat
from .learning_rate import Schedule
from .probability import Probability

LOSSES = ("hinge", "squared_hinge", "log_loss", "perceptron", "squared_error", "softmax_log_loss")
CLASS_GRAD_FRAC_BITS = {"hinge": 14, "perceptron": 14, "log_loss": 14, "squared_hinge": 10, "softmax_log_loss": 14}
W_MAX_LIMIT = 16383  # |W >> 16| <= 16383: |W| <= 2**30 - 2**16, so W - step stays in int32
B_MAX_LIMIT = 1 << 30
TARGET_BITS = 30  # y_g in [-2**29, 2**29): rdbpot(acc, >= 1) - y_g stays in int32
U32 = 1 << 32


def weight_limits(n_in: int) -> tuple[int, int]:
    """(w_max, b_max) of the overflow proof (module doc) for n_in inputs."""
    w_max = min(W_MAX_LIMIT, ((1 << 31) - 1) // (2 * n_in << 15))
    return w_max, min(B_MAX_LIMIT, (1 << 31) - 1 - n_in * w_max * (1 << 15))


@dataclass
class TrainState:
    """What the device keeps in RAM (NAME_train_t): weights [n_out, n_in] and bias [n_out] as int64 holding
    int32 values, steps and saturations (uint32, wrapping)."""
    weights: np.ndarray
    bias: np.ndarray
    steps: int = 0
    saturations: int = 0

    def copy(self) -> "TrainState":
        return TrainState(self.weights.copy(), self.bias.copy(), self.steps, self.saturations)


@dataclass
class TrainableDense(Op):
    op = "trainable_dense"
    trains: ClassVar[bool] = True
    loss: str
    init_weights: np.ndarray  # [n_out, n_in] int64 holding int32, frac weight_frac_bits
    init_bias: np.ndarray  # [n_out] int64 holding int32, frac acc_frac_bits
    weight_frac_bits: int
    z_frac_bits: int
    grad_frac_bits: int
    schedule: Schedule
    l2_shift: int | None = None
    sigmoid: Probability | None = None  # log_loss: the integer logistic of a score (scale 2**-acc_frac_bits)
    softmax: Probability | None = None  # softmax_log_loss: the integer softmax of the scores (the same scale)
    out_type: str = "int32"
    state: TrainState = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        self.init_weights = np.asarray(self.init_weights, dtype=np.int64).reshape(-1, self.init_weights.shape[-1])
        self.init_bias = np.asarray(self.init_bias, dtype=np.int64).reshape(-1)
        self.check()
        self.reset()

    # ---- formats and limits --------------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return self.init_weights.shape[1]

    @property
    def n_out(self) -> int:
        return self.init_weights.shape[0]

    @property
    def regression(self) -> bool:
        return self.loss == "squared_error"

    @property
    def acc_frac_bits(self) -> int:
        return self.weight_frac_bits - 16 + self.z_frac_bits

    @property
    def limits(self) -> tuple[int, int]:
        return weight_limits(self.n_in)

    @property
    def w_limit(self) -> int:
        """The clamp of a master weight: |W| <= w_max 2**16."""
        return self.limits[0] << 16

    @property
    def acc_bound(self) -> int:
        w_max, b_max = self.limits
        return b_max + self.n_in * w_max * (1 << 15)

    def weight_shift(self, k: int) -> int:
        """The right shift of g z[i] into W's format at rate 2**-k."""
        return self.grad_frac_bits + self.z_frac_bits + k - self.weight_frac_bits

    def bias_shift(self, k: int) -> int:
        return self.grad_frac_bits + k - self.acc_frac_bits

    @property
    def state_bytes(self) -> int:
        """sizeof(NAME_train_t): the weights and bias (int32) and two uint32 counters."""
        return 4 * (self.n_out * self.n_in + self.n_out) + 8

    def check(self) -> None:
        """The ranges the proof assumes (a damaged manifest fails here, not in the C)."""
        schedule, lows = self.schedule, [self.weight_shift(self.schedule.k0), self.bias_shift(self.schedule.k0)]
        highs = [self.weight_shift(schedule.max_shift), self.bias_shift(schedule.max_shift)]
        ok = (self.loss in LOSSES and self.n_in >= 1 and self.n_out >= 1 and min(lows) >= 0 and max(highs) <= 31
              and 0 <= self.acc_frac_bits <= 30 and 0 <= self.grad_frac_bits <= 14 and 0 <= self.z_frac_bits <= 15
              and np.all(np.abs(self.init_weights) <= self.w_limit) and np.all(np.abs(self.init_bias) <= self.limits[1])
              and (self.l2_shift is None or 0 <= self.l2_shift <= 31) and (self.sigmoid is not None) == (self.loss == "log_loss")
              and (self.softmax is not None) == (self.loss == "softmax_log_loss")
              and (self.softmax is None or (self.softmax.kind, self.softmax.n_out) == ("softmax", self.n_out))
              and (self.loss not in ("squared_hinge", "squared_error") or self.acc_frac_bits > self.grad_frac_bits))
        if not ok:
            raise TinygenError("the trainable layer's parameters are out of range; re-export the model")

    # ---- the state -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the exported weights (NAME_init)."""
        self.state = TrainState(self.init_weights.copy(), self.init_bias.copy())

    def weights_bytes(self, state: TrainState | None = None) -> bytes:
        """NAME_weights' NAME_WEIGHTS_BYTES bytes: the weights row-major, then the bias, int32 little-endian."""
        state = state or self.state
        return np.concatenate([state.weights.reshape(-1), state.bias]).astype("<i4").tobytes()

    def load_bytes(self, data: bytes) -> None:
        """NAME_load_weights: the weights and bias from NAME_weights' layout, each clamped to its limit (counted)."""
        expected = 4 * (self.n_out * self.n_in + self.n_out)
        if len(data) != expected:
            raise TinygenError(f"the trainable weights are {expected} bytes (NAME_WEIGHTS_BYTES), got {len(data)}")
        values = np.frombuffer(bytes(data), dtype="<i4").astype(np.int64)
        weights, bias = values[:self.n_in * self.n_out].reshape(self.n_out, self.n_in), values[self.n_in * self.n_out:]
        clamped_w, clamped_b = (np.clip(weights, -self.w_limit, self.w_limit), np.clip(bias, -self.limits[1], self.limits[1]))
        self.state.saturations = (self.state.saturations + int(np.sum(clamped_w != weights))
                                  + int(np.sum(clamped_b != bias))) % U32
        self.state.weights, self.state.bias = clamped_w, clamped_b

    # ---- the simulator -------------------------------------------------------------------------------------
    def forward(self, z: np.ndarray, state: TrainState | None = None) -> np.ndarray:
        """[rows, n_out] int64: the raw scores of the current (or the given) weights."""
        state = state or self.state
        z = np.asarray(z, dtype=np.int64)
        return state.bias[None, :] + z @ (state.weights >> 16).T  # exact: every partial sum is within acc_bound

    def gradient(self, acc: int, y: int) -> tuple[int, int]:
        """(g, saturations) for one output's score acc and its target y (+1 / -1, or y_g for squared_error)."""
        one, gf, af = 1 << self.acc_frac_bits, self.grad_frac_bits, self.acc_frac_bits
        if self.loss in ("hinge", "perceptron"):
            edge = one if self.loss == "hinge" else 0
            wrong = acc <= edge if y > 0 else acc >= -edge
            return (-y << gf if wrong else 0), 0
        if self.loss == "squared_hinge":
            if not (acc < one if y > 0 else acc > -one):
                return 0, 0
            d = int(fixedpoint.rdbpot(acc, af - gf)) - (y << gf)
            clamped = min(max(d, -(1 << 14)), (1 << 14) - 1)
            return 2 * clamped, int(clamped != d)
        if self.loss == "log_loss":
            p1 = int(self.sigmoid.forward(np.array([[acc]]))[0, 1])
            return int(fixedpoint.rdbpot(p1 - (1 << 15 if y > 0 else 0), 1)), 0
        d = int(fixedpoint.rdbpot(acc, af - gf)) - y
        clamped = min(max(d, -(1 << 15)), (1 << 15) - 1)
        return clamped, int(clamped != d)

    def gradients(self, scores: np.ndarray, target: int) -> list[tuple[int, int]]:
        """(g, saturations) of every output for one row's scores and its target (a class index, or y_g)."""
        if self.loss == "softmax_log_loss":  # every output's gradient reads every score
            p = self.softmax.forward(scores[None, :])[0]
            return [(int(fixedpoint.rdbpot(int(p[j]) - (1 << 15 if target == j else 0), 1)), 0)
                    for j in range(self.n_out)]
        if self.regression:
            return [self.gradient(int(scores[0]), target)]
        return [self.gradient(int(scores[j]), 1 if target == (j if self.n_out > 1 else 1) else -1)
                for j in range(self.n_out)]

    def targets(self, y) -> tuple[np.ndarray, int]:
        """Regression: the targets as y_g (to_fixed of the float32 value in GF, within TARGET_BITS) and how many
        reached a limit; classification: the class indices as they are."""
        if not self.regression:
            return np.asarray(y, dtype=np.int64), 0
        y_g = fixedpoint.to_fixed(np.asarray(y, dtype=np.float32), self.grad_frac_bits, TARGET_BITS)
        lo, hi = fixedpoint.int_range(TARGET_BITS)
        return y_g, int(np.sum((y_g == lo) | (y_g == hi)))

    def update(self, z_rows: np.ndarray, y, state: TrainState | None = None) -> TrainState:
        """partial_fit on rows of standardized inputs z (int16 values) with targets y (class indices, or float
        targets for squared_error), one SGD step per row in order; updates and returns the state."""
        state = state or self.state
        z_rows = np.asarray(z_rows, dtype=np.int64)
        targets, target_saturations = self.targets(y)
        for z, target in zip(z_rows, targets):
            state.saturations += self._step(state, z, int(target))
            state.steps = (state.steps + 1) % U32
        state.saturations = (state.saturations + target_saturations) % U32
        return state

    def _step(self, state: TrainState, z: np.ndarray, target: int) -> int:
        """One row's update of every output (in place); returns the saturations it counted."""
        k = self.schedule.shift((state.steps + 1) % U32)
        scores = self.forward(z[None, :], state)[0]
        counted = 0
        for j, (g, saturated) in enumerate(self.gradients(scores, target)):
            counted += saturated
            w = state.weights[j]
            if self.l2_shift is not None and k + self.l2_shift <= 31:
                w = w - fixedpoint.rdbpot(w, k + self.l2_shift)
            w = w - fixedpoint.rdbpot(g * z, self.weight_shift(k))
            b = int(state.bias[j]) - int(fixedpoint.rdbpot(g, self.bias_shift(k)))
            state.weights[j] = np.clip(w, -self.w_limit, self.w_limit)
            counted += int(np.sum(state.weights[j] != w))
            b_max = self.limits[1]
            state.bias[j] = min(max(b, -b_max), b_max)
            counted += int(state.bias[j] != b)
        return counted

    # ---- what the op states --------------------------------------------------------------------------------
    def out_format(self) -> QFormat:
        return QFormat("int32", self.acc_frac_bits)

    def out_bounds(self) -> tuple[int, int]:
        return -self.acc_bound, self.acc_bound

    def accumulator_bound(self) -> float:
        return self.acc_bound * 2.0 ** -self.acc_frac_bits

    def table_bytes(self) -> dict[str, int]:
        tables = {"init_weights": 4 * self.init_weights.size, "init_bias": 4 * self.n_out}
        if self.schedule.breakpoints:
            tables["breakpoints"] = 4 * len(self.schedule.breakpoints)
        if self.proba is not None and not self.shares_proba:  # a shared one is the program's predict_proba's table
            tables["exp2"] = 2 * len(self.proba.table)
        return tables

    @property
    def proba(self) -> Probability | None:
        """The integer logistic or softmax the gradient reads (log_loss, softmax_log_loss), else None."""
        return self.sigmoid or self.softmax

    @property
    def shares_proba(self) -> bool:
        """True when the gradient's logistic or softmax is the program's predict_proba (NAME_proba_from_scores: binary
        log_loss, softmax_log_loss); one-vs-rest log_loss carries its own logistic."""
        return self.loss == "softmax_log_loss" or (self.loss == "log_loss" and self.n_out == 1)

    def c_helpers(self) -> tuple[str, ...]:
        helpers = ["ROM", "rd_i32", "rdbpot", "rdbpot_bytes", "mul_i16_i32", "ALWAYS_INLINE", "OUT_OF_LINE"]
        if self.schedule.breakpoints:
            helpers.append("rd_u32")
        if self.proba is not None:
            helpers += self.proba.c_helpers()
        if self.regression:
            helpers.append("to_fixed")
        return tuple(helpers)

    # ---- manifest ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        w_max, b_max = self.limits
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type, "loss": self.loss,
                "weight_frac_bits": int(self.weight_frac_bits), "z_frac_bits": int(self.z_frac_bits),
                "acc_frac_bits": int(self.acc_frac_bits), "grad_frac_bits": int(self.grad_frac_bits),
                "w_max": w_max, "b_max": b_max, "acc_bound": self.acc_bound,
                "weights": self.init_weights.tolist(), "bias": self.init_bias.tolist(),
                "schedule": self.schedule.to_dict(), "l2_shift": self.l2_shift,
                **({"sigmoid": self.sigmoid.to_dict()} if self.sigmoid is not None else {}),
                **({"softmax": self.softmax.to_dict()} if self.softmax is not None else {}),
                "compute": "acc = bias + sum (weights >> 16) * z; partial_fit: tinygen/ops/trainable_dense.py"}

    @classmethod
    def from_dict(cls, data: dict) -> "TrainableDense":
        return cls(loss=str(data["loss"]), init_weights=np.asarray(data["weights"], dtype=np.int64),
                   init_bias=np.asarray(data["bias"], dtype=np.int64), weight_frac_bits=int(data["weight_frac_bits"]),
                   z_frac_bits=int(data["z_frac_bits"]), grad_frac_bits=int(data["grad_frac_bits"]),
                   schedule=Schedule.from_dict(data["schedule"]),
                   l2_shift=None if data.get("l2_shift") is None else int(data["l2_shift"]),
                   sigmoid=Probability.from_dict(data["sigmoid"]) if data.get("sigmoid") is not None else None,
                   softmax=Probability.from_dict(data["softmax"]) if data.get("softmax") is not None else None)
