"""gaussian_jll: GaussianNB's joint log-likelihood per class,
    jll[c] = b[c] - sum_i (x[i] - theta[c][i])**2 / (2 var[c][i]),   b[c] = log prior[c] - 1/2 sum_i log(2 pi var[c][i]),
in the deviation form: the expanded quadratic b' + sum_i (a x**2 + l x) cancels catastrophically in fixed point
(large l x against a large b'), the deviation form only ever subtracts non-negative terms from b[c].

Typed forms (what templates/c/gaussian_jll.c.j2 computes, class by class, feature by feature in order):
- float32: acc = b[c]; diff = in[i] - theta[c][i]; acc = acc - coef[c][i] * (diff * diff), coef = 1/(2 var),
  each operation rounded to float32 (the C is built without FMA contraction, -ffp-contract=off).
- fixed (q15: int16 inputs, q7: int8 inputs; in_q[i] = round(x[i] 2**f[i]) - o[i] from quantize_input, o[i] the
  feature's integer offset or 0):
    dist = |in_q[i] - theta_q[c][i]|           theta_q = round(theta 2**f) - o saturated to the input type, so
                                               dist <= 2**16 - 1 (q15: uint16) or <= 2**8 - 1 (q7: uint8)
    t    = dist * dist << square_shift        q15: < 2**32, square_shift 0; q7: < 2**16 shifted up by
                                               square_shift 16 (< 2**32), which lets a q7 multiplier exceed 1
  q7 with fine class means (theta_shift 8; what quantize gives, since theta's rounding weighs as much as the
  input's: on real accelerometer features it turned one held-out row of 80, and the AVR pays ~40 % more cycles
  for the 16 x 16 squares; manifests without theta_shift keep the 8-bit means): theta_q = round(theta 2**(f+8)) -
  256 o in int16 and dist = |256 in_q[i] - theta_q| <= 65535 (uint16), t = dist * dist: the same units as
  dist**2 << 16 above (so the same multipliers), with theta's rounding 256 times finer: a class whose variance
  is a few input steps no longer loses tens of nats to its mean's rounding.
    term = capped_term(t, mult, shift, cap)    min(floor(t mult / 2**(16 + shift)), cap), uint32, no 64-bit
                                               product (mult < 2**16, shift in [SHIFT_MIN, 31]; capped_term()
                                               below shows its three branches are exact); no cap (manifests
                                               without "term_cap"): mul_u32_u16_shr, shifts >= 0
    room = constant_q[c] + 2**31               uint32 in [0, 2**32): the score biased to be unsigned
    room = term < room ? room - term : 0       saturating subtraction, for each i: room only decreases, and
                                               the sequence equals max(room_0 - sum_i term, 0) (terms >= 0)
    out[c] = room - 2**31                      int32 in [INT32_MIN, constant_q[c]]: jll[c] in Q(out_frac_bits)
  mult and shift encode w[c][i] = 2**(s - 2 f[i]) / (2 var[c][i]), the score units (2**-s) per unit of
  dist**2 (2**-2f[i]): mult = round(w 2**(16+shift-square_shift)) in [2**15, 2**16) for the smallest shift
  that allows it; a w too small for shift 31 gets shift 31 and a smaller, possibly zero, mult. A negative
  shift (only with a cap) is a near-zero variance: t is lifted left by -shift when that fits 32 bits, and
  otherwise t mult 2**-(16+shift) >= 2**31 > cap, so the term is the cap; a w beyond even SHIFT_MIN makes
  every t >= 1 exceed 2**31 and gets SHIFT_MIN with mult 2**16 - 1, which caps the same t. constant_q =
  round(b 2**s), in [INT32_MIN + 1, INT32_MAX]; a class whose prior is 0 (b = -inf, never predicted by
  scikit-learn) gets INT32_MIN: room 0, its score stays INT32_MIN.
  Overflow: none anywhere (every step above is in range for every input).

Why a cap (issue 14): a feature constant within one class gets var = var_smoothing's epsilon, so w for that
cell is ~2**30 times the others'. Without a cap the score format had to hold that term's worst case for every
input, s fell to -8 and every constant rounded to 0 (digits: float 0.80, q15 0.13). The class is decided by the
differences between class scores, and a term past the cap only says "this class is out of the running".

The cap cannot change the argmax (exact arithmetic). Let q[c][i] >= 0 be the terms, jll[c] = b[c] - sum_i
q[c][i], and the capped score jll'[c] = b[c] - sum_i min(q[c][i], T[c]) (T may differ per class; one T is
used). Let c* be the argmax of jll and B = max over live k of b[k]. Claim: if jll[c*] > max_k (b[k] - T[k])
(with one T: B - jll[c*] < T, "the row's winner gap is below the cap"), then argmax jll' = c*, strictly.
  - capping only raises scores: jll'[c] >= jll[c] for every c, so jll'[c*] >= jll[c*].
  - a class k none of whose terms reaches T[k] keeps jll'[k] = jll[k] < jll[c*] <= jll'[c*] (k != c*; with a
    tie jll[k] = jll[c*], k's index is larger, as the C's first-index rule and numpy's argmax agree).
  - a class k with some q[k][i] >= T[k]: that term contributes exactly T[k] and the others >= 0, so
    jll'[k] <= b[k] - T[k] < jll[c*] <= jll'[c*].
  Nothing else is assumed: neither the same cap for every class nor any bound on the other classes' spread.
  The cap T = term_cap 2**-s is CAP_HEADROOM times the calibration rows' largest winner gap plus
  MIN_CAP_NATS (winner_gaps()); quantize() then takes the largest s <= S_MAX at which cap <= CAP_LIMIT and no
  score can reach INT32_MIN (score_floor = min_c constant_q[c] - sum_i min(cap, largest term) > INT32_MIN,
  "saturation": "impossible"). Every calibration row is covered, and so is any other row whose winner gap is
  below T. If such an s would fall below MIN_SCORE_FRAC_BITS (a calibration row far from every class),
  s = MIN_SCORE_FRAC_BITS and the cap is the largest that keeps the floor: rows with larger gaps are not
  covered (their argmax may differ from the float model's; nothing is claimed for them).
  Without finite calibration rows there is no cap: quantize() picks the largest s (<= S_MAX) for which no
  input can reach the saturation, unless that leaves fewer than MIN_SCORE_FRAC_BITS fractional bits; then
  scores of inputs far outside the range may saturate at INT32_MIN ("saturation": "possible").

Error bound (error_bound() computes it per row; the tests hold it): for an input row x whose conversion did
not saturate (|x[i] 2**f[i]| < 2**(bits-1) - 1, finite), and a class whose score did not saturate and
none of whose terms reached the cap,
    |out[c] 2**-s - jll[c](x)| <= sum_i [ a (2 D eps + eps**2)      input and theta rounding (a = 1/(2 var),
                                                                     D = dist 2**-f, eps = |x - theta - D'| bound:
                                                                     eps = 2**-(f+1) + 2**-24 |x| + 2**-149 + |theta_q 2**-f - theta|,
                                                                     the half step of the input conversion, the
                                                                     float32 rounding of x (subnormals too), and theta's rounding)
                                        + dist**2 |mult 2**-(16+shift-square_shift) - w| 2**-s   multiplier rounding
                                        + 2**-s ]                                floor of term
                                    + |constant_q 2**-s - b|                     rounding of the constant
  since (x - theta)**2 = (D' - e)**2 with |D'| = D and |e| <= eps, |(x - theta)**2 - D**2| <= 2 D eps + eps**2.
  error_bound() uses the row's own | |x - theta| - D | where it is smaller (the same inequality with e exact,
  plus 2**-50 (|x| + |theta|) for float64's rounding): a near-zero variance (a ~ 1e12) hit exactly adds ~0.
  For a class with a capped term (term >= cap) error_bound() gives inf: min(., T) is 1-Lipschitz, but the
  SHIFT_MIN multiplier of a beyond-range w is no longer w, and only the argmax is claimed there.
  Margin (decided() checks it per row): with bound[c*] finite, out[c*] >= 2**s (jll[c*] - bound[c*]). Each
  other live class k is beaten if (a) bound[k] is finite and jll[c*] - jll[k] > bound[c*] + bound[k], then
  out[c*] > out[k]; or (b) k has a capped term: out[k] <= constant_q[k] - cap, and constant_q[k] - cap <
  2**s (jll[c*] - bound[c*]) gives out[c*] > out[k] (a saturated k is at INT32_MIN, below the unsaturated
  out[c*]). Then the C's argmax (first index of the strictly greatest) is c*, whatever the tie rule.
  predict_proba (ops/probability.py) is the softmax of these integer scores, and its proven bound is against
  exactly that softmax, so the cap leaves it intact. Against the float model's softmax: on a covered row a
  capped class has jll'[k] <= b[k] - T and the uncapped classes keep their scores, so each capped class's
  probability is below exp(B - T - jll[c*]) = exp(gap - T) in both (calibration rows: T - gap >= 64 nats).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..c_primitives import reader
from ..errors import TinygenError
from ..qparams import round_half_away
from .base import FloatOp, Op, QFormat
from .counts import Features
from .types import BITS, INT_TYPES, as_ints, check_type, float32_or_refuse, is_float

INT32_MIN, INT32_MAX = fixedpoint.int_range(32)
BIAS = 1 << 31  # room = score + BIAS
SHIFT_MAX = 31  # mul_u32_u16_shr's largest extra shift
S_MAX, S_MIN = 30, -31  # the score's frac bits are searched from S_MAX down
MIN_SCORE_FRAC_BITS = 10  # below this, trade impossible saturation for resolution (2**-10 nats)
CALIB_HEADROOM = 4.0  # calibration rows' most negative jll, times this, must fit when saturation is possible
LOWEST_F32 = float(np.finfo(np.float32).min)  # float32 stand-in for log(0): a zero-prior class never wins
SHIFT_MIN = -31  # with a term cap: a negative shift lifts t left (w >= 2**square_shift, a near-zero variance)
CAP_LIMIT = 1 << 30  # the term cap stays below 2**31, which the lifted products' overflow test relies on
CAP_HEADROOM = 4.0  # the cap: this many times the calibration rows' largest max(constant) - jll[winner] ...
MIN_CAP_NATS = 64.0  # ... plus this (a single calibration row next to the top class's mean still gets a cap)


@dataclass
class FloatGaussianJLL(FloatOp):
    """Float IR, float64: jll[c] = constant[c] - sum_i (x[i] - theta[c][i])**2 / (2 var[c][i])."""

    theta: np.ndarray  # [n_classes, n_in]
    var: np.ndarray  # [n_classes, n_in], > 0
    constant: np.ndarray  # [n_classes]: log prior - 1/2 sum_i log(2 pi var) of the estimator (-inf: prior 0)

    @property
    def n_in(self) -> int:
        return self.theta.shape[1]

    @property
    def n_out(self) -> int:
        return self.theta.shape[0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.constant[None, :] - 0.5 * np.sum((x[:, None, :] - self.theta[None]) ** 2 / self.var[None], axis=2)

    def after_affine(self, scale: np.ndarray, offset: np.ndarray) -> "FloatGaussianJLL":
        """The same jll on raw features, when a scaler maps x -> x * scale + offset before the model:
        (x * scale + offset - theta)**2 / var = (x - (theta - offset) / scale)**2 / (var / scale**2)."""
        if np.any(scale == 0) or not np.all(np.isfinite(scale)):
            raise TinygenError("a scaler in front of GaussianNB has a zero or non-finite scale; refit it")
        return FloatGaussianJLL(theta=(self.theta - offset[None, :]) / scale[None, :],
                                var=self.var / scale[None, :] ** 2, constant=self.constant.copy())

    def to_float32(self) -> "GaussianJLL":
        constant = np.where(np.isfinite(self.constant), self.constant, LOWEST_F32)
        return GaussianJLL(in_type="float32", out_type="float32", theta=float32_or_refuse(self.theta, "means"),
                           mult=float32_or_refuse(0.5 / self.var, "inverse variances (1 / (2 var))"),
                           constant=float32_or_refuse(constant, "log-likelihood constants"))


@dataclass
class GaussianJLL(Op):
    op = "gaussian_jll"
    in_type: str  # int8 | int16 | float32
    out_type: str  # int32 | float32
    theta: np.ndarray  # [n_out, n_in]: in_type values (int64) or float32
    mult: np.ndarray  # [n_out, n_in]: uint16 multipliers (int64), or float32 coef = 1/(2 var)
    constant: np.ndarray  # [n_out]: int32 constant_q (INT32_MIN: prior 0), or float32 b
    shift: np.ndarray | None = None  # [n_out, n_in]: 0..31 (fixed only)
    in_frac_bits: list[int] | None = None  # f[i] of the inputs (fixed only)
    out_frac_bits: int | None = None  # s: score = jll * 2**s
    score_floor: int | None = None  # lowest score any input can reach before saturation
    saturate: bool = False  # True when score_floor <= INT32_MIN (scores may saturate there)
    term_cap: int | None = None  # each term is min(term, term_cap) (None: uncapped, shifts >= 0)
    theta_shift: int = 0  # q7: 8 when theta holds int16 means in units of 2**-(f+8) (module doc)

    @property
    def n_in(self) -> int:
        return self.theta.shape[1]

    @property
    def n_out(self) -> int:
        return self.theta.shape[0]

    @property
    def is_float(self) -> bool:
        return is_float(self.out_type)

    @property
    def square_shift(self) -> int:
        """q7 squares (< 2**16) are shifted up by 16 before the multiply, for multipliers up to 2**16."""
        return 16 if self.in_type == "int8" else 0

    @property
    def dist_type(self) -> str:
        """|in_q - theta_q|: uint8 for int8 inputs (<= 255), uint16 for int16 inputs or fine means (<= 65535)."""
        return "uint8" if self.in_type == "int8" and not self.theta_shift else "uint16"

    @property
    def theta_type(self) -> str:
        return "int16" if self.theta_shift else self.in_type

    def distances(self, x_q: np.ndarray) -> np.ndarray:
        """[rows, n_out, n_in] dist = |x_q 2**theta_shift - theta|, in units of 2**-(f + theta_shift)."""
        return np.abs((as_ints(x_q) << self.theta_shift)[:, None, :] - self.theta[None])

    def squares(self, x_q: np.ndarray, dist: np.ndarray | None = None) -> np.ndarray:
        """[rows, n_out, n_in] t = dist**2 << square_shift in the units of the multipliers (module doc); `dist`:
        distances(x_q), when the caller has them."""
        dist = self.distances(x_q) if dist is None else dist
        return dist * dist << (self.square_shift - 2 * self.theta_shift)

    def table_bytes(self) -> dict[str, int]:
        """Bytes of each constant table the C holds for this op."""
        cells = self.theta.size
        if self.is_float:
            return {"theta": 4 * cells, "coef": 4 * cells, "constant": 4 * self.n_out}
        return {"theta": cells * BITS[self.theta_type] // 8, "mult": 2 * cells, "shift": cells, "constant": 4 * self.n_out}

    def out_format(self) -> QFormat | None:
        return None if self.is_float else QFormat(self.out_type, int(self.out_frac_bits), saturate=self.saturate)

    def cost_group(self) -> str:
        return f"gaussian_jll/{self.in_type}"

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        rows = len(values)
        counts.add_cycles(f"{group}:cells", np.full(rows, self.theta.size))
        counts.add_cycles(f"{group}:outputs", np.full(rows, self.n_out))
        if self.shift is not None:
            shift = np.asarray(self.shift, dtype=np.int64)
            right = np.maximum(shift, 0)  # a lifted cell (shift < 0) shifts 32 bits in all: the test and the lift
            counts.add_cycles(f"{group}:shift_bytes", np.full(rows, int((right // 8).sum())))
            counts.add_cycles(f"{group}:shift_bits", np.full(rows, int((right % 8).sum() + 32 * (shift < 0).sum())))

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.is_float:
            x = np.asarray(x, dtype=np.float32)
            acc = np.tile(self.constant.astype(np.float32), (x.shape[0], 1))
            with np.errstate(all="ignore"):  # IEEE float32 as in C: huge inputs overflow to inf, tiny ones to 0
                for i in range(self.n_in):  # the C's order of operations, one float32 rounding per step
                    diff = (x[:, i][:, None] - self.theta[:, i][None, :]).astype(np.float32)
                    square = (diff * diff).astype(np.float32)
                    acc = (acc - (self.mult[:, i][None, :] * square).astype(np.float32)).astype(np.float32)
            return acc
        term = self.terms(self.squares(x))
        room = self.constant + BIAS  # the C's sequential saturating subtraction equals this one clamp
        return np.maximum(room[None, :] - term.sum(axis=2), 0) - BIAS

    @property
    def lifts(self) -> bool:
        """True when some shift is negative (the C then needs the lifted branch and a signed shift table)."""
        return bool(np.any(self.shift < 0))

    def terms(self, t: np.ndarray) -> np.ndarray:
        """The terms of squares t (already shifted by square_shift): capped_term() with this op's tables."""
        return capped_term(t, self.mult[None], self.shift[None], self.term_cap)

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/gaussian_jll.c.j2 calls (tinygen/c_primitives.py)."""
        if self.is_float:
            return ("ROM", "rd_f32")
        return ("ROM", reader(self.theta_type), "rd_u16", "rd_i8" if self.lifts else "rd_u8", "rd_i32", "mul_u32_u16_shr")

    def to_dict(self) -> dict:
        data = {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "in_type": self.in_type,
                "out_type": self.out_type}
        if self.is_float:
            data.update({"theta": _floats(self.theta), "coef": _floats(self.mult),
                         "constant": [float(v) for v in self.constant],
                         "compute": "acc = constant[c]; diff = x[i] - theta[c][i]; acc = acc - coef[c][i] * (diff * diff)"})
            return data
        data.update({
            "in_frac_bits": [int(f) for f in self.in_frac_bits], "out_frac_bits": int(self.out_frac_bits),
            "score_floor": int(self.score_floor),
            "saturation": "possible: scores clamp at INT32_MIN" if self.saturate else "impossible: score_floor > INT32_MIN",
            "overflow": "impossible: dist < 2^bits, t < 2^32, term < 2^32, room in [0, 2^32)",
            "rounding": "term = floor(t * mult / 2^(16+shift)); constant rounded half away from zero",
            "compute": "room = constant[c] + 2^31; room = max(room - mul_u32_u16_shr(|x_q[i] - theta[c][i]|^2, "
                       "mult[c][i], shift[c][i]), 0) for each i; score = room - 2^31",
            "theta": _ints(self.theta), "mult": _ints(self.mult), "shift": _ints(self.shift),
            "constant": [int(v) for v in self.constant],
        })
        if self.theta_shift:
            data.update({"theta_shift": self.theta_shift, "compute": data["compute"].replace("x_q[i]", "256 x_q[i]")})
        if self.term_cap is not None:
            data.update({"term_cap": int(self.term_cap),
                         "term_saturation": "each term min(term, term_cap): the argmax equals the uncapped "
                                            "jll's for every row whose best class scores above max(constant) - "
                                            "term_cap (proof: tinygen/ops/gaussian_jll.py)"})
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GaussianJLL":
        in_type, out_type = check_type(data["in_type"]), check_type(data["out_type"])
        shape = (int(data["n_out"]), int(data["n_in"]))
        if is_float(out_type):
            return cls(in_type=in_type, out_type=out_type,
                       theta=np.asarray(data["theta"], dtype=np.float32).reshape(shape),
                       mult=np.asarray(data["coef"], dtype=np.float32).reshape(shape),
                       constant=np.asarray(data["constant"], dtype=np.float32).reshape(shape[0]))
        op = cls(in_type=in_type, out_type=out_type, theta=as_ints(data["theta"]).reshape(shape),
                 mult=as_ints(data["mult"]).reshape(shape), constant=as_ints(data["constant"]).reshape(shape[0]),
                 shift=as_ints(data["shift"]).reshape(shape), in_frac_bits=[int(f) for f in data["in_frac_bits"]],
                 out_frac_bits=int(data["out_frac_bits"]), score_floor=int(data["score_floor"]),
                 saturate=str(data.get("saturation", "")).startswith("possible"),
                 term_cap=None if data.get("term_cap") is None else int(data["term_cap"]),
                 theta_shift=int(data.get("theta_shift", 0)))
        op.check()
        return op

    def check(self) -> None:
        """The ranges the module doc's proof assumes; a damaged manifest fails here, not in the C."""
        lo, hi = fixedpoint.int_range(BITS[self.theta_type])
        ok = (self.in_type in ("int8", "int16") and self.out_type == "int32"
              and self.theta_shift in ((0, 8) if self.in_type == "int8" else (0,))
              and len(self.in_frac_bits) == self.n_in
              and np.all((self.theta >= lo) & (self.theta <= hi)) and np.all((self.mult >= 0) & (self.mult < 1 << 16))
              and np.all((self.shift >= (0 if self.term_cap is None else SHIFT_MIN)) & (self.shift <= SHIFT_MAX))
              and (self.term_cap is None or 0 <= self.term_cap <= CAP_LIMIT)
              and np.all((self.shift >= 0) | (self.mult >= 1 << 15))
              and np.all((self.constant >= INT32_MIN) & (self.constant <= INT32_MAX)))
        if not ok:
            raise TinygenError("the manifest's gaussian_jll parameters are out of range; re-export the model")


def _ints(array) -> list:
    return [[int(v) for v in row] for row in np.asarray(array)]


def _floats(array) -> list:
    return [[float(v) for v in row] for row in np.asarray(array)]


def capped_term(t, mult, shift, cap: int | None) -> np.ndarray:
    """min(floor(t mult / 2**(16 + shift)), cap) for t in [0, 2**32), mult in [0, 2**16), shift in [SHIFT_MIN, 31];
    a negative shift only with mult >= 2**15 and cap <= CAP_LIMIT. cap None: the plain product (shift >= 0).
    The C (templates/c/gaussian_jll.c.j2) takes the same three branches:
      shift >= 0:                     mul_u32_u16_shr(t, mult, shift)          < 2**32
      shift < 0, t >> (32 + shift):   cap      t >= 2**(32 + shift) and mult >= 2**15 make the exact
                                               t mult 2**-(16 + shift) >= 2**31 > cap: the min is cap
      shift < 0 otherwise:            mul_u32_u16_shr(t << -shift, mult, 0)    t << -shift < 2**32: exact
    """
    t, mult, shift = (np.asarray(v, dtype=np.int64) for v in (t, mult, shift))
    if cap is None:
        return fixedpoint.mul_u32_u16_shr(t, mult, shift)
    lifted = shift < 0
    up = np.where(lifted, -shift, 0)
    over = lifted & ((t >> (32 - up)) != 0)
    plain = fixedpoint.mul_u32_u16_shr(t, mult, np.where(lifted, 0, shift))
    small = fixedpoint.mul_u32_u16_shr(np.where(over, 0, t) << up, mult, 0)
    return np.minimum(np.where(lifted, np.where(over, cap, small), plain), cap)


def _plan(fop: FloatGaussianJLL, in_frac: np.ndarray, s: int, square_shift: int, lift: bool = False):
    """(mult, shift, constant_q) for score frac bits s, or None when a constant does not fit or (lift False)
    some w >= 2**square_shift. lift True (a term cap exists): shifts down to SHIFT_MIN; a w beyond even that
    (every t >= 1 gives >= 2**31 > cap) gets SHIFT_MIN and the largest multiplier, which caps the same t."""
    w = np.exp2(s - 2.0 * in_frac)[None, :] * (0.5 / fop.var)  # score LSBs per unit of dist**2
    mantissa, exponent = np.frexp(w)  # w = mantissa 2**exponent, mantissa in [0.5, 1)
    shift = square_shift - exponent.astype(np.int64)  # w = (mantissa 2**16) 2**-(16 + shift - square_shift)
    mult = round_half_away(mantissa * 65536.0)
    carry = mult == 1 << 16  # rounded up to 2**16: one bit less of shift
    mult, shift = np.where(carry, 1 << 15, mult), np.where(carry, shift - 1, shift)
    if np.any(shift < 0) and not lift:
        return None
    steep = shift < SHIFT_MIN
    mult, shift = np.where(steep, (1 << 16) - 1, mult), np.maximum(shift, SHIFT_MIN)
    tiny = shift > SHIFT_MAX  # w < 2**-32: the largest shift and a smaller (maybe zero) multiplier
    mult = np.where(tiny, round_half_away(np.where(tiny, w, 0.0) * 2.0 ** (16 + SHIFT_MAX - square_shift)), mult)
    shift = np.minimum(shift, SHIFT_MAX)
    live = np.isfinite(fop.constant)
    constant_q = round_half_away(np.where(live, fop.constant, 0.0) * 2.0 ** s)
    if np.any(constant_q[live] <= INT32_MIN) or np.any(constant_q[live] > INT32_MAX):
        return None
    return mult, shift, np.where(live, constant_q, INT32_MIN)


def _score_floor(plan, t_max: np.ndarray, live: np.ndarray, cap: int | None) -> int:
    """The lowest score any input can reach under `plan` (each term at its largest, capped)."""
    mult, shift, constant_q = plan
    worst = capped_term(t_max, mult, shift, cap).sum(axis=1)
    return int(np.min(np.where(live, constant_q - worst, INT32_MAX)))


def winner_gaps(fop: FloatGaussianJLL, x: np.ndarray) -> np.ndarray:
    """Per row, max(constant) - jll[winner] (nats, >= 0): a term cap above it cannot change the row's argmax."""
    live = np.isfinite(fop.constant)
    jll = fop.forward(x)[:, live]
    return np.max(fop.constant[live]) - jll.max(axis=1)


def quantize(fop: FloatGaussianJLL, in_frac_bits, in_bits: int, calib_in: np.ndarray, offsets=None,
             fine_means: bool = True) -> GaussianJLL:
    """The fixed-point op for inputs of `in_bits` bits with per-feature frac bits `in_frac_bits` (and integer
    `offsets` in those formats, subtracted from x by the input conversion: the class means take them too, so
    x_q - theta_q is unchanged; `fine_means`, q7 only: theta in int16, 8 more frac bits). With finite calibration
    rows: capped terms (module doc), the cap from the rows' winner gaps, the finest s that holds it; without: no
    cap, s from the worst case over every input."""
    if not (np.all(np.isfinite(fop.theta)) and np.all(np.isfinite(fop.var)) and np.all(fop.var > 0)):
        raise TinygenError("the GaussianNB has non-finite means or a variance <= 0; refit it (var_smoothing > 0)")
    if not np.any(np.isfinite(fop.constant)):
        raise TinygenError("every class of the GaussianNB has prior 0; refit it with priors that sum to 1")
    in_frac = np.asarray(in_frac_bits, dtype=np.int64)
    q_lo, q_hi = fixedpoint.int_range(in_bits)
    offsets_q = np.zeros(fop.n_in, dtype=np.int64) if offsets is None else np.asarray(offsets, dtype=np.int64)
    theta_shift = 8 if fine_means and in_bits == 8 else 0
    t_lo, t_hi = fixedpoint.int_range(in_bits + theta_shift)
    theta_q = np.clip(round_half_away(fop.theta * np.exp2(in_frac + theta_shift)[None, :])
                      - (offsets_q << theta_shift)[None, :], t_lo, t_hi)
    square_shift = 16 if in_bits == 8 else 0
    x_lo, x_hi = q_lo << theta_shift, q_hi << theta_shift  # the inputs, in theta's units
    t_max = np.maximum(theta_q - x_lo, x_hi - theta_q) ** 2 << (square_shift - 2 * theta_shift)  # the largest t
    live = np.isfinite(fop.constant)
    if len(calib_in):
        s, cap = _capped_format(fop, in_frac, square_shift, t_max, live, calib_in)
    else:
        s, cap = _uncapped_format(fop, in_frac, square_shift, t_max, live, calib_in), None
    mult, shift, constant_q = plan = _plan(fop, in_frac, s, square_shift, lift=cap is not None)
    floor = _score_floor(plan, t_max, live, cap)
    return GaussianJLL(in_type=INT_TYPES[in_bits], out_type="int32", theta=theta_q, mult=mult, constant=constant_q,
                       shift=shift, in_frac_bits=[int(f) for f in in_frac], out_frac_bits=s,
                       score_floor=max(floor, INT32_MIN), saturate=floor <= INT32_MIN, term_cap=cap,
                       theta_shift=theta_shift)


def _capped_format(fop, in_frac, square_shift, t_max, live, calib_in) -> tuple[int, int]:
    """(s, term_cap): the largest s at which cap = ceil(cap_nats 2**s) <= CAP_LIMIT and no score can reach
    INT32_MIN. Should that be below MIN_SCORE_FRAC_BITS (a calibration row far from every class), s is
    MIN_SCORE_FRAC_BITS and the cap the largest that still keeps every score above INT32_MIN."""
    cap_nats = CAP_HEADROOM * float(np.max(winner_gaps(fop, calib_in))) + MIN_CAP_NATS
    for s in range(S_MAX, MIN_SCORE_FRAC_BITS - 1, -1):
        plan = _plan(fop, in_frac, s, square_shift, lift=True)
        cap = int(np.ceil(cap_nats * 2.0 ** s))
        if plan is not None and cap <= CAP_LIMIT and _score_floor(plan, t_max, live, cap) > INT32_MIN:
            return s, cap
    for s in range(MIN_SCORE_FRAC_BITS, S_MIN - 1, -1):  # the largest cap that still keeps the floor
        plan = _plan(fop, in_frac, s, square_shift, lift=True)
        if plan is None:
            continue
        cap = min(CAP_LIMIT, (int(np.min(plan[2][live])) - INT32_MIN - 1) // fop.n_in)
        if cap >= 1 and _score_floor(plan, t_max, live, cap) > INT32_MIN:
            return s, cap
    raise TinygenError("the GaussianNB's constants span too wide a range for fixed point; try dtype float32")


def _uncapped_format(fop, in_frac, square_shift, t_max, live, calib_in) -> int:
    """s without a cap: the largest (<= S_MAX) at which no input at all reaches INT32_MIN, unless that leaves
    fewer than MIN_SCORE_FRAC_BITS; then MIN_SCORE_FRAC_BITS (or what the calibration rows with CALIB_HEADROOM
    allow, if lower), and scores far outside the calibration range may saturate."""
    jll = fop.forward(calib_in)[:, live] if len(calib_in) else np.zeros((0, int(live.sum())))
    calib_low = float(-np.min(jll, initial=0.0))  # the most negative jll of a live class on calibration rows
    s_full = s_fit = None
    for s in range(S_MAX, S_MIN - 1, -1):
        plan = _plan(fop, in_frac, s, square_shift)
        if plan is None:
            continue
        if s_fit is None and CALIB_HEADROOM * calib_low * 2.0 ** s < 2.0 ** 31:
            s_fit = s
        if _score_floor(plan, t_max, live, None) > INT32_MIN:
            s_full = s
            break
    if s_full is None:
        raise TinygenError("the GaussianNB's variances span too wide a range for fixed point; try dtype float32")
    # s_fit None: the calibration rows (with headroom) fit no format above s_full, so s_full it is
    return s_full if s_full >= MIN_SCORE_FRAC_BITS or s_fit is None else max(s_full, min(MIN_SCORE_FRAC_BITS, s_fit))


def error_bound(fop: FloatGaussianJLL, qop: GaussianJLL, x: np.ndarray, offsets=None) -> np.ndarray:
    """[rows, n_classes]: the proven bound (module doc) on |score 2**-s - jll| for float rows x, in nats;
    inf where an input saturated or was not finite, or the score saturated. `offsets`: the input conversion's
    (x_q and theta_q both hold value * 2**f - offset; the difference is as without). Float32 ops: None (their
    error is float32 rounding, not bounded here)."""
    x = np.asarray(x, dtype=np.float64)
    f = np.asarray(qop.in_frac_bits, dtype=np.float64)
    s = qop.out_frac_bits
    bits = BITS[qop.in_type]
    q_hi = (1 << (bits - 1)) - 1
    offsets_q = np.zeros(qop.n_in, dtype=np.int64) if offsets is None else np.asarray(offsets, dtype=np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        bad_input = ~np.isfinite(x) | (np.abs(x * np.exp2(f)[None, :] - offsets_q[None, :]) >= q_hi)
    x_q = fixedpoint.to_fixed_offset(x.astype(np.float32), qop.in_frac_bits, offsets_q, bits)  # offset 0: to_fixed
    k = qop.theta_shift  # dist in units of 2**-(f+k)
    dist = qop.distances(x_q)
    t = dist * dist * 2.0 ** (-2 * k)  # the square in units of 2**-2f, as w is
    theta_rounding = np.abs((qop.theta + (offsets_q << k)[None, :]) * np.exp2(-(f + k))[None, :] - fop.theta)
    eps = (np.exp2(-(f + 1))[None, None, :] + (2.0 ** -24 * np.abs(np.nan_to_num(x)) + 2.0 ** -149)[:, None, :]
           + theta_rounding[None])
    a = 0.5 / fop.var
    deviation = dist * np.exp2(-(f + k))[None, None, :]
    x_finite, theta = np.nan_to_num(x)[:, None, :], fop.theta[None]  # the row's own |x - theta| - D, when smaller
    actual = np.abs(np.abs(x_finite - theta) - deviation) + 2.0 ** -50 * (np.abs(x_finite) + np.abs(theta))
    eps = np.minimum(eps, actual)
    w = np.exp2(s - 2.0 * f)[None, :] * a
    w_error = np.abs(qop.mult * np.exp2(-(16.0 + qop.shift - qop.square_shift)) - w)
    live = np.isfinite(fop.constant)
    constant_error = np.where(live, np.abs(qop.constant * 2.0 ** -s - np.where(live, fop.constant, 0.0)), 0.0)
    per_term = a[None] * (2 * deviation * eps + eps ** 2) + (t * w_error[None] + 1.0) * 2.0 ** -s
    bound = per_term.sum(axis=2) + constant_error[None, :]
    terms = qop.terms(qop.squares(x_q, dist))
    saturated = (qop.constant[None, :] - terms.sum(axis=2) <= INT32_MIN) & live[None, :]
    if qop.term_cap is not None:  # a capped term: the score's error is not bounded (the argmax still is)
        saturated |= np.any(terms >= qop.term_cap, axis=2) & live[None, :]
    bound = np.where(bad_input.any(axis=1)[:, None] | saturated, np.inf, bound)
    return np.where(live[None, :], bound, 0.0)  # a zero-prior class: -inf in both, never the argmax


def decided(fop: FloatGaussianJLL, qop: GaussianJLL, x: np.ndarray, offsets=None) -> np.ndarray:
    """[rows] bool: the rows whose fixed argmax the module doc proves equal to the float jll's argmax c*:
    bound[c*] finite, and every other live class k either has a finite bound and jll[c*] - jll[k] > bound[c*] +
    bound[k], or has an infinite one (a capped term or a saturated score) and an upper score below c*'s lower:
    constant_q[k] - term_cap (INT32_MIN when uncapped) < 2**s (jll[c*] - bound[c*]). `offsets`: see error_bound."""
    bound = error_bound(fop, qop, x, offsets)
    jll = fop.forward(np.where(np.isfinite(x), x, 0.0))
    live = np.isfinite(fop.constant)
    best = np.argmax(np.where(live[None, :], jll, -np.inf), axis=1)
    rows = np.arange(len(x))
    jll_best, bound_best = jll[rows, best], bound[rows, best]
    ceiling = qop.constant - (qop.term_cap if qop.term_cap is not None else qop.constant - INT32_MIN)
    lower_best = (jll_best - bound_best) * 2.0 ** qop.out_frac_bits
    with np.errstate(invalid="ignore"):
        by_margin = jll_best[:, None] - jll > bound_best[:, None] + bound
    by_cap = ~np.isfinite(bound) & (ceiling[None, :] < lower_best[:, None])
    beaten = by_margin | by_cap | ~live[None, :] | (np.arange(qop.n_out)[None, :] == best[:, None])
    return np.isfinite(bound_best) & np.all(beaten, axis=1)
